"""Prometheus's HTTP API under ``/api/v1``, one module per group, each with its own ``router``:
remote write (``write``), OTLP/HTTP metrics (``otlp``) and metric metadata (``metadata``);
``responses`` holds Prometheus's JSON envelope and error types. Handlers decode, authorize and
call ``MetricService``; they import the metrics domain's public surface, ``nephoscope.auth`` and
the rest of ``nephoscope.api``.
"""
