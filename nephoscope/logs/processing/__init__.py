"""The log processing library: every service's lines to one normalized, templated, classified record.

Owns the parsers (oslo.log text and JSON, WSGI and httpd access lines, syslog envelopes,
multi-line tracebacks), the normalized record schema, online template mining, the classification
rules (``rules``, shipped ones in ``rules/default.yaml``), the hygiene report, traces and
scheduling explanations, and the accuracy measure of template mining.

A pure library: no HTTP, no storage, no server. It may import numpy, pyarrow, msgspec, yaml and
``nephoscope.formats`` (oslo.log's grammar, shared with the agent), nothing else of nephoscope;
``nephoscope.logs.server`` and ``nephoscope.logs.cli`` build on it, never the other way round.
"""
