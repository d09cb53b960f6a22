"""The pipeline: a batch of log lines to normalized, templated, classified records.

``LogPipeline.process`` takes lines (a list of str or an Arrow string array; an element may
hold several lines joined with ``\\n``, as the agent's tailer sends merged records) and
returns a ``pyarrow.Table`` with ``schema.RECORD_SCHEMA``, one row per record. Every stage is
columnar: header parsing, masking and access-line fields are RE2 kernels over the batch;
template ids are looked up once per distinct masked message, rules once per distinct
(template, service, logger, level, ...) combination. Python loops only over distinct values,
continuation lines and JSON lines.

``process`` is thread-safe (the template miner and the classifier lock their own state), so
two threads can process two batches at once: Arrow kernels release the GIL.

Batches for ``process_many`` come from ``batching`` (cut where records start); who wrote the
lines (service, component, host) from ``sources``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.formats import oslo_log
from nephoscope.logs.processing import access, jsonlines, masks
from nephoscope.logs.processing.classify import Classifier
from nephoscope.logs.processing.columns import (
    control_bytes_possible,
    indices_where,
    list_item,
    map_distinct,
    null_if,
    scatter,
    string_array,
    to_numpy_int,
)
from nephoscope.logs.processing.multiline import continuation_flags, merge, owners
from nephoscope.logs.processing.parsers import Kind, Lines, parse_lines
from nephoscope.logs.processing.rules import RuleSet, default_rules
from nephoscope.logs.processing.schema import RECORD_SCHEMA
from nephoscope.logs.processing.sources import Source, component_of, service_of
from nephoscope.logs.processing.templates import TemplateMiner
from nephoscope.logs.processing.times import iso_times, syslog_times

_FORMAT_NAMES = {Kind.OSLO: "oslo", Kind.OSLO_BARE: "oslo", Kind.JSON: "oslo-json", Kind.ACCESS: "httpd-access",
                 Kind.SYSLOG: "syslog", Kind.PLAIN: "unparsed"}
_FORMAT_TABLE = pa.array([_FORMAT_NAMES[Kind(code)] for code in range(len(Kind))], pa.string())
_VOLUME = (r"(?i)\bvolume(?:[ _-]?id)?[ :=]+['\"]?(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
           r"-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")
_UUID_VALUE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
BATCH_LINES = 16_384


class _Order:
    """Whose turn it is among batches processed at once."""

    def __init__(self) -> None:
        self.next = 0
        self.changed = threading.Condition()


class _Turn:
    """A batch's turn at the template miner: entered only after every earlier batch has left it, so
    parallel batches get the same template ids and "new" flags as one thread would give them (the
    text that founds a template names it). Parsing around it runs in parallel."""

    ALONE: _Turn

    def __init__(self, order: _Order | None, number: int) -> None:
        self.order, self.number = order, number

    def __enter__(self) -> None:
        if self.order is not None:
            with self.order.changed:
                self.order.changed.wait_for(lambda: self.order.next == self.number)

    def __exit__(self, *_: object) -> None:
        if self.order is not None:
            with self.order.changed:
                self.order.next += 1
                self.order.changed.notify_all()


_Turn.ALONE = _Turn(None, 0)


class LogPipeline:
    """Lines to records: parse, merge, normalize, mask, template, classify."""

    def __init__(self, rules: RuleSet | None = None, miner: TemplateMiner | None = None) -> None:
        self.rules = rules if rules is not None else default_rules()
        self.miner = miner if miner is not None else TemplateMiner()
        self.classifier = Classifier(self.rules)

    # ------------------------------------------------------------------ public
    def process(self, lines: Sequence[str] | pa.Array | pa.ChunkedArray, source: Source | None = None,
                turn: _Turn | None = None) -> pa.Table:
        """Records of ``lines``; one per line unless lines continue the record before them.
        ``turn``: batches processed at once meet the template miner in this order (``process_many``)."""
        source = source or Source()
        raw = string_array(lines)
        element_first = None
        # newlines and carriage returns are rare: one pass over the bytes says whether to look
        if control_bytes_possible(raw):
            if pc.any(pc.match_substring(raw, "\n")).as_py():
                parts = pc.split_pattern(raw, "\n")
                parent = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
                raw = pc.list_flatten(parts)
                element_first = np.ones(len(raw), bool)
                element_first[1:] = parent[1:] != parent[:-1]
            if pc.any(pc.match_substring(raw, "\r")).as_py():
                raw = pc.utf8_rtrim(raw, characters="\r")
        if len(raw) == 0:
            return RECORD_SCHEMA.empty_table()
        return self._records(parse_lines(raw), source, element_first, turn or _Turn.ALONE)

    def process_many(self, batches: Iterable[Sequence[str] | pa.Array], source: Source | None = None,
                     workers: int | None = None) -> Iterator[pa.Table]:
        """``process`` over independent batches (cut at record starts: ``batching.record_batches``),
        ``workers`` threads at a time (default: one per CPU, at most 2); results in order."""
        workers = workers or min(2, os.cpu_count() or 1)
        if workers <= 1:
            for batch in batches:
                yield self.process(batch, source)
            return
        order = _Order()
        with ThreadPoolExecutor(workers, thread_name_prefix="logs") as pool:
            pending = []
            for number, batch in enumerate(batches):
                pending.append(pool.submit(self.process, batch, source, _Turn(order, number)))
                if len(pending) > workers * 2:  # bounded read-ahead
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()

    # ------------------------------------------------------------------ stages
    def _records(self, lines: Lines, source: Source, element_first: np.ndarray | None, turn: _Turn) -> pa.Table:
        continues = continuation_flags(lines, element_first)
        owner = owners(continues)
        starts = np.flatnonzero(owner == np.arange(len(owner)))
        every = len(starts) == len(owner)
        pick = None if every else pa.array(starts)

        def at_starts(column: pa.Array) -> pa.Array:
            return column if every else column.take(pick)

        kind = lines.kind[starts]
        count = len(starts)
        nulls = pa.nulls(count, pa.string())
        message = at_starts(lines.message)
        columns: dict[str, pa.Array] = {
            "raw": at_starts(lines.raw),
            "message": message if message.null_count == 0 else pc.coalesce(message, at_starts(lines.body)),
            "level": at_starts(lines.level), "logger": at_starts(lines.logger),
            "instance_id": at_starts(lines.instance), "host": at_starts(lines.syslog_host),
            "traceback": nulls, "exception_type": nulls, "exception_message": nulls,
            "function": nulls, "source_file": nulls, "source_line": pa.nulls(count, pa.int32()),
            "request_id": nulls, "global_request_id": nulls, "user": nulls, "project": nulls,
        }
        merged = merge(lines, owner, starts, columns["message"])
        if len(merged.rows):
            for name in ("message", "raw", "traceback", "exception_type", "exception_message"):
                columns[name] = scatter(columns[name], merged.rows, getattr(merged, name))

        time = iso_times(at_starts(lines.date), source.utc_offset_s)
        if pc.any(pc.is_valid(lines.syslog_time)).as_py():
            time = pc.coalesce(time, syslog_times(at_starts(lines.syslog_time), source.year))
        pid = pc.coalesce(at_starts(lines.pid), at_starts(lines.syslog_pid))
        self._debug_suffix(columns, kind)
        self._context(columns, at_starts(lines.context))

        if lines.access:  # httpd and uWSGI access lines
            time = pc.coalesce(time, at_starts(lines.access["time"]))
            columns["user"] = pc.coalesce(columns["user"], at_starts(lines.access["user"]))
            pid = pc.coalesce(pid, at_starts(lines.access["pid"]))
        columns["pid"] = pa.array(to_numpy_int(pid), pa.int64())
        columns["time"] = time

        formats = _FORMAT_TABLE.take(pa.array(kind))  # a gather in C++, not 16k Python strings
        columns["template_id"] = columns["template"] = nulls
        is_new = np.zeros(count, bool)
        exact = np.zeros(count, bool)
        json_rows = np.flatnonzero(kind == Kind.JSON)
        # The miner's answers (which text founds a template, what is new) follow batch order; the
        # masking before it runs in parallel unless JSON records set the messages it masks.
        if len(json_rows):  # before masking: the message of a JSON record is a field of it
            with turn:
                bad = self._json(columns, json_rows, at_starts(lines.body), exact, is_new)
                formats = scatter(formats, bad, ["unparsed"] * len(bad))
                masked, parameters = masks.mask(columns["message"])
                distinct, codes = self._mine(columns, masked, exact, is_new)
        else:
            masked, parameters = masks.mask(columns["message"])
            with turn:
                distinct, codes = self._mine(columns, masked, exact, is_new)
        # access lines inside oslo.log messages (eventlet, placement), read from the masked values
        http = access.from_masks(distinct, codes, parameters, kind == Kind.OSLO)
        if lines.access:
            for name in access.HTTP_TYPES:
                http[name] = pc.coalesce(http[name], at_starts(lines.access[name]))

        component = self._component(source, at_starts(lines.file), at_starts(lines.syslog_app), count)
        service = self._service(source, component, columns["logger"], count)
        host = pa.array([source.host] * count, pa.string()) if source.host else columns["host"]
        region = pa.array([source.region] * count, pa.string()) if source.region else nulls
        volume_id = nulls
        volume_rows = indices_where(pc.match_substring(columns["message"], "olume", ignore_case=True))
        if len(volume_rows):
            found = pc.extract_regex(columns["message"].take(pa.array(volume_rows)), _VOLUME)
            volume_id = scatter(volume_id, volume_rows, pc.struct_field(found, "id"))

        pid_values = columns["pid"]
        table = pa.table({
            "time": columns["time"], "region": region, "service": service, "component": component, "host": host,
            "pid": pc.if_else(pc.less(pid_values, 0), pa.scalar(None, pa.int64()), pid_values).cast(pa.int32()),
            "level": columns["level"], "logger": columns["logger"], "request_id": columns["request_id"],
            "global_request_id": columns["global_request_id"], "user": columns["user"], "project": columns["project"],
            "instance_id": columns["instance_id"], "volume_id": volume_id, "resource_ids": _uuids_among(parameters),
            "message": columns["message"], "template_id": columns["template_id"], "template": columns["template"],
            "parameters": parameters, "exception_type": columns["exception_type"],
            "exception_message": columns["exception_message"], "traceback": columns["traceback"],
            "function": columns["function"], "source_file": columns["source_file"],
            "source_line": columns["source_line"], "http_method": http["method"], "http_path": http["path"],
            "http_status": http["status"], "http_bytes": http["bytes"], "http_latency_ms": http["latency_ms"],
            "client": http["client"], "format": formats,
        })
        category, rule = self.classifier.classify(table)
        table = table.append_column("category", category).append_column("rule", rule)
        table = table.append_column("is_new_template", pa.array(is_new))
        table = table.append_column("lines", pa.array(merged.line_count, pa.int32()))
        table = table.append_column("raw", columns["raw"])
        self._count_templates(table.column("template_id"))
        return table.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)

    @staticmethod
    def _debug_suffix(columns: dict[str, pa.Array], kind: np.ndarray) -> None:
        """DEBUG records end with `` funcName /path/file.py:lineno``: out of the message, into
        fields. Two splits from the right, checked by a match: no capture groups over the message."""
        debug = indices_where(pc.and_(pc.equal(columns["level"], "DEBUG"), pa.array(kind != Kind.JSON)))
        if not len(debug):
            return
        messages = columns["message"].take(pa.array(debug))
        parts = pc.split_pattern(messages, " ", max_splits=2, reverse=True)
        location = list_item(parts, 2)
        found = indices_where(pc.match_substring_regex(location, oslo_log.DEBUG_LOCATION))
        if not len(found):
            return
        rows, chosen = debug[found], parts.take(pa.array(found))
        file_and_line = pc.split_pattern(list_item(chosen, 2), ":", max_splits=1, reverse=True)
        columns["message"] = scatter(columns["message"], rows, list_item(chosen, 0))
        columns["function"] = scatter(columns["function"], rows, list_item(chosen, 1))
        columns["source_file"] = scatter(columns["source_file"], rows, list_item(file_and_line, 0))
        columns["source_line"] = scatter(columns["source_line"], rows, list_item(file_and_line, 1).cast(pa.int32()))

    @staticmethod
    def _context(columns: dict[str, pa.Array], context: pa.Array) -> None:
        """Request ids, user and project from the context block, both oslo.log eras:
        ``req-L user project ...`` and ``<req-G or None> req-L user project ...``."""
        if not pc.any(pc.is_valid(context)).as_py():
            return
        tokens = pc.split_pattern(context, " ", max_splits=4)
        first, second, third, fourth = (list_item(tokens, index, 5) for index in range(4))
        has_global = pc.fill_null(pc.starts_with(second, "req-"), False)
        request_id = pc.if_else(has_global, second, first)
        columns["request_id"] = pc.if_else(pc.fill_null(pc.starts_with(request_id, "req-"), False), request_id,
                                           pa.scalar(None, pa.string()))
        columns["global_request_id"] = null_if(pc.if_else(has_global, first, pa.scalar(None, pa.string())), "None", "-")
        columns["user"] = null_if(pc.if_else(has_global, third, second), "", "-", "None")
        columns["project"] = null_if(pc.if_else(has_global, fourth, third), "", "-", "None")

    def _json(self, columns: dict[str, pa.Array], rows: np.ndarray, bodies: pa.Array, exact: np.ndarray,
              is_new: np.ndarray) -> np.ndarray:
        """JSON records' fields into ``columns``; their format strings as exact templates (lines
        without one are mined from their message like text lines). Returns the rows that were not
        oslo.log JSON after all."""
        decoded = jsonlines.decode_columns(bodies.take(pa.array(rows))).columns
        ok = pc.fill_null(decoded["ok"], False)
        keep = ok.to_numpy(zero_copy_only=False)
        good, bad = rows[keep], rows[~keep]
        if not len(good):
            return bad

        def values(name: str) -> pa.Array:
            return decoded[name].filter(ok)

        columns["time"] = scatter(columns["time"], good, values("time_ms"))
        for name in ("level", "logger", "host", "message", "request_id", "global_request_id", "user", "project",
                     "instance_id", "traceback", "exception_type", "exception_message", "function", "source_file",
                     "source_line"):
            columns[name] = scatter(columns[name], good, values(name))
        columns["pid"] = scatter(columns["pid"], good, pc.fill_null(values("pid"), -1))
        templates = values("template")
        with_template = indices_where(pc.is_valid(templates))
        if len(with_template):
            target = good[with_template]
            encoded = pc.dictionary_encode(templates.take(pa.array(with_template)))
            distinct = encoded.dictionary.to_pylist()
            ids, new = self.miner.assign_exact(distinct)
            codes = encoded.indices
            columns["template_id"] = scatter(columns["template_id"], target, pa.array(ids, pa.string()).take(codes))
            columns["template"] = scatter(columns["template"], target, encoded.dictionary.take(codes))
            exact[target] = True
            founded = np.flatnonzero(np.asarray(new, bool))
            if len(founded):
                numbers = codes.to_numpy(zero_copy_only=False)
                first = np.full(len(distinct), len(numbers), np.int64)
                np.minimum.at(first, numbers, np.arange(len(numbers)))
                is_new[target[first[founded]]] = True
        return bad

    @staticmethod
    def _origins(columns: dict[str, pa.Array], rows: np.ndarray, indices: pa.Array, count: int) -> list[str | None]:
        """Who wrote each distinct masked message first: its call site ``logger@path:line`` when the
        line names it (oslo.log's DEBUG suffix), else its logger. Word positions become parameters
        per origin (``templates``)."""
        first = np.full(count, len(indices), np.int64)
        np.minimum.at(first, indices.to_numpy(zero_copy_only=False), np.arange(len(indices)))
        at = pa.array(rows[first])
        loggers = columns["logger"].take(at).to_pylist()
        files = columns["source_file"].take(at).to_pylist()
        lines = columns["source_line"].take(at).to_pylist()
        return [f"{logger}@{path}:{line}" if path and line is not None else logger
                for logger, path, line in zip(loggers, files, lines)]

    def _mine(self, columns: dict[str, pa.Array], masked: pa.Array, exact: np.ndarray,
              is_new: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Template ids of every record without an exact template: one lookup per distinct masked
        message. Returns the distinct masked messages and each record's number among them (-1: exact)."""
        rows = np.flatnonzero(~exact)
        codes = np.full(len(exact), -1, np.int64)
        if not len(rows):
            return [], codes
        everything = len(rows) == len(exact)
        encoded = pc.dictionary_encode(masked if everything else masked.take(pa.array(rows)))
        distinct = encoded.dictionary.to_pylist()
        indices = encoded.indices
        ids, new = self.miner.assign(distinct, self._origins(columns, rows, indices, len(distinct)))
        texts = self.miner.texts(ids)
        mined_ids = pa.array(ids, pa.string()).take(indices)
        mined_texts = pa.array(texts, pa.string()).take(indices)
        if everything:
            columns["template_id"], columns["template"] = mined_ids, mined_texts
        else:
            columns["template_id"] = scatter(columns["template_id"], rows, mined_ids)
            columns["template"] = scatter(columns["template"], rows, mined_texts)
        numbers = indices.to_numpy(zero_copy_only=False).astype(np.int64)
        codes[rows] = numbers
        founded = np.flatnonzero(np.asarray(new, bool))
        if len(founded):
            first = np.full(len(distinct), len(numbers), np.int64)
            np.minimum.at(first, numbers, np.arange(len(numbers)))
            is_new[rows[first[founded]]] = True
        return distinct, codes

    @staticmethod
    def _component(source: Source, files: pa.Array, syslog_app: pa.Array, count: int) -> pa.Array:
        if source.component:
            return pa.array([source.component] * count, pa.string())
        component = map_distinct(files, component_of, pa.string())
        if source.path:
            component = pc.fill_null(component, component_of(source.path))
        return pc.coalesce(component, syslog_app)

    @staticmethod
    def _service(source: Source, component: pa.Array, logger: pa.Array, count: int) -> pa.Array:
        """The configured service, else the OpenStack service the component or the logger names,
        else the component's first word."""
        if source.service:
            return pa.array([source.service] * count, pa.string())
        known = map_distinct(component, lambda name: service_of(name, known_only=True), pa.string())
        from_logger = map_distinct(logger, lambda name: service_of(name, known_only=True), pa.string())
        guessed = map_distinct(component, service_of, pa.string())
        return pc.coalesce(known, from_logger, guessed)

    def _count_templates(self, template_id: pa.ChunkedArray) -> None:
        counts = pc.value_counts(template_id.combine_chunks() if isinstance(template_id, pa.ChunkedArray)
                                 else template_id)
        values = counts.field("values").to_pylist()
        numbers = counts.field("counts").to_pylist()
        self.miner.add_counts([v for v in values if v is not None],
                              [n for v, n in zip(values, numbers) if v is not None])


def _uuids_among(parameters: pa.Array) -> pa.Array:
    """The UUID-valued parameters of every record (a list per record, empty when none)."""
    flat = pc.list_flatten(parameters)
    if len(flat) == 0:
        return pa.array([[]] * len(parameters), pa.list_(pa.string()))
    keep = pc.fill_null(pc.match_substring_regex(flat, _UUID_VALUE), False).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(parameters).to_numpy(zero_copy_only=False)
    sizes = np.bincount(parents[keep], minlength=len(parameters))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))
