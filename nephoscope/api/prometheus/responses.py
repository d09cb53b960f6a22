"""Prometheus's JSON envelope: ``{"status": "success", "data": ...}``, and its errors
``{"status": "error", "errorType": ..., "error": ...}`` (bad_data is 400)."""

from __future__ import annotations

import orjson
from starlette.responses import Response


def success(data: object) -> Response:
    return Response(orjson.dumps({"status": "success", "data": data}), media_type="application/json")


def error(status: int, error_type: str, message: str) -> Response:
    return Response(orjson.dumps({"status": "error", "errorType": error_type, "error": message}), status_code=status,
                    media_type="application/json")
