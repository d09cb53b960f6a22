"""The metrics domain: series, their points, and how they are written and read.

Owns: the series model (``series``: ids, point batches), the exact summary arithmetic
(``summary``), the wire formats to validated batches (``ingest/``), the metric store
(``store/``: the interface, the embedded implementation and the cluster store), the Monasca
query semantics (``query``) and ``MetricService`` (``service``), the one object the API and
the other domains talk to. Imports ``nephoscope.config``, ``nephoscope.errors``,
``nephoscope.tenancy``, ``nephoscope.sql`` (metric metadata, in the metadata database) and (the
cluster store's partition leases) ``nephoscope.cluster``; never the API, the other domains, or the agent.
"""
