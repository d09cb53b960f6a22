"""The seam of the record stores: what the events and logs stores need of their table.

Two implementations: ``appendable.AppendTable`` (the embedded default: an Arrow log fsynced on this
machine, Parquet parts on its disk) and ``cluster.ClusterTable`` (a JetStream stream replicated
across the cluster, Parquet files in S3). A store runs the same SQL over either: a ``Snapshot`` is
local Parquet files plus an in-memory tail, whichever table made it, so both answer alike (the
contract tests in tests/events and tests/logs run the stores over both).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

import numpy as np
import pyarrow as pa

from nephoscope.tables.appendable import Position, Snapshot


class RecordTable(Protocol):
    schema: pa.Schema

    def open(self) -> list[tuple[Position, pa.Table]]:
        """Replay what is not in parts yet; the records of other kinds (derived ones), in order."""

    def close(self, before_delete: Callable[[Position], None] | None = None) -> None: ...

    def append(self, records: list[tuple[bytes | bytearray, pa.Table]], identity: str | None = None) -> Position:
        """Durable (on this disk, or acknowledged by JetStream) when it returns. ``identity`` names
        the request (a client's retry carries the same): a clustered table stores it once."""

    def flush_due(self) -> bool: ...

    def flush(self, before_delete: Callable[[Position], None] | None = None) -> None: ...

    def merge_small_parts(self) -> int: ...

    def drop_before(self, cutoff_ms: int) -> int: ...

    def snapshot(self, start_ms: int | None = None,
                 end_ms: int | None = None) -> contextlib.AbstractContextManager[Snapshot]: ...

    def newest_values(self, column: str, limit: int) -> np.ndarray: ...

    def stats(self) -> dict[str, int]: ...
