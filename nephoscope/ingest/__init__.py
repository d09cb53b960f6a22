"""Wire formats to validated columnar batches.

Owns: reading request bodies within limits (``bodies``), Monasca's name and
dimension rules (``rules``), the Monasca v2.0 JSON decoder (``monasca``) and the
native columnar decoder (``native``). Decoders produce ``model.IngestBatch``
objects; they never write anything. Imports ``model`` and ``store.series``.
"""
