"""Prometheus's HTTP API, under ``/api/v1``: what Grafana, Aodh, Watcher and
python-observabilityclient call (the Keystone service type ``metric-storage``).

One module per group of endpoints, each with its own ``router``: ``query`` (instant and range
queries), ``series`` (series, label names and values), ``status`` (build and runtime information,
targets, query formatting). ``params`` parses Prometheus's parameters (times, durations,
``match[]``, form bodies) and ``responses`` writes its envelopes and errors. Handlers decode,
authorize and call the metrics domain (``nephoscope.metrics.promql``); they may import
``nephoscope.api``, ``nephoscope.auth``, ``nephoscope.metrics`` and ``nephoscope.server``.
"""
