"""Monasca v2.0 ``POST /metrics`` bodies to a columnar batch.

Accepts exactly what Monasca accepts: one metric object or a list of them, int or
float millisecond timestamps, ``value_meta`` as an object or null, Monasca's
character and length rules. The request is all-or-nothing, as in Monasca: the first
invalid metric answers 422 naming its index and field.

The hot path decodes with msgspec (in C) and resolves series through a cache keyed
by the raw bytes of each metric's dimensions, so a known series costs one dict
lookup; names and dimensions are parsed and validated only for series not seen yet.
"""

from __future__ import annotations

import re

import msgspec
import numpy as np
import orjson

from nephoscope.errors import Rejected, invalid, malformed
from nephoscope.metrics.ingest import validation
from nephoscope.metrics.ingest.seriescache import SeriesCache
from nephoscope.metrics.ingest.timewindow import TimeWindow
from nephoscope.metrics.series import IngestBatch, NewSeries, PointBatch, SeriesDefinition, ValueMeta, define_series

_EMPTY = msgspec.Raw(b"{}")


class _Metric(msgspec.Struct):
    name: str
    timestamp: float
    value: float
    dimensions: msgspec.Raw = _EMPTY
    value_meta: msgspec.Raw = msgspec.Raw(b"null")


_DECODER = msgspec.json.Decoder(list[_Metric] | _Metric)
_PATH = re.compile(r"`\$((?:\[\d+\])?)\.?([^`]*)`")
_NO_META = (b"null", b"{}")


def _where(path_message: str) -> tuple[str, str]:
    """msgspec's "... - at `$[3].value`" to ("metrics[3].value", message)."""
    message, _, location = path_message.rpartition(" - at ")
    match = _PATH.search(location)
    if not match:
        return "metrics", path_message
    index, field = match.groups()
    return "metrics" + index + ("." + field if field else ""), message or path_message


class MonascaDecoder:
    """Decodes Monasca metric bodies for one store; ``new_series`` says which series the store
    does not know yet (the batch must carry their definitions); keeps the per-tenant series cache."""

    def __init__(self, new_series: NewSeries, cache: SeriesCache) -> None:
        self.new_series = new_series
        self.cache = cache

    def decode(self, body: bytes, tenant: str, window: TimeWindow) -> IngestBatch:
        try:
            decoded = _DECODER.decode(body)
        except msgspec.ValidationError as error:
            field, message = _where(str(error))
            raise invalid(field, message) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            raise malformed(f"body is not valid JSON: {error}") from None
        metrics = [decoded] if isinstance(decoded, _Metric) else decoded
        count = len(metrics)
        timestamps = np.fromiter((m.timestamp for m in metrics), np.float64, count)
        values = np.fromiter((m.value for m in metrics), np.float64, count)
        window.check(timestamps, "metrics", ".timestamp")

        keys = [(m.name, bytes(m.dimensions)) for m in metrics]
        ids, new_series = self.cache.resolve(tenant, keys, lambda index, key: self._define(tenant, key, index))
        series = np.array(ids, dtype=np.int64)

        meta = ValueMeta()
        # value_meta is rare: pick out the few metrics that carry some, then parse only those.
        carrying = [(i, raw) for i, raw in enumerate(bytes(m.value_meta) for m in metrics) if raw not in _NO_META]
        for index, raw_meta in carrying:
            try:
                parsed_meta = orjson.loads(raw_meta)
            except orjson.JSONDecodeError as error:
                raise invalid(f"metrics[{index}].value_meta", f"not valid JSON text: {error}") from None
            text = validation.check_value_meta(parsed_meta, f"metrics[{index}].value_meta")
            if text is not None:
                meta.series.append(ids[index])
                meta.timestamp.append(int(timestamps[index]))
                meta.meta.append(text)

        definitions = self.new_series(list({d.id: d for d in new_series.values()}.values()))
        points = PointBatch(series=series, timestamp=timestamps.astype(np.int64), value=values)
        return IngestBatch(definitions, points, meta, tenant, new_series)

    def _define(self, tenant: str, key: tuple[str, bytes], index: int) -> SeriesDefinition:
        name, raw_dimensions = key
        validation.check_name(name, f"metrics[{index}].name")
        try:
            dimensions = orjson.loads(raw_dimensions)
        except orjson.JSONDecodeError:
            raise invalid(f"metrics[{index}].dimensions", "not valid JSON") from None
        dimensions = validation.check_dimensions(dimensions, f"metrics[{index}].dimensions")
        return define_series(tenant, name, dimensions)


def reject_unknown_content_type(content_type: str | None) -> None:
    """Monasca wants application/json; like it, refuse others (leniently allowing a charset)."""
    if content_type is None:
        raise Rejected(400, "Content-Type application/json is required")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise Rejected(400, f"Content-Type {content_type!r} is not supported; use application/json")
