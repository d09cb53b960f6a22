"""The querier role: blocks read from S3 plus the heads of the ingesters owning the partitions.

At open every partition's manifest is read and its blocks indexed (``Flusher.load``); a thread
reads the manifests again every ``flush_interval``. A question for the heads (``ask``) goes to the
owner of each partition, found in the ingesters' lease table, all owners at once; a partition that
no ingester serves yet (its owner died and its lease has not expired, or the new owner is
replaying) is asked again until one does, for at most ``wait_seconds`` — then the query is refused
as ``Overloaded`` (503 + Retry-After), never answered without it. When an answer says a
partition's blocks cover more than this querier's index knows (a flush emptied the head meanwhile),
that partition's manifest is read again before the blocks are read: with the head's points read
first and the blocks after, no acknowledged point falls between the two.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import msgspec
import numpy as np

from nephoscope.cluster import LeaseTable
from nephoscope.config import ClusterSettings
from nephoscope.metrics.store.cluster.flush import Flusher
from nephoscope.metrics.store.cluster.heads import HeadAnswer, HeadQuery, decode_answer
from nephoscope.metrics.store.cluster.index import BlockIndex
from nephoscope.metrics.store.cluster.ingester import GROUP
from nephoscope.metrics.store.interface import Overloaded
from nephoscope.metrics.summary import Points

log = logging.getLogger(__name__)

HEADS_PATH = "/v1/cluster/heads"


class Querier:
    def __init__(self, settings: ClusterSettings, flusher: Flusher, index: BlockIndex, token: str) -> None:
        self.settings = settings
        self.flusher = flusher
        self.index = index
        self.table = LeaseTable(settings, GROUP, settings.partitions)
        self.client = httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0), headers={"X-Auth-Token": token})
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="querier")
        # A dead owner's lease expires within lease_seconds, its successor replays: wait that long.
        self.wait_seconds = 3 * settings.lease_seconds + 10
        self.covered: dict[int, int] = {}
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        self.covered = self.flusher.load()
        self.table.start()
        self._thread = threading.Thread(target=self._refresh_loop, name="querier-manifests", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.table.stop()
        self.client.close()
        self.pool.shutdown(wait=False)

    # -- blocks ------------------------------------------------------------------------------------
    def refresh(self, partitions: list[int]) -> None:
        with self._refresh_lock:
            for partition in partitions:
                self.covered[partition] = self.flusher.refresh(partition)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.settings.flush_interval):
            try:
                self.refresh(list(range(self.settings.partitions)))
            except Exception:  # noqa: BLE001 - S3 away: the next round tries again
                log.warning("reading the manifests failed", exc_info=True)

    # -- heads -------------------------------------------------------------------------------------
    def ask(self, query: HeadQuery) -> HeadAnswer:
        """The heads of ``query.partitions``, each from the ingester serving it; then the index is
        made current for the partitions whose blocks cover more than it knows."""
        answer = HeadAnswer.empty()
        pending = set(query.partitions)
        deadline = time.monotonic() + self.wait_seconds
        while pending:
            try:
                owners = self.table.owners()
            except Exception as error:  # noqa: BLE001 - the bucket's leader moving (a JetStream node died)
                log.info("the lease table did not answer: %s", error)
                owners = {}
            by_owner: dict[str, list[int]] = {}
            for partition in sorted(pending):
                if partition in owners:
                    by_owner.setdefault(owners[partition], []).append(partition)
            futures = [self.pool.submit(self._ask_one, owner, msgspec.structs.replace(query, partitions=partitions))
                       for owner, partitions in by_owner.items()]
            for future in futures:
                part = future.result()
                if part is not None:
                    answer = answer.merge(part)
                    pending -= part.served
            if pending:
                if time.monotonic() > deadline:
                    raise Overloaded(f"partitions {sorted(pending)} have no ingester serving them now (one died and "
                                     "another is taking them over); retry shortly", backlog=True)
                time.sleep(0.1)
        stale = [p for p, covered in answer.covered.items() if covered > self.covered.get(p, 0)]
        if stale:
            self.refresh(stale)
        if answer.definitions:
            self.index.add_series(answer.definitions)
        return answer

    def _ask_one(self, owner: str, query: HeadQuery) -> HeadAnswer | None:
        try:
            response = self.client.post(owner.rstrip("/") + HEADS_PATH, content=msgspec.json.encode(query),
                                        headers={"Content-Type": "application/json"})
        except httpx.HTTPError as error:  # the owner died: its lease expires, another takes over
            log.info("ingester %s did not answer: %s", owner, error)
            return None
        if response.status_code != 200:
            log.warning("ingester %s answered %d: %s", owner, response.status_code, response.text[:300])
            return None
        return decode_answer(response.content)


class AnsweredHead:
    """The points an ``ask`` brought, as the reader reads a head (``Head.read``)."""

    points = 0

    def __init__(self, answer: HeadAnswer) -> None:
        self.answer = answer

    def read(self, series: np.ndarray | None, start_ms: int, end_ms: int) -> tuple[Points, np.ndarray]:
        points = self.answer.points
        mask = (points.timestamp >= start_ms) & (points.timestamp < end_ms)
        if series is not None:
            mask &= np.isin(points.series, series)
        return points.take(mask), self.answer.sequence[mask]
