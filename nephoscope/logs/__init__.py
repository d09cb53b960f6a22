"""Log processing: every service's lines to one normalized, templated, classified record.

Owns the parsers (oslo.log text and JSON, WSGI and httpd access lines, syslog envelopes,
multi-line tracebacks), the normalized record schema, online template mining, the
classification rules, metrics derived from access lines, and the hygiene report — a pure
library (no HTTP, no storage): those modules may import numpy, pyarrow, msgspec, orjson, yaml,
rich (report only) and ``nephoscope.metrics.series``, nothing else from the project.

The server's side of logs sits beside it: ``store`` (records on disk, ``nephoscope.tables``),
``service`` (ingest: pipeline, store, derived metrics; may import ``config`` and the metric
``store``) and ``syslog`` (the TCP and UDP listeners).

Entry points (see each module):

* ``pipeline.LogPipeline.process(lines, source)``: a batch of lines to a normalized
  ``pyarrow.Table`` (schema in ``schema.RECORD_SCHEMA``; ``sources.Source`` says who wrote the
  lines); ``batching.LogStream`` for a stream whose multi-line records may straddle batches,
  ``batching.record_batches`` + ``LogPipeline.process_many`` for a file on two threads.
* ``templates.TemplateMiner``: template ids, ``save``/``load`` as JSON.
* ``rules.load_rules`` / ``classify.Classifier``: operator-editable rules.
* ``metrics.log_metrics``: access lines and record counts as summary points.
* ``hygiene.hygiene_report``: per-service volume, noise, missing request ids, unparsed share.
* ``service.LogService.ingest(lines, source, tenant)``: the server's one way in.
* ``evaluation.grouping_accuracy``: GA and FGA against a ground truth.
* ``report`` / ``command``: ``nephoscope logs classify``.
"""
