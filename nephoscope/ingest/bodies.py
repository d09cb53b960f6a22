"""Reading request bodies within limits, and undoing their Content-Encoding.

A body larger than the limit answers 413 before it is read in full; a compressed
body that would inflate beyond the decompressed limit answers 413 too.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import cramjam
import numpy as np

from nephoscope.ingest.errors import IngestError

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def too_large(limit: int, what: str = "request body") -> IngestError:
    return IngestError(413, f"{what} exceeds the limit of {limit} bytes")


async def read_body(stream: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise IngestError(400, "Content-Length is not a number") from None
        if declared > limit:
            raise too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def _zstd_content_size(data: bytes) -> int | None:
    """Frame_Content_Size from a zstd frame header, when the compressor recorded it."""
    if len(data) < 6 or data[:4] != _ZSTD_MAGIC:
        return None
    descriptor = data[4]
    size_flag = descriptor >> 6
    single_segment = (descriptor >> 5) & 1
    dictionary_flag = descriptor & 3
    position = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dictionary_flag]
    width = (1 if single_segment else 0, 2, 4, 8)[size_flag]
    if width == 0 or len(data) < position + width:
        return None
    value = int.from_bytes(data[position:position + width], "little")
    return value + 256 if width == 2 else value


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    try:
        if encoding in ("gzip", "x-gzip", "deflate"):
            inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)
            data = inflater.decompress(body, limit + 1)
            if len(data) > limit or inflater.unconsumed_tail:
                raise too_large(limit, "decompressed body")
            return data
        if encoding == "zstd":
            declared = _zstd_content_size(body)
            if declared is not None and declared > limit:
                raise too_large(limit, "decompressed body")
            if declared is not None:
                return bytes(cramjam.zstd.decompress(body, output_len=declared))
            # No size in the header: inflate into a bounded buffer (untouched pages cost nothing).
            buffer = np.empty(limit + 1, np.uint8)
            written = cramjam.zstd.decompress_into(body, buffer)
            if written > limit:
                raise too_large(limit, "decompressed body")
            return buffer[:written].tobytes()
    except IngestError:
        raise
    except Exception as error:  # noqa: BLE001 - any codec failure is the client's corrupt body
        raise IngestError(400, f"body is not valid {encoding} data: {error}") from None
    raise IngestError(415, f"Content-Encoding {encoding!r} is not supported (use gzip, deflate or zstd)")
