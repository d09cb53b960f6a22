"""Partitions shared by the members of a group through leases in a JetStream key-value bucket.

The members of a group (``"ingesters"``, ``"evaluators"``) share ``partitions`` partitions. The
bucket ``<stream>_leases`` (replicated ``settings.replicas`` times, every value expiring
``lease_seconds`` after its last write) holds, per group:

* ``<group>.members.<member>``: written by each live member every quarter of a lease (its heartbeat);
  a member that stops writing it is gone once it expires;
* ``<group>.partitions.<n>``: the member holding partition ``n``, written only with compare-and-set
  (``create``: only when nobody holds it; renewal and release: only at the revision this member
  wrote last), so two members never both hold one.

Every member computes the same assignment from the same live set (``assign``: rendezvous hashing
capped so counts differ by at most one) and, every quarter of a lease, renews the partitions it holds
and is assigned, releases those assigned to others (they take them at their next beat) and tries to
take those assigned to it. A member owns a partition only while it holds the key *and* less than a
lease has passed since it last renewed it by its own clock, so a member cut off from NATS stops
owning before the key can expire and be taken. A dead member's keys expire after a lease and the
others take its partitions at their next beat: within ``lease_seconds`` plus a quarter of one.
``stop`` releases everything at once, so a clean shutdown hands over within one beat.

Listeners learn what was gained and lost on a thread of their own (in order), so a slow one (an
ingester replaying a partition) never delays the heartbeat.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError

from nephoscope.engines.loop import LoopThread
from nephoscope.config import ClusterSettings
from nephoscope.engines.jetstream import connect, ensure_bucket

log = logging.getLogger(__name__)

Listener = Callable[[frozenset[int], frozenset[int]], None]

_BEATS_PER_LEASE = 4
_VALID = re.compile(r"[^-_=a-zA-Z0-9]")


def bucket_name(settings: ClusterSettings) -> str:
    """The deployment's lease bucket (one per metric stream: a deployment of its own)."""
    return f"{settings.stream}_leases"


def member_key(group: str, member: str) -> str:
    """A member's heartbeat key; names with characters a key cannot hold (``:`` of an address) are
    made safe and told apart by a digest."""
    safe = _VALID.sub("_", member)
    if safe != member:
        safe += "-" + hashlib.blake2b(member.encode(), digest_size=6).hexdigest()
    return f"{group}.members.{safe}"


def partition_key(group: str, partition: int) -> str:
    return f"{group}.partitions.{partition}"


def _rank(group: str, partition: int, member: str) -> bytes:
    return hashlib.blake2b(f"{group}/{partition}/{member}".encode(), digest_size=8).digest()


def assign(group: str, partitions: int, members: Iterable[str]) -> dict[str, frozenset[int]]:
    """Which partitions each live member should own: each partition goes to the member ranking it
    highest (rendezvous hashing) among those not yet full, where ``partitions % len(members)``
    members may hold one more than the rest; so counts differ by at most one, and a member joining
    or leaving moves few partitions. The same live set gives the same answer on every member."""
    live = sorted(set(members))
    if not live:
        return {}
    base, extra = divmod(partitions, len(live))
    counts = dict.fromkeys(live, 0)
    owned: dict[str, set[int]] = {m: set() for m in live}
    for partition in range(partitions):
        for member in sorted(live, key=lambda m: _rank(group, partition, m), reverse=True):
            if counts[member] < base or (counts[member] == base and extra > 0):
                if counts[member] == base:
                    extra -= 1
                counts[member] += 1
                owned[member].add(partition)
                break
    return {m: frozenset(p) for m, p in owned.items()}


class PartitionLeases:
    """This member's share of the group's partitions (thread-safe; ``owned`` never blocks)."""

    def __init__(self, settings: ClusterSettings, group: str, member: str, partitions: int) -> None:
        if not re.fullmatch(r"[-_a-zA-Z0-9]+", group):
            raise ValueError(f"group {group!r}: letters, digits, - and _ only")
        self.settings = settings
        self.group = group
        self.member = member
        self.partitions = partitions
        self.lease = settings.lease_seconds
        self.beat = settings.lease_seconds / _BEATS_PER_LEASE
        self._loop = LoopThread(f"leases-{group}")
        self._nc: Any = None
        self._kv: Any = None
        self._lock = threading.Lock()
        self._held: dict[int, tuple[int, float]] = {}  # partition -> (revision, monotonic time asked)
        self._reported: frozenset[int] = frozenset()
        self._listeners: list[Listener] = []
        self._events: queue.Queue[tuple[frozenset[int], frozenset[int]] | None] = queue.Queue()
        self._dispatcher = threading.Thread(target=self._dispatch, name=f"leases-{group}-listeners", daemon=True)
        self._keeper: Any = None
        self._stopping = False
        self.members: frozenset[str] = frozenset()
        """The live members at the last beat."""

    # -- the API ---------------------------------------------------------------------------------
    def add_listener(self, callback: Listener) -> None:
        """``callback(gained, lost)`` after every change of ``owned``, in order, on a thread of its own."""
        self._listeners.append(callback)

    def owned(self) -> frozenset[int]:
        """The partitions this member holds now (each renewed less than a lease ago)."""
        now = time.monotonic()
        with self._lock:
            return frozenset(p for p, (_, asked) in self._held.items() if now - asked < self.lease)

    def start(self) -> None:
        """Connect, join the group and keep beating until ``stop``; returns after the first beat."""
        self._loop.start()
        self._dispatcher.start()
        self._loop.call(self._open())
        self._loop.call(self._first_beat())
        self._keeper = self._loop.submit(self._keep())

    def stop(self) -> None:
        """Leave the group, releasing every lease now (the others take them at their next beat)."""
        if self._stopping:
            return
        self._stopping = True
        if self._keeper is not None:
            self._keeper.cancel()
            try:
                self._loop.call(self._release_all(), timeout=self.lease + 5)
            except Exception:  # noqa: BLE001 - NATS away: the leases expire on their own
                log.warning("releasing the %s leases failed; they expire within %.1fs", self.group, self.lease,
                            exc_info=True)
            try:
                self._loop.call(self._nc.close(), timeout=10)
            except Exception:  # noqa: BLE001
                log.debug("closing the leases' NATS connection failed", exc_info=True)
        with self._lock:
            self._held.clear()
        self._report()
        self._events.put(None)
        if self._dispatcher.is_alive():
            self._dispatcher.join(timeout=60)
        self._loop.stop()

    # -- the bucket ------------------------------------------------------------------------------
    async def _open(self) -> None:
        self._nc = await connect(self.settings)
        js = self._nc.jetstream(timeout=max(0.5, self.beat))
        self._kv = await ensure_bucket(js, KeyValueConfig(bucket=bucket_name(self.settings), history=1, ttl=self.lease,
                                                          replicas=self.settings.replicas, storage=StorageType.FILE))

    async def _first_beat(self) -> None:
        for attempt in range(100):  # a new bucket elects its leader within a second or two
            try:
                return await self._beat()
            except Exception as error:
                if attempt == 99:
                    raise
                log.debug("lease bucket not answering yet: %s", error)
                await asyncio.sleep(0.2)

    async def _live_members(self) -> frozenset[str]:
        prefix = f"{self.group}.members."
        try:
            keys = [k for k in await self._kv.keys() if k.startswith(prefix)]
        except NoKeysError:
            keys = []
        entries = await asyncio.gather(*(self._kv.get(k) for k in keys), return_exceptions=True)
        return frozenset(e.value.decode() for e in entries if not isinstance(e, BaseException))

    # -- beating -----------------------------------------------------------------------------------
    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.beat)
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - NATS away: leases lapse by the clock in owned()
                log.info("%s lease beat of %s failed: %s", self.group, self.member, error)
                self._drop_lapsed()
            self._report()

    def _drop_lapsed(self) -> None:
        now = time.monotonic()
        with self._lock:
            for partition in [p for p, (_, asked) in self._held.items() if now - asked >= self.lease]:
                del self._held[partition]

    async def _beat(self) -> None:
        await self._kv.put(member_key(self.group, self.member), self.member.encode())
        self.members = await self._live_members() | {self.member}
        wanted = assign(self.group, self.partitions, self.members).get(self.member, frozenset())
        with self._lock:
            held = dict(self._held)
        await asyncio.gather(*(self._renew(p, revision) if p in wanted else self._release(p, revision)
                               for p, (revision, _) in held.items()),
                             *(self._acquire(p) for p in wanted - held.keys()))
        self._drop_lapsed()
        self._report()

    async def _renew(self, partition: int, revision: int) -> None:
        asked = time.monotonic()
        try:
            revision = await self._kv.update(partition_key(self.group, partition), self.member.encode(), last=revision)
        except KeyWrongLastSequenceError:
            # It expired (this member was cut off longer than a lease) and perhaps someone took it.
            log.warning("%s lost partition %d: its lease lapsed", self.member, partition)
            with self._lock:
                self._held.pop(partition, None)
            return
        with self._lock:
            self._held[partition] = (revision, asked)

    async def _release(self, partition: int, revision: int) -> None:
        with self._lock:  # not owned from now on, whether the delete lands or the key expires
            self._held.pop(partition, None)
        try:
            await self._kv.delete(partition_key(self.group, partition), last=revision)
        except KeyWrongLastSequenceError:
            pass  # it lapsed already

    async def _acquire(self, partition: int) -> None:
        key = partition_key(self.group, partition)
        asked = time.monotonic()
        try:
            revision = await self._kv.create(key, self.member.encode())
        except KeyWrongLastSequenceError:
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                return  # released between the two requests: taken at the next beat
            if entry.value.decode() != self.member:
                return  # held by another member until it releases it or its lease expires
            # Held under this member's name by a previous run of it (restarted within a lease).
            try:
                revision = await self._kv.update(key, self.member.encode(), last=entry.revision)
            except KeyWrongLastSequenceError:
                return
        with self._lock:
            self._held[partition] = (revision, asked)

    async def _release_all(self) -> None:
        with self._lock:
            held = dict(self._held)
        await asyncio.gather(*(self._release(p, revision) for p, (revision, _) in held.items()))
        await self._kv.delete(member_key(self.group, self.member))

    # -- telling the listeners -----------------------------------------------------------------------
    def _report(self) -> None:
        now = self.owned()
        with self._lock:
            gained, lost = now - self._reported, self._reported - now
            self._reported = now
            if gained or lost:
                self._events.put((gained, lost))

    def _dispatch(self) -> None:
        while (event := self._events.get()) is not None:
            for listener in list(self._listeners):
                try:
                    listener(*event)
                except Exception:  # noqa: BLE001 - one listener's failure must not stop the others
                    log.exception("a %s lease listener failed", self.group)



class LeaseTable:
    """Who holds each partition of a group, for those outside it (a querier looking for the
    ingester that owns a partition's head). Read-only; thread-safe."""

    def __init__(self, settings: ClusterSettings, group: str, partitions: int) -> None:
        self.settings = settings
        self.group = group
        self.partitions = partitions
        self._loop = LoopThread(f"lease-table-{group}")
        self._nc: Any = None
        self._kv: Any = None

    def start(self) -> None:
        self._loop.start()
        self._loop.call(self._open())

    async def _open(self) -> None:
        self._nc = await connect(self.settings)
        js = self._nc.jetstream(timeout=max(0.5, self.settings.lease_seconds / _BEATS_PER_LEASE))
        for attempt in range(150):  # the members create the bucket
            try:
                self._kv = await js.key_value(bucket_name(self.settings))
                return
            except Exception as error:
                if attempt == 149:
                    raise
                log.debug("lease bucket not there yet: %s", error)
                await asyncio.sleep(0.2)

    def owners(self) -> dict[int, str]:
        """Partition -> the member holding its lease now (partitions nobody holds are absent)."""
        return self._loop.call(self._owners(), timeout=self.settings.lease_seconds + 5)

    async def _owners(self) -> dict[int, str]:
        entries = await asyncio.gather(*(self._kv.get(partition_key(self.group, p)) for p in range(self.partitions)),
                                       return_exceptions=True)
        found = {}
        for partition, entry in enumerate(entries):
            if isinstance(entry, KeyNotFoundError):
                continue
            if isinstance(entry, BaseException):
                raise entry
            found[partition] = entry.value.decode()
        return found

    def stop(self) -> None:
        if self._nc is not None:
            try:
                self._loop.call(self._nc.close(), timeout=10)
            except Exception:  # noqa: BLE001
                log.debug("closing the lease table's NATS connection failed", exc_info=True)
        self._loop.stop()
