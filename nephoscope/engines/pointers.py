"""Which object is current: names of immutable objects held in a JetStream key-value bucket and
replaced only by compare-and-set.

A partition's manifest is rewritten by its owner at every flush. S3 (through pyarrow) has no
conditional PUT, so a previous owner whose PUT stalled past its lease could overwrite its
successor's manifest, and a read racing a PUT could get a mix of two. Instead each manifest is
written once under a name of its own and the bucket's key for the partition is switched to that
name with the revision its writer last read (``swap``): a writer that did not read the latest
fails (``Moved``) and writes nothing current; readers get the name, then an object that never
changes. The bucket is replicated like the streams (Raft), so the switch is quorum-durable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from nephoscope.engines.jetstream import StreamLog, ensure_bucket
from nephoscope.engines.objects import ObjectStore
from nephoscope.engines.outages import is_outage

T = TypeVar("T")
_REQUEST_SECONDS = 2.0
"""One request's timeout: a bucket whose leader is being elected (a fresh bucket, a node died)
answers nothing for a moment; short requests retried find the new leader sooner than one long one."""


class Moved(RuntimeError):
    """The pointer was switched by another writer since this one read it."""


@dataclass(frozen=True)
class Pointed(Generic[T]):
    """A document as read through its pointer: what a later ``publish`` switches from."""

    document: T | None  # None: nothing written yet
    revision: int | None
    name: str | None  # the object read (None: the legacy object, or nothing)


class Pointers:
    """Keys of one bucket, each naming an object (blocking calls on a stream log's connection)."""

    def __init__(self, log: StreamLog, bucket: str, replicas: int) -> None:
        self.log = log
        self.bucket = bucket
        self.replicas = replicas
        self._kv: Any = None

    def open(self) -> None:
        """Create the bucket unless it exists (the stream log is open)."""
        config = KeyValueConfig(bucket=self.bucket, history=1, replicas=self.replicas, storage=StorageType.FILE)
        self._kv = self.log.call(ensure_bucket(self.log.jetstream(_REQUEST_SECONDS), config))

    def get(self, key: str) -> tuple[str | None, int | None]:
        """The name ``key`` points to and the revision to swap from; (None, None) when never set."""
        async def read() -> tuple[str | None, int | None]:
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                return None, None
            return (entry.value or b"").decode() or None, entry.revision

        return self.log.call(self._retried(read))

    def swap(self, key: str, name: str, revision: int | None) -> int:
        """Point ``key`` at ``name`` if it is still at ``revision`` (None: never set); the new
        revision. Raises ``Moved`` when another writer got there first."""
        async def write() -> int:
            try:
                if revision is None:
                    return await self._kv.create(key, name.encode())
                return await self._kv.update(key, name.encode(), last=revision)
            except KeyWrongLastSequenceError as error:
                raise Moved(f"{self.bucket}/{key} was switched by another writer") from error
            except Exception as error:
                # create() of an existing key answers "wrong last sequence" too, in some versions as
                # a plain API error
                if "wrong last sequence" in str(error).lower() or "key exists" in str(error).lower():
                    raise Moved(f"{self.bucket}/{key} was switched by another writer") from error
                raise

        try:
            return self.log.call(self._retried(write))
        except Moved:
            # A switch that landed but whose answer was lost (a leader change) looks the same on
            # its retry: the pointer names this very object then, and the switch is ours.
            current, current_revision = self.get(key)
            if current == name and current_revision is not None:
                return current_revision
            raise

    def read(self, key: str, objects: ObjectStore, decode: Callable[[bytes], T], legacy: str) -> Pointed[T]:
        """The document ``key`` points to (``legacy``, the object written before pointers, when it
        was never switched). An object replaced and deleted between reading the pointer and reading
        it is read again through the new pointer."""
        for attempt in range(5):
            name, revision = self.get(key)
            try:
                return Pointed(objects.get_document(name or legacy, decode), revision, name)
            except FileNotFoundError:
                if name is None:
                    return Pointed(None, None, None)
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def publish(self, key: str, objects: ObjectStore, name: str, data: bytes, read: Pointed) -> int:
        """Write ``data`` as the object ``name`` and switch ``key`` to it from ``read``'s revision;
        the new revision. ``Moved`` (the object deleted again) when another writer switched it since."""
        objects.put(name, data)
        try:
            return self.swap(key, name, read.revision)
        except Moved:
            objects.delete(name)
            raise

    async def _retried(self, request: Callable[[], Awaitable[T]]) -> T:
        """``request`` again while the bucket has no leader, for up to the publish timeout (a switch
        that landed before its answer was lost fails again as ``Moved``: ``swap`` recognises it)."""
        deadline = time.monotonic() + self.log.settings.publish_timeout_seconds
        while True:
            try:
                return await request()
            except Exception as error:
                if not is_outage(error) or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.2)
