"""Metric family metadata as senders declare it: type, help text and unit (``/api/v1/metadata``).

Remote write 1.0 sends it beside the series (``WriteRequest.metadata``), 2.0 with each series,
OTLP with each metric. Entries are kept per *scope*: the writer's project, or ``ALL_TENANTS``
for a writer with the delegate rule (a service user writing for every project: what it
declares describes every project's series). A project reads its own scope and the shared
one; an admin reads all. The rows live in ``prometheus_metadata.sqlite`` under the data dir;
the server holds them in memory too, so a sender repeating what is known (Prometheus resends
its metadata every minute) costs no write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nephoscope.sqlitefile import SqliteFile
from nephoscope.tenancy import ALL_TENANTS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_metadata (
    scope TEXT NOT NULL,
    family TEXT NOT NULL,
    type TEXT NOT NULL,
    help TEXT NOT NULL,
    unit TEXT NOT NULL,
    PRIMARY KEY (scope, family)
);
"""


@dataclass(frozen=True, slots=True)
class FamilyMetadata:
    """What a sender says of a metric family."""

    family: str
    type: str  # counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown
    help: str
    unit: str


class MetadataStore:
    def __init__(self, data_dir: Path) -> None:
        self._file = SqliteFile(data_dir / "prometheus_metadata.sqlite", _SCHEMA)
        self._lock = threading.Lock()
        rows = self._file.connect().execute("SELECT scope, family, type, help, unit FROM metric_metadata").fetchall()
        self._known: dict[tuple[str, str], FamilyMetadata] = {
            (scope, family): FamilyMetadata(family, kind, help_text, unit) for scope, family, kind, help_text, unit in rows}

    def changes(self, scope: str, entries: Iterable[FamilyMetadata]) -> list[FamilyMetadata]:
        """Those of ``entries`` that differ from what is kept (cheap: the caller writes only these)."""
        known = self._known
        return [entry for entry in {e.family: e for e in entries}.values() if known.get((scope, entry.family)) != entry]

    def record(self, scope: str, entries: list[FamilyMetadata]) -> None:
        """Keep ``entries`` (blocking: an SQLite commit when something changed)."""
        if not entries:
            return
        with self._lock, self._file.transaction() as connection:
            connection.executemany(
                "INSERT INTO metric_metadata (scope, family, type, help, unit) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (scope, family) DO UPDATE SET type = excluded.type, help = excluded.help, "
                "unit = excluded.unit",
                [(scope, e.family, e.type, e.help, e.unit) for e in entries])
            for entry in entries:
                self._known[(scope, entry.family)] = entry

    def families(self, scope: str, metric: str | None = None, limit: int | None = None,
                 limit_per_metric: int | None = None) -> dict[str, list[FamilyMetadata]]:
        """Metadata by family, as ``/api/v1/metadata`` answers it, for a read scope (a project, or
        ``ALL_TENANTS``): distinct entries per family, families sorted, within the limits."""
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
