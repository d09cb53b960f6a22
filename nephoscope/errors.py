"""Requests the server refuses: the status to answer, what was wrong, and which field.

Raised by the domains' decoders and validators (metrics, logs, events, alarms) and by the
services when they are overloaded; the API turns each into an error answer. Imports nothing
of nephoscope.
"""

from __future__ import annotations

import difflib


class Rejected(Exception):
    """``status`` is the HTTP answer; ``field`` names the offending field, with its index."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def invalid(field: str, reason: str) -> Rejected:
    return Rejected(422, f"{field}: {reason}", field)


def malformed(reason: str) -> Rejected:
    return Rejected(400, reason)


def unknown_names(kind: str, given: object, known: object) -> str | None:
    """The message for names a request (or a file) used that nobody reads, or None when all are known:
    ``unknown field 'sevrity' (did you mean 'severity'?); known fields: description, name, severity``.

    A typo is worse than an error: the request would succeed and do something else (a LOW definition
    instead of a HIGH one, an unfiltered search), so every reader of names refuses what it does not know.
    """
    known = sorted(set(known))  # type: ignore[arg-type]
    unknown = [name for name in dict.fromkeys(given) if name not in known]  # type: ignore[call-overload]
    if not unknown:
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6) or _SYNONYMS.get(str(name).lower(), [])
        close = [c for c in close if c in known]
        parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown {kind}{plural} {', '.join(parts)}; known {kind}s: {', '.join(known) or 'none'}"


# Words people reach for that a close spelling would not find.
_SYNONYMS = {
    "since": ["start_time"], "from": ["start_time"], "after": ["start_time"], "start": ["start_time"],
    "begin": ["start_time"], "until": ["end_time"], "to": ["end_time"], "before": ["end_time"],
    "end": ["end_time"], "project": ["tenant_id"], "project_id": ["tenant_id"], "tenant": ["tenant_id"],
    "text": ["q"], "query": ["q"], "search": ["q"], "grep": ["q"], "type": ["event_type"],
    "page_size": ["limit"], "size": ["limit"], "count": ["limit"], "marker": ["offset"], "page": ["offset"],
    "instance": ["resource_id"], "instance_id": ["resource_id"], "uuid": ["resource_id"],
    "req": ["request_id"], "global_request_id": ["request_id"], "hostname": ["host"],
    "severity_level": ["level"], "loglevel": ["level"], "log_level": ["level"],
}
