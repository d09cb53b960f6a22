"""The server's own metrics (``nephoscope.*`` of project ``admin``): ingest rate, rejected
requests, queue depths, store size, request latency.

``requests`` times every HTTP request (a pure ASGI middleware); ``collector`` samples the
services' figures and records them through the ``MetricService`` like any other metric, so
they can be queried, charted and alarmed on. Imports ``nephoscope.metrics`` only.
"""
