"""Alarms across partitions (issue 21): partial window summaries where series live, exact merging
and evaluation where alarms live, transitions to the notifiers once each.

``partials`` folds the points an ingester applies into each matching sub-alarm's slot summaries
(per alarm, sub-expression, slot, source partition); ``wire`` is their message encoding;
``merging`` is the evaluator of one evaluator partition: it merges the partials of every source
exactly, closes a period once every source has reported past it, and can be snapshotted and
restored; ``streams`` names and creates the JetStream streams and buckets; ``sources`` (ingester
side), ``evaluators`` (the ``evaluators`` lease group) and ``transitions`` (the work queue) run them
on NATS. Pure parts (``partials``, ``merging``) do no I/O and are deterministic, so a successor
replaying the same messages from the same snapshot makes the same transitions.

Imports ``nephoscope.alarms`` (matching, windows, evaluator, definitions), ``nephoscope.metrics``
(series batches, summaries), ``nephoscope.notify`` (the transition model), ``nephoscope.cluster``
(leases, the loop thread), ``nephoscope.config``; nats-py and msgspec. Speaks no HTTP.
"""
