"""Metric wire formats to validated columnar batches.

Owns: Monasca's name, dimension and value_meta rules (``validation``), the accepted time
window (``timewindow``), the per-tenant cache of known series (``seriescache``), the
Monasca v2.0 JSON decoder (``monasca``), the native columnar decoder (``native``), and the
Prometheus world: label sets to series (``promlabels``), remote write 1.0 and 2.0
(``remote_write``, with the protobuf modules in ``proto/``), OTLP metrics (``otlp``) and the
OpenTelemetry-to-Prometheus names (``otel_names``).
Decoders produce ``metrics.series.IngestBatch`` objects; they never write anything.
Imports ``nephoscope.errors``, ``nephoscope.config`` (settings), ``nephoscope.metrics.series``
and ``nephoscope.metrics.metadata`` (the metadata record); not the store.
"""
