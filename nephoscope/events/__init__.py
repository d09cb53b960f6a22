"""OpenStack notifications: the RabbitMQ consumer and its worker processes, envelope parsing, the
event catalog and its traits, failure summaries, the events store and the metrics of lifecycle
events (docs/events.md draws the path a notification takes through the modules).

It may import, outside itself: ``nephoscope.config``, ``nephoscope.tables``, ``nephoscope.retry``,
``nephoscope.periodic``, ``nephoscope.logsetup``, ``nephoscope.tenancy`` (the tenant scope) and of the
metrics domain ``nephoscope.metrics.service`` and ``nephoscope.metrics.summary_rows`` (where lifecycle
metrics go). Nothing else of nephoscope: the API (and logs, for failure summaries) import events,
never the reverse.
"""
