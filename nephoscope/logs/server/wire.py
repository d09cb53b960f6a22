"""Log request bodies to lines grouped by source: Monasca's ``POST /v3.0/logs`` and the native
``POST /v1/logs``.

Monasca (monasca-log-api, reference §7): ``{"dimensions": {global}, "logs": [{"message": ...,
"dimensions": {local}}, ...]}``. Bad global dimensions reject the request (422); a log without a
message or with bad local dimensions is dropped alone and the rest stored, as monasca-log-api
does. A log's dimensions are the global ones overlaid by its own; ``hostname``, ``service``,
``component``, ``path`` and ``region`` say where it comes from.

Native: ``{"source": {service, component, host, region, path}, "lines": [...]}``, a list of such
objects, or ``text/plain`` lines with the source in the query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from nephoscope.errors import Rejected, unknown_names
from nephoscope.logs.processing.sources import Source

_FORBIDDEN = set("><={}()'\",;&")
MAX_NAME = 255
MAX_VALUE = 255
MAX_LINES = 100_000


@dataclass
class LogGroups:
    """Lines per source, in the order they came; ``dropped`` says which logs were refused and why."""

    groups: dict[Source, list[str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    def add(self, source: Source, line: str) -> None:
        self.groups.setdefault(source, []).append(line)

    @property
    def lines(self) -> int:
        return sum(len(lines) for lines in self.groups.values())


def _dimension_problem(name: object, value: object) -> str | None:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        return f"dimension name {str(name)[:40]!r} must be 1 to {MAX_NAME} characters"
    if name.startswith("_") or _FORBIDDEN & set(name):
        return f"dimension name {name[:40]!r} may not start with _ or hold any of > < = {{ }} ( ) ' \" , ; &"
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_VALUE:
        return f"dimension {name[:40]!r}: the value must be a string of 1 to {MAX_VALUE} characters"
    return None


def _dimensions(raw: object, where: str) -> tuple[dict[str, str], str | None]:
    if raw is None:
        return {}, None
    if not isinstance(raw, dict):
        return {}, f"{where}: dimensions must be an object"
    for name, value in raw.items():
        problem = _dimension_problem(name, value)
        if problem:
            return {}, f"{where}: {problem}"
    return raw, None


def source_of(dimensions: Mapping[str, str]) -> Source:
    return Source(service=dimensions.get("service"), component=dimensions.get("component"),
                  host=dimensions.get("hostname") or dimensions.get("host"), region=dimensions.get("region"),
                  path=dimensions.get("path") or dimensions.get("file"))


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Rejected(400, f"the body is not valid JSON: {error}") from None


def decode_monasca(body: bytes) -> LogGroups:
    document = _json(body)
    if not isinstance(document, dict) or "logs" not in document:
        raise Rejected(422, "Logs not found: the body must be an object with a 'logs' list")
    logs = document["logs"]
    if not isinstance(logs, list):
        raise Rejected(422, "logs must be a list of {message, dimensions} objects")
    if len(logs) > MAX_LINES:
        raise Rejected(413, f"at most {MAX_LINES} logs per request")
    common, problem = _dimensions(document.get("dimensions"), "dimensions")
    if problem:
        raise Rejected(422, problem)
    result = LogGroups()
    sources: dict[tuple, Source] = {}
    for index, item in enumerate(logs):
        where = f"logs[{index}]"
        if not isinstance(item, dict):
            result.dropped.append(f"{where}: must be an object")
            continue
        message = item.get("message")
        if not isinstance(message, str) or not message:
            result.dropped.append(f"{where}: message is missing or not a string")
            continue
        local, problem = _dimensions(item.get("dimensions"), where)
        if problem:
            result.dropped.append(problem)
            continue
        merged = {**common, **local} if local else common
        key = tuple(sorted(merged.items()))
        source = sources.get(key)
        if source is None:
            source = sources[key] = source_of(merged)
        result.add(source, message)
    return result


_SOURCE_FIELDS = ("service", "component", "host", "region", "path")


def _native_source(raw: object, where: str) -> Source:
    if raw is None:
        return Source()
    if not isinstance(raw, dict):
        raise Rejected(422, f"{where}: source must be an object with any of {', '.join(_SOURCE_FIELDS)}")
    problem = unknown_names("source field", raw, _SOURCE_FIELDS)
    if problem:
        raise Rejected(422, f"{where}: {problem}", where)
    for name, value in raw.items():
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_VALUE):
            raise Rejected(422, f"{where}.{name}: must be a string of 1 to {MAX_VALUE} characters")
    return Source(**{name: raw.get(name) for name in _SOURCE_FIELDS})


def decode_native(body: bytes, content_type: str | None, query: Mapping[str, str]) -> LogGroups:
    kind = (content_type or "").split(";")[0].strip().lower()
    result = LogGroups()
    if kind == "text/plain":
        source = _native_source({k: query[k] for k in _SOURCE_FIELDS if k in query}, "query")
        text = body.decode("utf-8", "replace")
        lines = [line for line in text.split("\n") if line]
        if len(lines) > MAX_LINES:
            raise Rejected(413, f"at most {MAX_LINES} lines per request")
        for line in lines:
            result.add(source, line.rstrip("\r"))
        return result
    if kind != "application/json":
        raise Rejected(415, "Content-Type must be application/json or text/plain")
    document = _json(body)
    items = document if isinstance(document, list) else [document]
    total = 0
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(document, list) else "body"
        if not isinstance(item, dict) or not isinstance(item.get("lines"), list):
            raise Rejected(422, f"{where}: must be an object with a 'lines' list (and an optional 'source')")
        problem = unknown_names("field", item, ("source", "lines"))
        if problem:
            raise Rejected(422, f"{where}: {problem}", where)
        source = _native_source(item.get("source"), f"{where}.source")
        for number, line in enumerate(item["lines"]):
            if not isinstance(line, str):
                raise Rejected(422, f"{where}.lines[{number}]: must be a string")
            result.add(source, line)
        total += len(item["lines"])
        if total > MAX_LINES:
            raise Rejected(413, f"at most {MAX_LINES} lines per request")
    return result
