"""Prometheus's response envelopes: ``{"status": "success", "data": ...}`` and
``{"status": "error", "errorType": ..., "error": ...}`` with the status each error type has.

Query results are written straight to JSON bytes: the values of a series are formatted as one
array (orjson on NumPy columns, then quoted by a few byte replacements), not one Python object
per sample.
"""

from __future__ import annotations

import numpy as np
import orjson
from starlette.responses import Response

from nephoscope.metrics.promql import QueryResult
from nephoscope.metrics.promql.values import InstantVector, Samples, format_float

STATUS = {"bad_data": 400, "execution": 422, "timeout": 503, "canceled": 499, "internal": 500, "not_found": 404,
          "unavailable": 503, "unauthorized": 401, "forbidden": 403, "too_large": 413, "overloaded": 429}
CONTENT_TYPE = "application/json"

# Non-finite values travel through orjson as improbable finite stand-ins, then become Go's spellings.
_STAND_INS = {"nan": (1.2345678987e300, b'"NaN"'), "inf": (2.3456789876e300, b'"+Inf"'),
              "-inf": (3.4567898765e300, b'"-Inf"')}


def success(data: object, warnings: list[str] | None = None) -> Response:
    body = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return Response(orjson.dumps(body), media_type=CONTENT_TYPE)


def error(kind: str, message: str, status: int | None = None, headers: dict[str, str] | None = None,
          **extra: str) -> Response:
    """Prometheus's error envelope; ``extra`` fields (the refused ``rule``, a 401's ``reason``) ride beside
    it, as Prometheus's own clients read only ``errorType`` and ``error``."""
    body = {"status": "error", "errorType": kind, "error": message, **extra}
    return Response(orjson.dumps(body), status_code=status or STATUS.get(kind, 500), media_type=CONTENT_TYPE,
                    headers=headers)


def _pairs(seconds: np.ndarray, values: np.ndarray) -> bytes:
    """``[[t,"v"],...]`` for one series, formatted for the whole array at once."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        values = values.copy()
        values[np.isnan(values)] = _STAND_INS["nan"][0]
        values[values == np.inf] = _STAND_INS["inf"][0]
        values[values == -np.inf] = _STAND_INS["-inf"][0]
    text = orjson.dumps(np.column_stack([seconds, values]), option=orjson.OPT_SERIALIZE_NUMPY)
    if len(text) > 2:
        # [[t,v],[t,v]] -> [[t,"v"],[t,"v"]] by byte replacements (a regular expression's group
        # template costs a Python call per match): the pairs' separators set aside, every comma left
        # is a pair's own, then the separators come back with the closing quotes.
        text = text.replace(b"],[", b"\x00").replace(b",", b',"').replace(b"\x00", b'"],[')[:-2] + b'"]]'
        text = text.replace(b'.0"', b'"')
    if not finite.all():
        for stand_in, spelled in _STAND_INS.values():
            text = text.replace(b'"' + orjson.dumps(stand_in) + b'"', spelled)
    return text


def _metric(labels: tuple) -> bytes:
    return orjson.dumps(dict(labels))


def _matrix(vector: InstantVector, times: np.ndarray) -> bytes:
    seconds = times / 1000.0
    parts = []
    for row, labels in enumerate(vector.labels):
        present = vector.present[row]
        parts.append(b'{"metric":' + _metric(labels) + b',"values":'
                     + _pairs(seconds[present], vector.values[row][present]) + b"}")
    return b"[" + b",".join(parts) + b"]"


def _range_vector(samples: Samples) -> bytes:
    parts = []
    for row, labels in enumerate(samples.labels):
        first, last = int(samples.offsets[row]), int(samples.offsets[row + 1])
        parts.append(b'{"metric":' + _metric(labels) + b',"values":'
                     + _pairs(samples.times[first:last] / 1000.0, samples.values[first:last]) + b"}")
    return b"[" + b",".join(parts) + b"]"


def _vector(vector: InstantVector, time_ms: int) -> bytes:
    stamp = time_ms / 1000.0
    parts = [orjson.dumps({"metric": dict(labels), "value": [stamp, format_float(float(vector.values[row, 0]))]})
             for row, labels in enumerate(vector.labels) if vector.present[row, 0]]
    return b"[" + b",".join(parts) + b"]"


def result(answer: QueryResult, warnings: list[str] | None = None) -> Response:
    """A query's answer in Prometheus's ``data`` shape (``resultType`` and ``result``)."""
    if answer.kind == "vector":
        body = _vector(answer.vector, int(answer.times[0]))
    elif answer.kind == "matrix" and answer.samples is not None:
        body = _range_vector(answer.samples)
    elif answer.kind == "matrix":
        body = _matrix(answer.vector, answer.times)
    elif answer.kind == "scalar":
        body = orjson.dumps([int(answer.times[0]) / 1000.0, format_float(float(answer.scalar[0]))])
    else:
        body = orjson.dumps([int(answer.times[0]) / 1000.0, answer.string])
    extra = b',"warnings":' + orjson.dumps(warnings) if warnings else b""
    return Response(b'{"status":"success","data":{"resultType":"' + answer.kind.encode() + b'","result":' + body
                    + b"}" + extra + b"}", media_type=CONTENT_TYPE)
