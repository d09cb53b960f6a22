"""A partition's manifest: which blocks are current and which stream sequence they cover.

One JSON object per partition (``p<partition>/manifest.json``), replaced whole by the partition's one
writer (the ingester owning it; leases are issue 21's next step). Blocks are immutable and named by
partition, window and the sequence they cover, so a new block never overwrites a block a reader may
be reading; the manifest switches to it in one PUT, and only then is the replaced block deleted. A
crash between the block's upload and the manifest's leaves an orphan object that nothing reads
(collected by a later sweep). ``covered`` is the stream sequence up to which every message of the
partition is in the listed blocks: replay after a restart starts after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec


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
