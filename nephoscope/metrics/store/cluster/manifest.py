"""A partition's manifest: which blocks are current and which stream sequence they cover.

One JSON object per partition version, written once (``p<partition>/manifests/<covered>-<time>.json``)
by the partition's owner; which one is current is a key of a JetStream bucket switched by
compare-and-set (``engines.pointers``), so a previous owner cannot overwrite its successor's. A
partition never switched yet is read from ``p<partition>/manifest.json`` (written before pointers,
or by a store without them). Blocks are immutable and named by partition, window and the sequence
they cover, so a new block never overwrites a block a reader may be reading; the manifest switches
to it, and only then is the replaced block deleted. A crash between the block's upload and the
manifest's leaves an orphan object that nothing reads (swept later). ``covered`` is the stream
sequence up to which every message of the partition is in the listed blocks: replay after a
restart starts after it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import msgspec

from nephoscope.config import ClusterSettings
from nephoscope.engines.jetstream import StreamLog
from nephoscope.engines.pointers import Pointers


class BlockEntry(msgspec.Struct):
    key: str
    window_start: int
    resolutions: list[int]
    series: int
    bytes: int


class Manifest(msgspec.Struct):
    partition: int
    covered: int = 0
    blocks: dict[str, BlockEntry] = {}  # by str(window_start)


def manifest_key(partition: int) -> str:
    return f"p{partition}/manifest.json"


def manifest_pointers(log: StreamLog, settings: ClusterSettings) -> Pointers:
    """The bucket naming each partition's current manifest (beside the metric stream)."""
    return Pointers(log, f"{settings.stream}_manifests", settings.replicas)


def manifest_object_key(partition: int, covered: int) -> str:
    """A manifest written once under a name of its own (``engines.pointers`` says which is current)."""
    return f"p{partition}/manifests/{covered:020d}-{time.time_ns()}.json"


def block_key(partition: int, window_start: int, covered: int, generation: int) -> str:
    return f"p{partition}/blocks/{window_start}/{covered:020d}-{generation}.blk"


def encode(manifest: Manifest) -> bytes:
    return msgspec.json.encode(manifest)


def decode(data: bytes) -> Manifest:
    return msgspec.json.decode(data, type=Manifest)


@dataclass
class Manifests:
    """Every partition's manifest, as last read or written by this process."""

    by_partition: dict[int, Manifest] = field(default_factory=dict)

    def covered(self) -> dict[int, int]:
        return {p: m.covered for p, m in self.by_partition.items()}
