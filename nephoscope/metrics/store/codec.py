"""Byte format of a compressed time-series chunk.

This module owns the on-disk representation of one *chunk*: the points of one
series inside one time window (for example 720 raw samples for 2 h at 10 s,
or 1440 one-minute rollups for a day).  A point summarises a window of raw
samples as ``(timestamp ms, count, sum, min, max, last)``; a raw sample is a
window of one (``count == 1`` and ``sum == min == max == last``, bit for bit).
Nothing else in the store should know how the bytes are laid out.

Everything is lossless and bit exact: every finite float64 (``-0.0``,
subnormals, ``1e308``; in fact any bit pattern) and every int64 timestamp
comes back unchanged.

Layout (``u8`` = one byte, ``varint`` = unsigned LEB128, ``zvarint`` =
zigzag LEB128, fixed-width integers little endian)::

    chunk      := version:u8 (=1)  kind:u8  n:varint  timestamps  body
    body       := kind 0 (RAW):     column(value)        sum = min = max = last
                | kind 1 (SUMMARY): ints(count) column(min) column(max)
                                    column(last) column(sum)
    timestamps := 0x00 ints(t)
                | 0x01 base:zvarint step:varint ints(q) ints(r)
                       t = base + q * step + r        (regular grid + jitter)
    column     := 0x00 ints(bits)          the float64 bit patterns
                | 0x01 i:u8                same bits as float column i of this chunk
                | 0x02 d:u8 ints(k) ints(u)
                | 0x03 d:u8 i:u8 ints(k - k_i) ints(u)
                | 0x04 d:u8 i:u8 j:u8 ints(k - ((count * (k_i + k_j)) >> 1)) ints(u)
                       decimal forms: bits = bits(float64(k) / 10**d) + u, where
                       the ULP fix u is 0 for exact decimals (cpu %, integral
                       bytes) and tiny for sums of decimals; 0x03 / 0x04 predict
                       k from earlier decimal columns with the same d (last and
                       max from min; sum from count * (min + max) / 2)
    ints       := 0x00 pack                n int64 values (or float64 bits)
                | 0x01 len:varint pcodec   standalone pcodec (int32, int64 or
                                           float64) without its "pco!" magic
                | 0x02 len:varint 0x00 zstd(pack) without the zstd magic
    pack       := order:u8 head:zvarint*order lo:zvarint width:u8 payload
                       the order-th wrapping difference minus lo, each in
                       width (0, 1, 2, 4 or 8) bytes; width 0 means constant
                       differences: constant or arithmetic columns cost bytes,
                       not bits, per chunk

All arithmetic on ints (differences, predictions, fixes) wraps modulo 2**64,
so every transform is a bijection on bit patterns.  For each stream the
encoder tries the packed form, pcodec with delta orders 0, 1, 2 (and an
order-2 learned predictor for values that fit int32) and zstd, and keeps the
smallest; decoders only dispatch on tags, so encoder heuristics can change
without a format change.  Bump ``FORMAT_VERSION`` for any layout change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cramjam
import numpy as np
from pcodec import ChunkConfig, DeltaSpec, standalone

__all__ = [
    "FORMAT_VERSION",
    "MAX_ROWS",
    "ChunkColumns",
    "CodecError",
    "decode_chunk",
    "decode_chunks",
    "encode_chunk",
    "encode_chunks",
]

FORMAT_VERSION = 1
MAX_ROWS = 1 << 24  # rows per chunk; bounds what a corrupt header can allocate

_KIND_RAW = 0
_KIND_SUMMARY = 1

_TS_PLAIN = 0
_TS_GRID = 1

_COL_BITS = 0
_COL_REF = 1
_COL_DEC = 2
_COL_DEC_REL = 3
_COL_DEC_MID = 4

_S_PACK = 0
_S_PCO = 1
_S_ZSTD = 2

_PCO_MAGIC = b"pco!"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_PCO_LEVEL = 8
_ZSTD_LEVEL = 3  # zstd rarely wins (short, sparse streams); higher levels gain ~nothing
_MAX_DECIMALS = 6
_DECIMAL_BONUS = 8
_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1
_U64 = 2**64
_WIDTH_DTYPES = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8")}
_POW10 = [float(10**d) for d in range(_MAX_DECIMALS + 1)]


class CodecError(ValueError):
    """A blob is not a valid chunk (corrupt, truncated or from a newer format)."""


@dataclass(frozen=True, slots=True)
class ChunkColumns:
    """Columns of a chunk; all arrays have the same length.

    ``timestamps`` are int64 milliseconds, strictly increasing inside a series;
    ``count`` is int64 (>= 1); ``sum``, ``min``, ``max`` and ``last`` are
    float64.
    """

    timestamps: np.ndarray
    count: np.ndarray
    sum: np.ndarray
    min: np.ndarray
    max: np.ndarray
    last: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    @classmethod
    def raw(cls, timestamps: np.ndarray, values: np.ndarray) -> ChunkColumns:
        """Columns for raw samples: windows of one sample each."""
        ts = np.ascontiguousarray(timestamps, dtype=np.int64)
        v = np.ascontiguousarray(values, dtype=np.float64)
        return cls(ts, np.ones(ts.shape[0], dtype=np.int64), v, v, v, v)


# --------------------------------------------------------------------------
# varints


def _put_varint(out: bytearray, v: int) -> None:
    if v < 0:
        raise ValueError("varint must be non-negative")
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _put_zvarint(out: bytearray, v: int) -> None:
    _put_varint(out, 2 * v if v >= 0 else -2 * v - 1)


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self.buf = memoryview(buf)
        self.pos = 0

    def u8(self) -> int:
        if self.pos >= len(self.buf):
            raise CodecError("truncated chunk")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = 0
        v = 0
        while True:
            b = self.u8()
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7
            if shift > 70:
                raise CodecError("varint too long")

    def zvarint(self) -> int:
        z = self.varint()
        return z >> 1 if not z & 1 else -((z + 1) >> 1)

    def take(self, size: int) -> memoryview:
        end = self.pos + size
        if size < 0 or end > len(self.buf):
            raise CodecError("truncated chunk")
        view = self.buf[self.pos : end]
        self.pos = end
        return view


def _i64(v: int) -> int:
    """Wrap a Python int into the signed int64 range."""
    v %= _U64
    return v - _U64 if v >= 2**63 else v


# --------------------------------------------------------------------------
# integer streams (int64 arrays of known length; floats travel as bit patterns)


def _pack(a: np.ndarray, order: int) -> tuple[bytes, int]:
    """Packed form of ``a`` after ``order`` wrapping differences; returns (bytes, width)."""
    out = bytearray((order,))
    d = a
    for _ in range(order):
        _put_zvarint(out, int(d[0]))
        d = np.diff(d)  # wraps on overflow, inverted by a wrapping cumsum
    if d.size == 0:
        _put_zvarint(out, 0)
        out.append(0)
        return bytes(out), 0
    lo = int(d.min())
    u = (d - np.int64(lo)).view(np.uint64)
    hi = int(u.max())
    width = 0 if hi == 0 else 1 if hi < 2**8 else 2 if hi < 2**16 else 4 if hi < 2**32 else 8
    _put_zvarint(out, lo)
    out.append(width)
    if width:
        out += u.astype(_WIDTH_DTYPES[width]).tobytes()
    return bytes(out), width


def _unpack(r: _Reader, n: int) -> np.ndarray:
    order = r.u8()
    if order > 8:
        raise CodecError("bad pack order")
    heads = [r.zvarint() for _ in range(order)]
    lo = r.zvarint()
    width = r.u8()
    m = n - order if n > order else 0
    if width == 0:
        d = np.full(m, _i64(lo), dtype=np.int64)
    else:
        dt = _WIDTH_DTYPES.get(width)
        if dt is None:
            raise CodecError("bad pack width")
        u = np.frombuffer(r.take(m * width), dtype=dt).astype(np.uint64)
        u += np.uint64(lo % _U64)
        d = u.view(np.int64)
    for h in reversed(heads):
        full = np.empty(d.size + 1, dtype=np.int64)
        full[0] = _i64(h)
        full[1:] = d
        d = np.cumsum(full, dtype=np.int64)
    return d[:n]


def _pco_config(order: int, conv: int) -> ChunkConfig:
    if conv:
        spec = DeltaSpec.try_conv1(conv)
    elif order == 0:
        spec = DeltaSpec.no_op()
    else:
        spec = DeltaSpec.try_consecutive(order)
    return ChunkConfig(compression_level=_PCO_LEVEL, delta_spec=spec)


_PCO_CONFIGS: dict[tuple[int, int], ChunkConfig] = {}


def _pco(arr: np.ndarray, order: int, conv: int = 0) -> bytes:
    """Standalone pcodec bytes without the magic; delta ``order`` or a ``conv``-order predictor."""
    key = (order, conv)
    cfg = _PCO_CONFIGS.get(key)
    if cfg is None:
        cfg = _PCO_CONFIGS[key] = _pco_config(order, conv)
    blob = standalone.simple_compress(arr, cfg)
    if blob[: len(_PCO_MAGIC)] != _PCO_MAGIC:  # the decoder puts the magic back
        raise RuntimeError("unexpected pcodec standalone header")
    return blob[len(_PCO_MAGIC) :]


def _enc_stream(a: np.ndarray, as_float: bool = False) -> bytes:
    """Smallest encoding of an int64 array (or of float64 bit patterns)."""
    n = a.size
    candidates: list[bytes] = []
    best_pack = None
    for order in range(min(3, n)):
        p, width = _pack(a, order)
        if width == 0:  # constant (order 0) or arithmetic progression (order 1)
            return bytes((_S_PACK,)) + p
        if best_pack is None or len(p) < len(best_pack):
            best_pack = p
    if best_pack is None:
        best_pack, _ = _pack(a, 0)
    candidates.append(bytes((_S_PACK,)) + best_pack)
    if n >= 4:
        if as_float:
            src = a.view(np.float64)
        elif _I32_MIN <= int(a.min()) and int(a.max()) <= _I32_MAX:
            src = a.astype(np.int32)  # faster, and needed by the conv1 predictor
        else:
            src = a
        for order in (0, 1, 2):
            if order < n - 1:
                candidates.append(_wrap(_S_PCO, _pco(src, order)))
        if src.dtype == np.int32 and n >= 256:
            # a learned order-2 predictor: a few % better on noisy gauges
            candidates.append(_wrap(_S_PCO, _pco(src, 0, conv=2)))
        z = bytes(cramjam.zstd.compress(best_pack, level=_ZSTD_LEVEL))
        if z[:4] == _ZSTD_MAGIC:
            candidates.append(_wrap(_S_ZSTD, bytes((_S_PACK,)) + z[4:]))
    return min(candidates, key=len)


def _wrap(tag: int, payload: bytes) -> bytes:
    out = bytearray((tag,))
    _put_varint(out, len(payload))
    out += payload
    return bytes(out)


def _dec_stream(r: _Reader, n: int) -> np.ndarray:
    tag = r.u8()
    if tag == _S_PACK:
        return _unpack(r, n)
    if tag == _S_PCO:
        size = r.varint()
        payload = _PCO_MAGIC + bytes(r.take(size))
        try:
            arr = standalone.simple_decompress(payload)
        except Exception as exc:  # pcodec reports corrupt input as RuntimeError
            raise CodecError(f"corrupt pcodec stream: {exc}") from exc
        if arr is None:
            arr = np.empty(0, dtype=np.int64)
        if arr.shape[0] != n:
            raise CodecError("pcodec stream has the wrong length")
        if arr.dtype == np.float64:
            return arr.view(np.int64)
        return arr.astype(np.int64, copy=False)
    if tag == _S_ZSTD:
        size = r.varint()
        inner_tag = r.u8()
        if inner_tag != _S_PACK:
            raise CodecError("bad zstd inner stream")
        try:
            raw = bytes(cramjam.zstd.decompress(_ZSTD_MAGIC + bytes(r.take(size - 1))))
        except Exception as exc:  # cramjam raises its own error type
            raise CodecError(f"corrupt zstd stream: {exc}") from exc
        return _unpack(_Reader(raw), n)
    raise CodecError(f"unknown stream tag {tag}")


# --------------------------------------------------------------------------
# timestamps


def _enc_timestamps(t: np.ndarray) -> bytes:
    """Timestamps: plain, or as a regular grid (q * step) plus small jitter."""
    n = t.size
    if n < 3:
        return bytes((_TS_PLAIN,)) + _enc_stream(t)
    diffs = np.diff(t)
    span = int(t[-1]) - int(t[0])
    if not np.any(diffs != diffs[0]) or span <= 0 or span >= 2**62:
        return bytes((_TS_PLAIN,)) + _enc_stream(t)  # perfectly regular: a few bytes
    step = int(np.median(diffs))
    if step <= 1:
        return bytes((_TS_PLAIN,)) + _enc_stream(t)
    base = int(t[0])
    rel = t - np.int64(base)
    q = (rel + np.int64(step // 2)) // np.int64(step)
    r = rel - q * np.int64(step)
    grid = bytearray((_TS_GRID,))
    _put_zvarint(grid, base)
    _put_varint(grid, step)
    grid += _enc_stream(q)
    grid += _enc_stream(r)
    if int(np.abs(r).max()) <= step // 16:
        return bytes(grid)  # jitter small next to the step: the grid form wins
    plain = bytes((_TS_PLAIN,)) + _enc_stream(t)
    return bytes(grid) if len(grid) < len(plain) else plain


def _dec_timestamps(r: _Reader, n: int) -> np.ndarray:
    tag = r.u8()
    if tag == _TS_PLAIN:
        return _dec_stream(r, n)
    if tag == _TS_GRID:
        base = r.zvarint()
        step = r.varint()
        q = _dec_stream(r, n)
        res = _dec_stream(r, n)
        t = q * np.int64(_i64(step))
        t += res
        t += np.int64(_i64(base))
        return t
    raise CodecError(f"unknown timestamp tag {tag}")


# --------------------------------------------------------------------------
# float columns


@dataclass(slots=True)
class _Col:
    """A float column already written in this chunk (target of references)."""

    x: np.ndarray
    dec: tuple[int, np.ndarray] | None  # (d, k) when stored as k / 10**d + fix


def _decimal_at(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(k, fix) with bits(x) == bits(float64(k) / 10**d) + fix, or None if out of range."""
    scale = _POW10[d]
    if x.size and float(np.abs(x).max()) * scale >= 2.0**53:
        return None
    k = np.rint(x * scale).astype(np.int64)
    # exactly what the decoder computes (from the integers: rint(-0.0) is -0.0)
    y = _from_decimal(d, k, None)
    return k, x.view(np.int64) - y.view(np.int64)


def _decimal_fit(x: np.ndarray) -> int | None:
    """Fewest decimals d for which (nearly) every value is exactly k / 10**d."""
    if x.size == 0:
        return None
    bits = x.view(np.int64)
    amax = float(np.abs(x).max())
    best_d, best_exact = None, -1
    for d in range(_MAX_DECIMALS + 1):
        scale = _POW10[d]
        if amax * scale >= 2.0**53:
            break
        kf = np.rint(x * scale)
        y = kf / scale if d else kf
        exact = int(np.count_nonzero(bits == y.view(np.int64)))
        if exact > best_exact + x.size // 50:
            best_d, best_exact = d, exact
        if exact == x.size:
            break
    if best_d is None or 2 * best_exact < x.size:
        return None
    return best_d


def _from_decimal(d: int, k: np.ndarray, fix: np.ndarray | None) -> np.ndarray:
    """bits(float64(k) / 10**d) + fix, as float64 (IEEE division: exact same result everywhere)."""
    y = k.astype(np.float64)
    if d:
        y /= _POW10[d]
    if fix is not None:
        b = y.view(np.int64)
        b += fix
    return y


def _mid(count: np.ndarray, ka: np.ndarray, kb: np.ndarray) -> np.ndarray:
    """Prediction of a window's sum from its min and max: count * (min + max) / 2.

    Plain wrapping int64 arithmetic: only needs to be the same on both sides.
    """
    return (count * (ka + kb)) >> 1


def _enc_float_column(
    x: np.ndarray, earlier: list[_Col], count: np.ndarray | None
) -> tuple[bytes, _Col]:
    """Smallest encoding of one float column.

    ``earlier`` holds the columns already written (for references); ``count``
    is given in summary mode, for the sum-from-min-and-max prediction.
    """
    bits = x.view(np.int64)
    for idx, prev in enumerate(earlier):
        if np.array_equal(prev.x.view(np.int64), bits):
            return bytes((_COL_REF, idx)), _Col(x, prev.dec)
    best: bytes | None = None
    best_dec: tuple[int, np.ndarray] | None = None
    exact = False
    own = _decimal_fit(x)
    ds = {c.dec[0] for c in earlier if c.dec is not None}
    if own is not None:
        ds.add(own)
    for d in sorted(ds):
        kf = _decimal_at(x, d)
        if kf is None:
            continue
        k, fix = kf
        fix_exact = not np.any(fix)
        fix_bytes = _enc_stream(fix)
        if len(fix_bytes) > 4 * x.size + 8:  # worse than half of the raw bits
            continue
        cands = [bytes((_COL_DEC, d)) + _enc_stream(k)]
        refs = [i for i, c in enumerate(earlier) if c.dec is not None and c.dec[0] == d]
        for i in refs:
            cands.append(bytes((_COL_DEC_REL, d, i)) + _enc_stream(k - earlier[i].dec[1]))  # type: ignore[index]
        if count is not None and len(refs) >= 2:
            a, b = refs[0], refs[1]
            pred = _mid(count, earlier[a].dec[1], earlier[b].dec[1])  # type: ignore[index]
            cands.append(bytes((_COL_DEC_MID, d, a, b)) + _enc_stream(k - pred))
        cand = min(cands, key=len) + fix_bytes
        if best is None or len(cand) < len(best):
            best, best_dec, exact = cand, (d, k), fix_exact
    if best is None or not exact:
        # not (exactly) decimal: also try the float bit patterns themselves;
        # a decimal column can be referenced by later ones, so it wins near ties
        plain = bytes((_COL_BITS,)) + _enc_stream(bits, as_float=True)
        if best is None or len(plain) + _DECIMAL_BONUS < len(best):
            best, best_dec = plain, None
    return best, _Col(x, best_dec)


def _dec_float_column(r: _Reader, n: int, earlier: list[_Col], count: np.ndarray | None) -> _Col:
    tag = r.u8()
    if tag == _COL_BITS:
        return _Col(_dec_stream(r, n).view(np.float64), None)
    if tag == _COL_REF:
        prev = earlier[_index(r, earlier)]
        return _Col(prev.x, prev.dec)
    if tag not in (_COL_DEC, _COL_DEC_REL, _COL_DEC_MID):
        raise CodecError(f"unknown column tag {tag}")
    d = r.u8()
    if d > _MAX_DECIMALS:
        raise CodecError("bad decimal exponent")
    if tag == _COL_DEC:
        k = _dec_stream(r, n)
    elif tag == _COL_DEC_REL:
        base = _ref_decimal(earlier[_index(r, earlier)], d)
        k = _dec_stream(r, n)
        k += base
    else:
        ka = _ref_decimal(earlier[_index(r, earlier)], d)
        kb = _ref_decimal(earlier[_index(r, earlier)], d)
        if count is None:
            raise CodecError("sum prediction outside a summary chunk")
        k = _dec_stream(r, n)
        k += _mid(count, ka, kb)
    fix = _dec_stream(r, n)
    return _Col(_from_decimal(d, k, fix), (d, k))


def _index(r: _Reader, earlier: list[_Col]) -> int:
    idx = r.u8()
    if idx >= len(earlier):
        raise CodecError("bad column reference")
    return idx


def _ref_decimal(col: _Col, d: int) -> np.ndarray:
    if col.dec is None or col.dec[0] != d:
        raise CodecError("reference to a column without that decimal form")
    return col.dec[1]


# --------------------------------------------------------------------------
# chunks


def _as_columns(columns: ChunkColumns) -> tuple[np.ndarray, ...]:
    ts = np.ascontiguousarray(columns.timestamps, dtype=np.int64)
    n = ts.shape[0]
    cols = [ts, np.ascontiguousarray(columns.count, dtype=np.int64)]
    for a in (columns.sum, columns.min, columns.max, columns.last):
        cols.append(np.ascontiguousarray(a, dtype=np.float64))
    for a in cols:
        if a.ndim != 1 or a.shape[0] != n:
            raise ValueError("all chunk columns must be 1-D arrays of the same length")
    return tuple(cols)


def _is_raw(count: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray, last: np.ndarray) -> bool:
    if not np.all(count == 1):
        return False
    sb = s.view(np.int64)
    return (
        np.array_equal(sb, lo.view(np.int64))
        and np.array_equal(sb, hi.view(np.int64))
        and np.array_equal(sb, last.view(np.int64))
    )


def _encode(ts: np.ndarray, count: np.ndarray, s: np.ndarray, lo: np.ndarray, hi: np.ndarray, last: np.ndarray) -> bytes:
    n = ts.shape[0]
    if n > MAX_ROWS:
        raise ValueError(f"a chunk holds at most {MAX_ROWS} rows, got {n}")
    raw = _is_raw(count, s, lo, hi, last)
    out = bytearray((FORMAT_VERSION, _KIND_RAW if raw else _KIND_SUMMARY))
    _put_varint(out, n)
    out += _enc_timestamps(ts)
    if raw:
        col, _ = _enc_float_column(s, [], None)
        out += col
        return bytes(out)
    out += _enc_stream(count)
    earlier: list[_Col] = []
    for x in (lo, hi, last, s):  # min and max first: they predict last and sum
        col, written = _enc_float_column(x, earlier, count)
        out += col
        earlier.append(written)
    return bytes(out)


def _decode(blob: bytes | bytearray | memoryview) -> tuple[np.ndarray, ...]:
    r = _Reader(blob)
    version = r.u8()
    if version != FORMAT_VERSION:
        raise CodecError(f"unsupported chunk format version {version}")
    kind = r.u8()
    n = r.varint()
    if n > MAX_ROWS:
        raise CodecError(f"chunk claims {n} rows, more than {MAX_ROWS}")
    ts = _dec_timestamps(r, n)
    if kind == _KIND_RAW:
        v = _dec_float_column(r, n, [], None).x
        cols = (ts, np.ones(n, dtype=np.int64), v, v, v, v)
    elif kind == _KIND_SUMMARY:
        count = _dec_stream(r, n)
        earlier: list[_Col] = []
        for _ in range(4):
            earlier.append(_dec_float_column(r, n, earlier, count))
        lo, hi, last, s = (c.x for c in earlier)
        cols = (ts, count, s, lo, hi, last)
    else:
        raise CodecError(f"unknown chunk kind {kind}")
    if r.pos != len(r.buf):
        raise CodecError("trailing bytes after chunk")
    return cols


def encode_chunk(columns: ChunkColumns) -> bytes:
    """Encode one series' chunk into its self-describing byte format.

    Chunks of raw samples (every count 1 and sum, min, max and last equal bit
    for bit) are stored in raw mode: timestamps and one value column.
    """
    return _encode(*_as_columns(columns))


def decode_chunk(blob: bytes) -> ChunkColumns:
    """Decode a chunk produced by :func:`encode_chunk` (bit exact).

    The returned arrays are read-only because columns may share memory (in a
    raw chunk ``sum``, ``min``, ``max`` and ``last`` are one array); copy
    before modifying.  Raises :class:`CodecError` for invalid blobs.
    """
    cols = _decode(blob)
    for a in cols:
        a.flags.writeable = False
    return ChunkColumns(*cols)


def encode_chunks(offsets: np.ndarray, columns: ChunkColumns) -> list[bytes]:
    """Encode many series at once.

    ``columns`` holds the series concatenated (each series' rows contiguous
    and sorted by timestamp); ``offsets`` (length ``n_series + 1``) gives the
    row boundaries.  Returns one blob per series, identical to what
    :func:`encode_chunk` returns for that series alone.
    """
    cols = _as_columns(columns)
    off = np.asarray(offsets, dtype=np.int64)
    if off.ndim != 1 or off.size == 0:
        raise ValueError("offsets must be a 1-D array of length n_series + 1")
    if off[0] != 0 or off[-1] != cols[0].shape[0] or np.any(np.diff(off) < 0):
        raise ValueError("offsets must start at 0, end at the row count and not decrease")
    bounds = off.tolist()
    return [_encode(*(c[a:b] for c in cols)) for a, b in zip(bounds[:-1], bounds[1:])]


def decode_chunks(blobs: Sequence[bytes]) -> tuple[np.ndarray, ChunkColumns]:
    """Decode many blobs; returns (rows per blob, the concatenated columns).

    The concatenated arrays are fresh and writable.  Raises :class:`CodecError`
    if any blob is invalid.
    """
    decoded = [_decode(b) for b in blobs]
    lengths = np.fromiter((d[0].shape[0] for d in decoded), dtype=np.int64, count=len(decoded))
    if not decoded:
        empty_i = np.empty(0, dtype=np.int64)
        empty_f = np.empty(0, dtype=np.float64)
        return lengths, ChunkColumns(empty_i, empty_i.copy(), empty_f, empty_f.copy(), empty_f.copy(), empty_f.copy())
    merged = [np.concatenate([d[i] for d in decoded]) for i in range(6)]
    return lengths, ChunkColumns(*merged)
