"""Alarms: definitions, the expression grammar, windows, the evaluator and the state machine.

Owns the alarm definitions and their store (``definitions``), Monasca's expression grammar
(``expression``), the per-period window summaries (``windows``), the fan-out of series to
sub-alarms (``fanout``), the evaluator and the engine that follows the metric stream
(``evaluator``, ``engine``), the alarms and their history (``repository``, ``queries``), and
evaluation across partitions in a cluster (``cluster``). Imports ``nephoscope.metrics`` (its
store interface and summaries), ``nephoscope.notify`` (the outbox and the work queue transitions
go to), ``nephoscope.cluster`` (leases, in ``alarms.cluster`` only), ``nephoscope.config``, ``nephoscope.errors``,
``nephoscope.tenancy`` and ``nephoscope.sql`` (the metadata database); never the API.
"""
