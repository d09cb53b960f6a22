"""Object storage reads: a manifest read racing its replacement (pyarrow reads the size, then the
bytes) is read again rather than taken for a broken document."""

from __future__ import annotations

import msgspec
import pytest

from nephoscope.config import ClusterSettings
from nephoscope.engines.objects import ObjectStore


class Racing(ObjectStore):
    """The store as seen while a writer replaces ``key``: the first reads cut at the old size."""

    def __init__(self, reads: list[bytes]) -> None:
        super().__init__(ClusterSettings(servers=["nats://127.0.0.1:4222"], s3_endpoint="http://127.0.0.1:1"))
        self.reads = reads
        self.count = 0

    def get(self, key: str) -> bytes:
        self.count += 1
        return self.reads.pop(0)


def test_a_torn_read_is_read_again() -> None:
    whole = msgspec.json.encode({"partition": 3, "covered": 1200, "parts": [{"key": "p3/a"}, {"key": "p3/b"}]})
    store = Racing([whole[:17], whole[:40], whole])
    assert store.get_document("p3/manifest.json", msgspec.json.decode) == msgspec.json.decode(whole)
    assert store.count == 3


def test_a_document_that_never_decodes_raises_its_error() -> None:
    store = Racing([b"{not json"] * 8)
    with pytest.raises(msgspec.DecodeError):
        store.get_document("p3/manifest.json", msgspec.json.decode)
    assert store.count == 8
