"""The HTTP surface: Monasca v2.0 under ``/v2.0`` and the native API under ``/v1``.

Handlers are thin: they decode parameters, authorize, call ``store``/``ingest``
and shape the answer. Monasca's wire details (error bodies, links, paging,
timestamps) live in ``monasca/``; shared plumbing in ``errors``, ``security``
and ``responses``.
"""
