"""The server's side of logs: ``service.LogService`` (the one way in the API and the listeners use:
pipeline, store, derived metrics, failures, the periodic save of the templates), ``store`` (log
records on disk, read through DuckDB), ``syslog`` (the TCP and UDP listeners), and what turns
records into other domains' rows: ``derived_metrics`` (points for the metric store) and
``failure_rows`` (failure summaries for the events store).

May import the processing library (``nephoscope.logs.processing``), ``config``, ``periodic``,
``tables``, the metric model and store, and ``events.failures``; the processing library and the
commands never import this package.
"""
