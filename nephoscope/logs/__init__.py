"""Logs: every service's lines to one normalized, templated, classified record, stored and searched.

Three subpackages, each importing only those before it:

* ``processing``: the pure library (parsers, record schema, template mining, classification
  rules, hygiene, traces); imports no other part of nephoscope but ``nephoscope.formats``.
* ``server``: what the running server holds (``service.LogService``, the log store, the syslog
  listeners, derived metrics and failure rows for the other domains' stores); may import the
  processing library, ``config``, ``tables`` and the other domains' stores.
* ``cli``: ``nephoscope logs classify`` and ``nephoscope trace``; imports the processing library,
  never the server side.

Entry points (see each module):

* ``processing.pipeline.LogPipeline.process(lines, source)``: a batch of lines to a normalized
  ``pyarrow.Table`` (schema in ``processing.schema.RECORD_SCHEMA``; ``processing.sources.Source``
  says who wrote the lines); ``processing.batching.LogStream`` for a stream whose multi-line
  records may straddle batches, ``processing.batching.record_batches`` + ``LogPipeline.process_many``
  for a file on two threads.
* ``processing.templates.TemplateMiner``: template ids, ``save``/``load`` as JSON.
* ``processing.rules.load_rules`` / ``processing.classify.Classifier``: operator-editable rules.
* ``processing.hygiene.hygiene_report``: per-service volume, noise, missing request ids, unparsed share.
* ``processing.evaluation.grouping_accuracy``: GA and FGA against a ground truth.
* ``server.service.LogService.ingest(lines, source, tenant)``: the server's one way in.
* ``server.derived_metrics.log_metrics``: access lines and record counts as summary points.
* ``cli.report`` / ``cli.command``: ``nephoscope logs classify``.
"""
