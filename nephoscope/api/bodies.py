"""Reading request bodies within limits, undoing their Content-Encoding, and parsing JSON ones.

A body larger than the limit answers 413 (``read_body``: read to its end and dropped, so that the
client hears the answer); a compressed body that would inflate beyond the decompressed limit answers
413 too. A body that is
not JSON, or not the JSON object an endpoint needs, answers 400 saying so.
"""

from __future__ import annotations

import time
import zlib

import orjson
import zstandard
from starlette.requests import Request

from nephoscope.errors import Rejected


def too_large(limit: int, what: str = "request body") -> Rejected:
    return Rejected(413, f"{what} exceeds the limit of {limit} bytes")


# A refused body is still read (and dropped) up to these bounds before the 413 is sent: a client
# still sending when the server answers and closes (urllib always asks to close) gets a connection
# reset instead of the answer. Beyond them the server stops reading: a reset is then the price of
# an absurd body.
DRAIN_BYTES = 256 * 2**20
DRAIN_SECONDS = 30.0


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 once it exceeds ``limit`` bytes — read to its end (within the drain
    bounds) so that every ordinary client hears the 413. A client that sent ``Expect: 100-continue``
    has sent nothing yet: it is answered at once."""
    content_length = request.headers.get("content-length")
    declared = None
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise Rejected(400, "Content-Length is not a number") from None
    refused = declared is not None and declared > limit
    if refused and request.headers.get("expect", "").lower() == "100-continue":
        raise too_large(limit)
    parts: list[bytes] = []
    size = 0
    deadline = time.monotonic() + DRAIN_SECONDS
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            refused = True
        if refused:
            if size > DRAIN_BYTES or time.monotonic() > deadline:
                break
            continue
        parts.append(chunk)
    if refused:
        raise too_large(limit)
    return b"".join(parts)


def _inflate_zlib(body: bytes, encoding: str, limit: int) -> bytes:
    """gzip (every member, as gzip -d does) or deflate, stopping at ``limit`` bytes of output."""
    output, size, data = [], 0, body
    while True:
        inflater = zlib.decompressobj(wbits=31 if encoding != "deflate" else 15)
        chunk = inflater.decompress(data, limit + 1 - size)
        size += len(chunk)
        output.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise too_large(limit, "decompressed body")
        if not inflater.eof:
            raise Rejected(400, f"body is not valid {encoding} data: it ends before the compressed stream does")
        data = inflater.unused_data
        if encoding == "deflate" or not data.strip(b"\0"):
            return b"".join(output)


def _inflate_zstd(body: bytes, limit: int) -> bytes:
    """Every zstd frame, whether or not its header declares a size, stopping at ``limit`` bytes."""
    reader = zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True)
    output, size = [], 0
    while True:
        chunk = reader.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            return b"".join(output)
        size += len(chunk)
        output.append(chunk)
        if size > limit:
            raise too_large(limit, "decompressed body")


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate", "zstd"):
        raise Rejected(415, f"Content-Encoding {encoding!r} is not supported (use gzip, deflate or zstd)")
    try:
        if encoding == "zstd":
            return _inflate_zstd(body, limit)
        return _inflate_zlib(body, "deflate" if encoding == "deflate" else "gzip", limit)
    except Rejected:
        raise
    except (zlib.error, zstandard.ZstdError) as error:
        raise Rejected(400, f"body is not valid {encoding} data: {error}") from None


def parse_json(body: bytes) -> object:
    """A JSON document, or 400 naming what is wrong with it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Rejected(400, f"the body is not valid JSON: {error}") from None


async def json_object(request: Request, limit: int) -> dict:
    """The request's body as a JSON object (400 otherwise), read within ``limit`` bytes."""
    body = parse_json(await read_body(request, limit))
    if not isinstance(body, dict):
        raise Rejected(400, "the body must be a JSON object")
    return body
