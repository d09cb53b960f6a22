"""Wiring: the objects the server builds at start-up and the work it runs beside the API.

Owns ``services`` (the typed container of the metric, alarm, notification, event and log
services, the key store, the audit trail and the authenticator: built, started and closed in one
place, for the roles this node runs), ``cluster_roles`` (the clustered alarm roles of a node of a
cluster: partials on ingesters, evaluators, notifiers) and ``background`` (the periodic and listening tasks: derived metrics, self-metrics, the
audit trail's refusal records, the syslog listener, the demo cloud). May import every domain package; the API imports it for the
container's type, no domain imports it.
"""
