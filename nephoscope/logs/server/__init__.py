"""The server's side of logs: ``service.LogService`` (the one way in the API and the listeners use:
pipeline, store, derived metrics, failures, the periodic save of the templates), ``store`` (log
records on disk, read through DuckDB), ``syslog`` (the TCP and UDP listeners), and what turns
records into other domains' rows: ``derived_metrics`` (points for the metric service) and
``failure_rows`` (failure summaries for the events store), and ``wire`` (Monasca's and the native
log request bodies to lines grouped by source).

May import the processing library (``nephoscope.logs.processing``), ``config``, ``errors``,
``periodic``, ``tables``, ``tenancy``, the metrics domain's series and service, and
``events.failures``; the processing library and the commands never import this package.
"""
