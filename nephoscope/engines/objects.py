"""Object storage: whole objects put, got, listed and deleted in one S3 bucket under a prefix.

Any S3-compatible store (Ceph RGW, Swift's s3api, SeaweedFS) through pyarrow's S3 filesystem (the
AWS SDK for C++). An object is written in one request and appears whole or not at all, which is
what makes blocks and manifests safe to replace. Gets of immutable objects go through a bounded LRU
cache, since dashboards ask for the same windows again and again.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from pyarrow import fs

from nephoscope.config import ClusterSettings

T = TypeVar("T")
_TORN_READS = 8


class ObjectStore:
    def __init__(self, settings: ClusterSettings, prefix: str | None = None) -> None:
        """Objects under ``prefix`` (default ``settings.prefix``: the metric blocks) in ``settings.bucket``."""
        scheme, _, address = settings.s3_endpoint.partition("://")
        self.filesystem = fs.S3FileSystem(endpoint_override=address or scheme, scheme=scheme if address else "https",
                                          access_key=settings.s3_access_key or None,
                                          secret_key=settings.s3_secret_key or None, region=settings.s3_region,
                                          allow_bucket_creation=False, connect_timeout=5, request_timeout=60,
                                          # a flush that cannot reach the store fails within seconds and is
                                          # retried by the next one; the stream keeps the points meanwhile
                                          retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=3))
        self.root = f"{settings.bucket}/{(settings.prefix if prefix is None else prefix).strip('/')}"
        self._cache: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = settings.block_cache_bytes
        self._lock = threading.Lock()

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes) -> None:
        with self.filesystem.open_output_stream(self._path(key)) as out:
            out.write(data)

    def put_immutable(self, key: str, data: bytes) -> None:
        """Put an object never rewritten under its key, and keep it in the cache: the newest blocks
        are the ones read most (and stay readable while the object store is briefly away)."""
        self.put(key, data)
        self._remember(key, data)

    def get(self, key: str) -> bytes:
        """An object's bytes, fetched fresh (a manifest may have been replaced)."""
        with self.filesystem.open_input_stream(self._path(key)) as stream:
            return stream.read()

    def get_document(self, key: str, decode: Callable[[bytes], T]) -> T:
        """An object replaced in place (a manifest), decoded. pyarrow learns an object's size, then
        reads its bytes, in two requests: a read racing a replacement can get the new object cut at
        the old one's size (seen under load: a manifest that did not decode). Such a read is
        retried; a document still undecodable after a few tries raises the decoder's error."""
        for attempt in range(_TORN_READS):
            data = self.get(key)
            try:
                return decode(data)
            except ValueError:  # msgspec's DecodeError is one: a torn read, or a bad object
                if attempt == _TORN_READS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def get_immutable(self, key: str) -> bytes:
        """An object never rewritten under its key (a block), through the cache."""
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
                return data
        data = self.get(key)
        self._remember(key, data)
        return data

    def _remember(self, key: str, data: bytes) -> None:
        with self._lock:
            if key not in self._cache and len(data) <= self._cache_limit:
                self._cache[key] = data
                self._cache_bytes += len(data)
                while self._cache_bytes > self._cache_limit:
                    _, dropped = self._cache.popitem(last=False)
                    self._cache_bytes -= len(dropped)

    def exists(self, key: str) -> bool:
        return self.filesystem.get_file_info(self._path(key)).type == fs.FileType.File

    def delete(self, key: str) -> None:
        with self._lock:
            data = self._cache.pop(key, None)
            if data is not None:
                self._cache_bytes -= len(data)
        try:
            self.filesystem.delete_file(self._path(key))
        except FileNotFoundError:
            pass

    def list(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of the objects under ``prefix``."""
        selector = fs.FileSelector(self._path(prefix), recursive=True, allow_not_found=True)
        start = len(self.root) + 1
        return [(info.path[start:], info.size) for info in self.filesystem.get_file_info(selector)
                if info.type == fs.FileType.File]

    def older_than(self, prefix: str, seconds: float) -> list[str]:
        """Keys under ``prefix`` last written more than ``seconds`` ago (candidates for a sweep)."""
        selector = fs.FileSelector(self._path(prefix), recursive=True, allow_not_found=True)
        start = len(self.root) + 1
        cutoff = time.time() - seconds
        return [info.path[start:] for info in self.filesystem.get_file_info(selector)
                if info.type == fs.FileType.File and info.mtime is not None and info.mtime.timestamp() < cutoff]

    def cached_bytes(self) -> int:
        return self._cache_bytes
