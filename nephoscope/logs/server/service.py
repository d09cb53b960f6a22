"""What the server holds for logs: the pipeline (parsers, templates, rules), the log store, and
the metrics derived from log lines.

Every way in — ``POST /v3.0/logs`` (Monasca), ``POST /v1/logs``, the syslog listeners — ends in
``ingest``: the lines are parsed, normalized, templated and classified (``pipeline``), stored
durably (``store``; a 2xx answer comes after), and their counts and access-line figures become
metrics (``log.records``, ``log.http.*``) in the metric store. The template miner is shared by
every source, and saved to ``<data dir>/logs/templates.json`` every minute and at stop,
so template ids are the same after a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.config import ClusterSettings, LogsSettings
from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.rules import load_rules
from nephoscope.logs.processing.scheduling import Explanation, explain
from nephoscope.logs.processing.sources import Source
from nephoscope.logs.processing.templates import TemplateMiner
from nephoscope.logs.processing.traces import Trace, trace
from nephoscope.logs.server.derived_metrics import log_metrics
from nephoscope.logs.server.failure_rows import failure_rows
from nephoscope.logs.server.store import LogQuery, LogStore
from nephoscope.metrics.service import MetricService
from nephoscope.periodic import every
from nephoscope.tenancy import ALL_TENANTS

log = logging.getLogger(__name__)


@dataclass
class LogCounters:
    received: int = 0  # physical lines
    stored: int = 0  # records (a traceback's lines are one record)
    unparsed: int = 0
    errors: int = 0  # records classified as true errors
    new_templates: int = 0


class LogService:
    def __init__(self, data_dir: Path, settings: LogsSettings | None = None, metrics: MetricService | None = None,
                 region: str = "", failures: Callable[[list[dict]], int] | None = None,
                 owned: Callable[[str], tuple[str, ...]] | None = None, cluster: ClusterSettings | None = None,
                 owned_partitions: Callable[[], Collection[int]] | None = None) -> None:
        """``cluster`` (enabled): records go to the cluster's logs stream and S3, this node writing the
        Parquet files of the partitions ``owned_partitions()`` names (all when not given)."""
        self.settings = settings or LogsSettings()
        self.region = region
        directory = Path(data_dir) / "logs"
        directory.mkdir(parents=True, exist_ok=True)
        self._templates_path = directory / "templates.json"
        miner = TemplateMiner.load(self._templates_path) if self._templates_path.exists() else TemplateMiner()
        rules = load_rules(*self.settings.rules)
        self.pipeline = LogPipeline(rules, miner)
        self.store = LogStore(Path(data_dir), self.settings.memory_limit, cluster=cluster,
                              owned_partitions=owned_partitions)
        # listings fold templates merged after their lines were stored, and show their text now
        self.store.canonical, self.store.current_text = miner.canonical, miner.text
        self.metrics = metrics
        self._failures = failures  # where failure summaries learnt from the lines go (the events store)
        self._owned = owned  # a project's instances and volumes (the events store knows the owners)
        self.counters = LogCounters()
        self._lock = threading.Lock()  # the counters and the saving of the templates

    # -- the way in --

    def ingest(self, lines: list[str], source: Source, tenant: str) -> int:
        """Process and store ``lines`` from one source; durable on return. Returns records stored."""
        if not lines:
            return 0
        if source.region is None and self.region:
            source = dataclasses.replace(source, region=self.region)
        records = self.pipeline.process(lines, source)  # thread-safe: the miner locks its own state
        stored = self.store.append(records, tenant)
        self._count(len(lines), records)
        if self._failures is not None:
            found = failure_rows(records)
            if found:
                self._failures(found)
        if self.metrics is not None and records.num_rows:
            self._record_metrics(records, tenant, source.region or self.region)
        return stored

    def _record_metrics(self, records: pa.Table, tenant: str, region: str) -> None:
        """Line counts and access-line figures as metrics, owned like the lines themselves: a
        project's own (its lines carry its id) and the sender's for the rest."""
        window_ms = int(self.settings.metrics_window * 1000)
        owners = pc.fill_null(records.column("project"), tenant)
        distinct = pc.unique(owners).to_pylist()
        for owner in distinct:
            part = records if len(distinct) == 1 else records.filter(pc.equal(owners, owner))
            points = log_metrics(part, window_ms, region)
            if len(points):
                self.metrics.record(points.to_ingest_batch(owner))

    # -- reading across records --

    def policy(self, scope: str, operator: bool) -> LogQuery:
        """What ``scope`` may read: everything for operators; for a project, the user-visible
        categories and loggers of the lines about its project and the resources it owns."""
        if operator:
            return LogQuery()
        return LogQuery(visible_categories=tuple(self.settings.user_visible_categories),
                        hidden_loggers=tuple(self.settings.user_hidden_loggers),
                        owned_ids=self._owned(scope) if self._owned is not None else ())

    def trace(self, request_id: str, scope: str, policy: LogQuery) -> Trace:
        def find(ids: list[str]) -> pa.Table:
            return self.store.matching(scope, dataclasses.replace(policy, request_ids=tuple(ids)))
        return trace(find, request_id)

    def explain_scheduling(self, instance_id: str, scope: str, policy: LogQuery) -> Explanation | None:
        """Why ``instance_id`` was (not) scheduled; None when ``scope`` has no line about it. The
        explanation reads the scheduler's lines of the instance's requests whoever may see them;
        the caller decides how much of it to show."""
        about = self.store.matching(scope, dataclasses.replace(policy, resource_id=instance_id))
        if not about.num_rows:
            return None
        request_ids = tuple(value for value in pc.unique(about.column("request_id")).to_pylist() if value)
        records = self.store.matching(ALL_TENANTS, LogQuery(request_ids=request_ids)) if request_ids else about
        return explain(instance_id, records)

    def _count(self, lines: int, records: pa.Table) -> None:
        with self._lock:
            counters = self.counters
            counters.received += lines
            counters.stored += records.num_rows
            counters.unparsed += pc.sum(pc.equal(records.column("format"), "unparsed")).as_py() or 0
            counters.errors += pc.sum(pc.equal(records.column("category"), "error")).as_py() or 0
            counters.new_templates += pc.sum(records.column("is_new_template")).as_py() or 0

    # -- upkeep --

    def save_templates(self) -> None:
        with self._lock:
            self.pipeline.miner.save(self._templates_path)

    def upkeep(self) -> None:
        """Flush records to Parquet parts when due, merge small parts, apply retention."""
        self.store.maintain(int(self.settings.retention_days * 86_400_000) or None, int(time.time() * 1000))

    async def run_periodic(self, stop: asyncio.Event) -> None:
        await asyncio.gather(every(5.0, stop, self.upkeep, "logs upkeep"),
                             every(60.0, stop, self.save_templates, "saving log templates"))

    def close(self) -> None:
        self.save_templates()
        self.store.close()

    def stats(self) -> dict:
        with self._lock:
            stats = dict(self.counters.__dict__)
            stats["templates"] = len(self.pipeline.miner)
        stats.update({f"table_{key}": value for key, value in self.store.table.stats().items()})
        return stats
