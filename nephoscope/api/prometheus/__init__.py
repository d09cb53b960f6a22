"""Prometheus's HTTP API under ``/api/v1``: what Prometheus servers, OpenTelemetry exporters,
Grafana, Aodh, Watcher and python-observabilityclient speak (the Keystone service type
``metric-storage``).

One module per group of endpoints, each with its own ``router``: remote write (``write``),
OTLP/HTTP metrics (``otlp``), metric metadata (``metadata``), instant and range queries
(``query``), series, label names and values (``series``), build and runtime information,
targets and query formatting (``status``). ``params`` parses Prometheus's query parameters
(times, durations, ``match[]``, form bodies); ``responses`` holds Prometheus's JSON envelope and
error types. Handlers decode, authorize and call the metrics domain (``MetricService``,
``nephoscope.metrics.promql``); they import the metrics domain's public surface,
``nephoscope.auth``, ``nephoscope.server`` and the rest of ``nephoscope.api``.
"""
