"""The tamper-evident audit trail: who changed what, which actions the server executed, which
requests it refused — as CADF events, each chained to the one before by SHA-256.

Owns: building CADF events with pycadf and reading any CADF event (``cadf``), the hash chain
(``chain``) and its verification (``verify``), the storage seam and the embedded store
``audit.sqlite`` (``store``), the coalescing of refused requests (``refusals``), the audit view
that pages Nephoscope's records beside OpenStack's CADF notifications (``view``, ``openstack``),
the ``AuditTrail`` service (``service``) and the ``nephoscope audit`` commands (``command``).

Imports, outside itself: ``nephoscope.config``, ``nephoscope.tenancy``, ``nephoscope.sql`` (the metadata database)
and, of the events domain, its store and envelope parsing (where OpenStack's notifications are
kept). Never the API, the server or the other domains: they import the audit trail (the
notification worker records deliveries; the API records changes and refusals). See docs/audit.md.
"""

from nephoscope.audit.cadf import (
    ALARM,
    ALARM_DEFINITION,
    API,
    API_KEY,
    DELIVERY,
    DENIED,
    FAILURE,
    NOTIFICATION_METHOD,
    NOTIFY,
    OUTCOMES,
    REVOKE,
    SERVER,
    SUCCESS,
    UNKNOWN,
    Entry,
    Initiator,
    Reason,
    Target,
)
from nephoscope.audit.refusals import Refusal
from nephoscope.audit.service import AuditPage, AuditTrail
from nephoscope.audit.store import AuditFileMissing, AuditStorage, RecordFilter, SqliteAuditStorage
from nephoscope.audit.view import SOURCES, AuditEntry, AuditQuery, InvalidToken

__all__ = ["ALARM", "ALARM_DEFINITION", "API", "API_KEY", "DELIVERY", "DENIED", "FAILURE", "NOTIFICATION_METHOD",
           "NOTIFY", "OUTCOMES", "REVOKE", "SERVER", "SOURCES", "SUCCESS", "UNKNOWN", "AuditEntry",
           "AuditFileMissing", "AuditPage", "AuditQuery", "AuditStorage", "AuditTrail", "Entry", "Initiator",
           "InvalidToken", "Reason", "RecordFilter", "Refusal", "SqliteAuditStorage", "Target"]
