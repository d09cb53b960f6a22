"""Metric family metadata as senders declare it: type, help text and unit (``/api/v1/metadata``).

Remote write 1.0 sends it beside the series (``WriteRequest.metadata``), 2.0 with each series,
OTLP with each metric. Entries are kept per *scope*: the writer's project, or ``ALL_TENANTS``
for a writer with the delegate rule (a service user writing for every project: what it
declares describes every project's series). A project reads its own scope and the shared
one; an admin reads all. The rows live in the metadata database (``prometheus_metadata.sqlite``
under the data dir, or the cluster's database); the server holds them in memory too, so a sender
repeating what is known (Prometheus resends its metadata every minute) costs no write. In a
cluster other nodes write too: a read of the metadata reloads them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from nephoscope.sql import Database
from nephoscope.sql.dialect import upsert
from nephoscope.sql.schema import metric_metadata
from nephoscope.tenancy import ALL_TENANTS


@dataclass(frozen=True, slots=True)
class FamilyMetadata:
    """What a sender says of a metric family."""

    family: str
    type: str  # counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown
    help: str
    unit: str


class MetadataStore:
    def __init__(self, data_dir: Path) -> None:
        self._file = Database(data_dir, "prometheus_metadata.sqlite", ("metric_metadata",))
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], FamilyMetadata] = self._load()

    def _load(self) -> dict[tuple[str, str], FamilyMetadata]:
        m = metric_metadata.c
        with self._file.read() as connection:
            rows = connection.execute(sa.select(m.scope, m.family, m.type, m.help, m.unit)).all()
        return {(scope, family): FamilyMetadata(family, kind, help_text, unit)
                for scope, family, kind, help_text, unit in rows}

    def changes(self, scope: str, entries: Iterable[FamilyMetadata]) -> list[FamilyMetadata]:
        """Those of ``entries`` that differ from what is kept (cheap: the caller writes only these)."""
        known = self._known
        return [entry for entry in {e.family: e for e in entries}.values() if known.get((scope, entry.family)) != entry]

    def record(self, scope: str, entries: list[FamilyMetadata]) -> None:
        """Keep ``entries`` (blocking: a commit when something changed)."""
        if not entries:
            return
        with self._lock, self._file.transaction() as connection:
            upsert(connection, metric_metadata,
                   [{"scope": scope, "family": e.family, "type": e.type, "help": e.help, "unit": e.unit}
                    for e in entries], ("scope", "family"), ("type", "help", "unit"))
            for entry in entries:
                self._known[(scope, entry.family)] = entry

    def families(self, scope: str, metric: str | None = None, limit: int | None = None,
                 limit_per_metric: int | None = None) -> dict[str, list[FamilyMetadata]]:
        """Metadata by family, as ``/api/v1/metadata`` answers it, for a read scope (a project, or
        ``ALL_TENANTS``): distinct entries per family, families sorted, within the limits."""
        if self._file.dialect != "sqlite":
            # A cluster: other nodes write too; this node's memory only spares it repeated writes.
            self._known = self._load()
        found: dict[str, list[FamilyMetadata]] = {}
        for (owner, family), entry in sorted(self._known.items(), key=lambda item: (item[0][1], item[0][0])):
            if scope != ALL_TENANTS and owner not in (scope, ALL_TENANTS):
                continue
            if metric is not None and family != metric:
                continue
            entries = found.setdefault(family, [])
            if entry not in entries and (limit_per_metric is None or len(entries) < limit_per_metric):
                entries.append(entry)
        names = sorted(found)
        if limit is not None:
            names = names[:limit]
        return {name: found[name] for name in names}

    def close(self) -> None:
        self._file.close()
