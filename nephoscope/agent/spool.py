"""The on-disk spool: encoded batches waiting to be sent, oldest first, bounded.

Every closed window is written here before any attempt to send it (one file per batch,
written to a temporary name, fsynced, renamed), and removed only once the server has
acknowledged it, so nothing is lost when the agent, the network or the server stops. When
the spool is over its byte bound the oldest batches are deleted — counted in
``dropped_points`` (reported as the metric ``nephoscope.agent.spool_dropped_points``) and
logged, never silently.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A request ready to send: API path, headers that describe the body, the body, what it holds."""

    path: str
    content_type: str
    content_encoding: str  # "" when not compressed
    body: bytes
    points: int


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.dropped_points = 0
        self.dropped_batches = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        for stale in self.directory.glob("*.tmp"):  # a crash while writing: that batch was never acknowledged
            stale.unlink(missing_ok=True)
        self._files = sorted(self.directory.glob("*.batch"))
        self._sizes = {path: path.stat().st_size for path in self._files}
        self._next = int(self._files[-1].stem) + 1 if self._files else 0
        self._in_flight: Path | None = None  # being sent: not dropped under it

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def append(self, batch: EncodedBatch) -> None:
        header = json.dumps({"path": batch.path, "content_type": batch.content_type,
                             "content_encoding": batch.content_encoding, "points": batch.points}).encode()
        with self._lock:
            path = self.directory / f"{self._next:016d}.batch"
            self._next += 1
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            handle.write(header + b"\n" + batch.body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        with self._changed:
            self._files.append(path)
            self._sizes[path] = path.stat().st_size
            self._enforce_bound()
            self._changed.notify_all()

    def _enforce_bound(self) -> None:
        while len(self._files) > 1 and sum(self._sizes.values()) > self.max_bytes:
            victims = [path for path in self._files[:-1] if path != self._in_flight]
            if not victims:
                return
            oldest = victims[0]
            self._files.remove(oldest)
            points = self._read(oldest)[1].points if oldest.exists() else 0
            self._sizes.pop(oldest, None)
            oldest.unlink(missing_ok=True)
            self.dropped_points += points
            self.dropped_batches += 1
            log.warning("spool over %d bytes: dropped the oldest batch (%d points; %d dropped so far)",
                        self.max_bytes, points, self.dropped_points)

    @staticmethod
    def _read(path: Path) -> tuple[Path, EncodedBatch]:
        raw = path.read_bytes()
        header, _, body = raw.partition(b"\n")
        meta = json.loads(header)
        return path, EncodedBatch(meta["path"], meta["content_type"], meta["content_encoding"], body, meta["points"])

    def oldest(self, wait: float = 0.0) -> tuple[Path, EncodedBatch] | None:
        """The oldest batch (waiting up to ``wait`` seconds for one), without removing it."""
        with self._changed:
            if not self._files and wait > 0:
                self._changed.wait(wait)
            if not self._files:
                return None
            path = self._in_flight = self._files[0]
        return self._read(path)

    def remove(self, path: Path) -> None:
        """The server acknowledged it."""
        with self._lock:
            if path in self._sizes:
                self._files.remove(path)
                del self._sizes[path]
            self._in_flight = None
        path.unlink(missing_ok=True)

    def release(self) -> None:
        """The batch in flight was not acknowledged: it stays first, and may be dropped again."""
        with self._lock:
            self._in_flight = None
