"""``/api/v1/targets`` without a scraper: the targets are derived from what arrives.

Two kinds of sources push to Nephoscope, and Watcher reads both as active targets (it looks for
their ``fqdn`` label):

* Prometheus servers remote-writing their scrapes: each target's ``up`` series (Prometheus writes
  one per target, with the target's labels: ``job``, ``instance`` and any ``fqdn`` set in its
  ``static_configs``) that had a point within the window; health from its last value.
* Agents (Nephoscope's or monasca-agent): every ``hostname`` of a series with points within the
  window that is not an instance's (no ``resource_id``), as ``{job="nephoscope-agent",
  instance=<hostname>, fqdn=<hostname>}``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from nephoscope.metrics.promql import labels as L
from nephoscope.metrics.promql.selectors import SeriesSource, is_stale
from nephoscope.metrics.store import LabelMatcher, SeriesFilter

AGENT_JOB = "nephoscope-agent"


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _target(labels: dict[str, str], health: str, last_ms: int) -> dict:
    return {"discoveredLabels": {"__address__": labels.get("instance", ""), "job": labels.get("job", "")},
            "labels": labels, "scrapePool": labels.get("job", ""), "scrapeUrl": "", "globalUrl": "",
            "lastError": "", "lastScrape": _rfc3339(last_ms), "lastScrapeDuration": 0.0, "health": health,
            "scrapeInterval": "", "scrapeTimeout": ""}


def active_targets(source: SeriesSource, window_ms: int) -> list[dict]:
    now = source.now_ms
    targets: list[dict] = []
    seen: set[str] = set()
    up = source.samples([(LabelMatcher(L.NAME, "=", "up"),)], now - window_ms, now)
    for row, labels in enumerate(up.labels):
        first, last = int(up.offsets[row]), int(up.offsets[row + 1])
        if first == last:
            continue
        value = up.values[last - 1]
        health = "up" if value == 1 and not is_stale(np.array([value]))[0] else "down"
        target_labels = dict(L.drop_name(labels))
        seen.add(target_labels.get("instance", ""))
        targets.append(_target(target_labels, health, int(up.times[last - 1])))
    hosts = SeriesFilter(source.tenant, None, (), now - window_ms, now + 1,
                         (LabelMatcher("hostname", "!=", ""), LabelMatcher("resource_id", "=", "")))
    for hostname in source.store.dimension_values(hosts, "hostname", None, 1_000_000):
        if hostname not in seen:
            targets.append(_target({"instance": hostname, "fqdn": hostname, "job": AGENT_JOB}, "up", now))
    return targets
