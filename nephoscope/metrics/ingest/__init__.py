"""Metric wire formats to validated columnar batches.

Owns: Monasca's name, dimension and value_meta rules (``validation``), the accepted time
window (``timewindow``), the per-tenant cache of known series (``seriescache``), the
Monasca v2.0 JSON decoder (``monasca``) and the native columnar decoder (``native``).
Decoders produce ``metrics.series.IngestBatch`` objects; they never write anything.
Imports ``nephoscope.errors`` and ``nephoscope.metrics.series``; not the store.
"""
