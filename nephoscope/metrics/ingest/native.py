"""The native columnar batch (``POST /v1/points``) to a columnar batch.

A body (JSON or msgpack) carries a small table of series and, per point, columns:
``series_index``, ``timestamp`` and either ``value`` (raw samples) or the summary
columns ``count``, ``sum``, ``min``, ``max``, ``last``. Each column is a list of
numbers or, faster, little-endian binary (uint32 index, int64 ms, uint32 count,
float64 values) — msgpack bin, or base64 text in JSON. Decoding costs per series,
never per point: columns become NumPy arrays without a Python loop.
"""

from __future__ import annotations

import msgspec
import numpy as np

from nephoscope.errors import invalid, malformed
from nephoscope.metrics.ingest import validation
from nephoscope.metrics.ingest.monasca import _where
from nephoscope.metrics.ingest.seriescache import SeriesCache
from nephoscope.metrics.ingest.timewindow import TimeWindow
from nephoscope.metrics.series import IngestBatch, NewSeries, PointBatch, SeriesDefinition, ValueMeta, define_series

Column = bytes | list[float]
IntColumn = bytes | list[int]


class NativeSeries(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    dimensions: dict[str, str] = {}


class NativeBatch(msgspec.Struct, forbid_unknown_fields=True):
    """The native body. Binary columns are little-endian: series_index uint32,
    timestamp int64 (ms since the epoch), count uint32, the rest float64."""

    series: list[msgspec.Raw]  # each a NativeSeries; decoded only when not seen before
    series_index: IntColumn
    timestamp: IntColumn
    value: Column | None = None
    count: IntColumn | None = None
    sum: Column | None = None
    min: Column | None = None
    max: Column | None = None
    last: Column | None = None
    tenant_id: str | None = None


_JSON = msgspec.json.Decoder(NativeBatch)
_MSGPACK = msgspec.msgpack.Decoder(NativeBatch)
_SERIES_JSON = msgspec.json.Decoder(NativeSeries)
_SERIES_MSGPACK = msgspec.msgpack.Decoder(NativeSeries)
_SUMMARY = ("count", "sum", "min", "max", "last")


def parse(body: bytes, content_type: str) -> NativeBatch:
    decoder = _MSGPACK if "msgpack" in content_type else _JSON
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as error:
        field, message = _where(str(error))
        raise invalid(field.replace("metrics", "body", 1), message) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        kind = "msgpack" if decoder is _MSGPACK else "JSON"
        raise malformed(f"body is not valid {kind}: {error}") from None


def _column(data: bytes | list, dtype: str, name: str, length: int | None) -> np.ndarray:
    if isinstance(data, bytes):
        width = np.dtype(dtype).itemsize
        if len(data) % width:
            raise invalid(name, f"binary column of {len(data)} bytes is not a whole number of {width}-byte values")
        array = np.frombuffer(data, dtype=dtype)
    else:
        try:
            array = np.asarray(data, dtype=np.dtype(dtype).newbyteorder("="))
        except (TypeError, ValueError, OverflowError) as error:
            raise invalid(name, f"not a list of numbers ({error})") from None
        if array.ndim != 1:
            raise invalid(name, "must be a flat list of numbers")
    if length is not None and array.shape[0] != length:
        raise invalid(name, f"has {array.shape[0]} values; series_index has {length}")
    return array


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _define(tenant: str, raw: bytes, index: int, binary: bool) -> SeriesDefinition:
    where = f"series[{index}]"
    try:
        series = (_SERIES_MSGPACK if binary else _SERIES_JSON).decode(raw)
    except msgspec.ValidationError as error:
        field, message = _where(str(error))
        raise invalid(where + field.removeprefix("metrics"), message) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise invalid(where, f"not a valid series object: {error}") from None
    validation.check_name(series.name, where + ".name")
    validation.check_dimensions(series.dimensions, where + ".dimensions")
    return define_series(tenant, series.name, series.dimensions)


def to_ingest_batch(batch: NativeBatch, tenant: str, new_series: NewSeries, window: TimeWindow,
                    cache: SeriesCache, binary: bool) -> IngestBatch:
    keys = [bytes(raw) for raw in batch.series]
    id_list, defined = cache.resolve(tenant, keys, lambda index, key: _define(tenant, key, index, binary))
    ids = np.array(id_list, np.int64)

    index_column = _column(batch.series_index, "<u4", "series_index", None)
    length = index_column.shape[0]
    if length and int(index_column.max()) >= len(keys):
        position = _first(index_column >= len(keys))
        raise invalid(f"series_index[{position}]", f"{int(index_column[position])} is not an index into series "
                      f"(which has {len(keys)} entries)")
    timestamps = _column(batch.timestamp, "<i8", "timestamp", length)
    window.check(timestamps, "timestamp", "")

    series_ids = ids[index_column] if length else np.empty(0, np.int64)
    if batch.value is not None:
        if any(getattr(batch, name) is not None for name in _SUMMARY):
            raise invalid("value", "give either value (raw samples) or count/sum/min/max/last, not both")
        values = _column(batch.value, "<f8", "value", length).astype(np.float64)
        if not np.isfinite(values).all():
            raise invalid(f"value[{_first(~np.isfinite(values))}]", "not a finite number")
        points = PointBatch(series_ids, timestamps.astype(np.int64), value=values)
    else:
        missing = [name for name in _SUMMARY if getattr(batch, name) is None]
        if missing:
            raise invalid(missing[0], "summary points need count, sum, min, max and last (or give value)")
        count = _column(batch.count, "<u4", "count", length).astype(np.int64)
        columns = {name: _column(getattr(batch, name), "<f8", name, length).astype(np.float64)
                   for name in ("sum", "min", "max", "last")}
        if length and count.min() < 1:
            raise invalid(f"count[{_first(count < 1)}]", "a window summarises at least one sample")
        for name, column in columns.items():
            if not np.isfinite(column).all():
                raise invalid(f"{name}[{_first(~np.isfinite(column))}]", "not a finite number")
        if (columns["min"] > columns["max"]).any():
            raise invalid(f"min[{_first(columns['min'] > columns['max'])}]", "min is greater than max")
        outside = (columns["last"] < columns["min"]) | (columns["last"] > columns["max"])
        if outside.any():
            raise invalid(f"last[{_first(outside)}]", "last lies outside [min, max]")
        points = PointBatch(series_ids, timestamps.astype(np.int64), count=count, **columns)
    new = new_series(list({d.id: d for d in defined.values()}.values()))
    return IngestBatch(new, points, ValueMeta(), tenant, defined)
