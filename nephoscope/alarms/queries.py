"""Reading alarms: Monasca's list (filters, sort, paging), count (group_by) and state history.

This module owns the read queries over ``alarms``, ``alarm_metrics`` and
``alarm_state_history`` (see ``repository``), joined with ``alarm_definitions`` for the
definition's name and severity. Filtering, sorting and paging happen in SQL so a page of a
100,000-alarm table reads only that page. Every query takes a tenant scope (a tenant id,
or ``ALL_TENANTS`` for admins). Bad input raises ``AlarmQueryError`` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from nephoscope.alarms import repository
from nephoscope.alarms.definitions import SEVERITIES
from nephoscope.alarms.repository import AlarmDatabase, AlarmRecord, StateChange
from nephoscope.sql.dialect import json_array_values, json_keys
from nephoscope.tenancy import ALL_TENANTS

STATES = ("OK", "UNDETERMINED", "ALARM")
"""Alarm states in Monasca's sort order."""

SORT_FIELDS = ("alarm_id", "alarm_definition_id", "alarm_definition_name", "state", "severity", "lifecycle_state",
               "link", "state_updated_timestamp", "updated_timestamp", "created_timestamp")
GROUP_BY_FIELDS = ("alarm_definition_id", "name", "state", "severity", "link", "lifecycle_state", "metric_name",
                   "dimension_name", "dimension_value")
_METRIC_GROUP_FIELDS = ("metric_name", "dimension_name", "dimension_value")
_MAX_SQLITE_INTEGER = 2**63 - 1


def _is_sqlite_integer(text: str) -> bool:
    """ASCII digits fitting SQLite's INTEGER; the length check comes first because int() refuses
    strings of more than 4,300 digits with a ValueError."""
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= _MAX_SQLITE_INTEGER

Dimensions = tuple[tuple[str, tuple[str, ...] | None], ...]
"""Same shape as ``SeriesFilter.dimensions``: None = the key with any value; a tuple = any of those values."""


def _rank(column: str, order: tuple[str, ...]) -> str:
    """A CASE expression ranking ``column`` by its position in ``order`` (constants only, no user input)."""
    cases = " ".join(f"WHEN '{value}' THEN {position}" for position, value in enumerate(order))
    return f"CASE {column} {cases} ELSE {len(order)} END"


_SORT_COLUMNS = {
    "alarm_id": "a.id",
    "alarm_definition_id": "a.definition_id",
    "alarm_definition_name": "d.name",
    "state": _rank("a.state", STATES),
    "severity": _rank("d.severity", SEVERITIES),
    "lifecycle_state": "a.lifecycle_state",
    "link": "a.link",
    "state_updated_timestamp": "a.state_updated_at",
    "updated_timestamp": "a.updated_at",
    "created_timestamp": "a.created_at",
}
_GROUP_COLUMNS = {
    "alarm_definition_id": "a.definition_id",
    "name": "d.name",
    "state": "a.state",
    "severity": "d.severity",
    "link": "a.link",
    "lifecycle_state": "a.lifecycle_state",
    "metric_name": "g.metric_name",
    "dimension_name": "g.dimension_name",
    "dimension_value": "g.dimension_value",
}
# The repository's own column lists, so the order always matches record_from_row and history_from_row.
_SELECT_ALARM = ", ".join(f"a.{column.strip()}" for column in repository._ALARM_COLUMNS.split(","))
_SELECT_HISTORY = ", ".join(f"h.{column.strip()}" for column in repository._HISTORY_COLUMNS.split(","))
_ALARM_WIDTH = _SELECT_ALARM.count(",") + 1
_FROM_ALARMS = "FROM alarms a JOIN alarm_definitions d ON d.id = a.definition_id"


class AlarmQueryError(ValueError):
    """A query parameter Monasca refuses (HTTP 422); ``field`` names the parameter."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AlarmDefinitionSummary:
    """What an alarm element shows of its definition."""

    id: str
    name: str
    severity: str


@dataclass(slots=True)
class AlarmFilter:
    """The filters of GET /v2.0/alarms and /v2.0/alarms/count; None or empty means "any"."""

    alarm_definition_id: str | None = None
    metric_name: str | None = None
    metric_dimensions: Dimensions = ()
    state: str | None = None
    severities: list[str] = field(default_factory=list)
    lifecycle_state: str | None = None
    link: str | None = None
    state_updated_start_time: float | None = None  # epoch seconds; alarms whose state changed at or after it


# -- parsing of the parameters whose vocabulary this module owns ------------------------------------------------

def parse_state(text: str | None) -> str | None:
    """``state``: OK, ALARM or UNDETERMINED in any case; empty means no filter."""
    if text is None or not text.strip():
        return None
    state = text.strip().upper()
    if state not in STATES:
        raise AlarmQueryError("state", f"state must be one of {', '.join(STATES)}, got {text!r}")
    return state


def parse_severities(text: str | None) -> list[str]:
    """``severity``: a pipe-separated list such as ``LOW|high``, case-insensitive."""
    severities = [item.strip().upper() for item in (text or "").split("|") if item.strip()]
    for severity in severities:
        if severity not in SEVERITIES:
            raise AlarmQueryError("severity", f"severity must be among {', '.join(SEVERITIES)} (pipe-separated), "
                                              f"got {severity!r}")
    return severities


def parse_sort_by(items: list[str]) -> list[tuple[str, bool]]:
    """``sort_by`` (possibly repeated): comma-separated ``field [asc|desc]``; returns (field, descending)."""
    order = []
    for item in ",".join(items).split(","):
        words = item.split()
        if not words:
            continue
        if words[0] not in SORT_FIELDS:
            raise AlarmQueryError("sort_by", f"sort_by field {words[0]!r} must be one of {', '.join(SORT_FIELDS)}")
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise AlarmQueryError("sort_by", f"sort_by: {item.strip()!r} is not '<field> [asc|desc]'")
        order.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return order


def check_group_by(group_by: list[str]) -> list[str]:
    """``group_by`` fields, each one of ``GROUP_BY_FIELDS``."""
    for name in group_by:
        if name not in GROUP_BY_FIELDS:
            raise AlarmQueryError("group_by", f"group_by field {name!r} must be one of {', '.join(GROUP_BY_FIELDS)}")
    return group_by


def parse_row_offset(text: str | None) -> int:
    """The integer row ``offset`` of the list and count (all digits, as Monasca requires)."""
    if text is None or text == "":
        return 0
    if not _is_sqlite_integer(text):
        raise AlarmQueryError("offset", f"offset must be a whole number of rows, got {text[:40]!r}")
    return int(text)


def parse_history_offset(text: str | None) -> tuple[int, str | None] | None:
    """A state-history ``offset``: ``<epoch ms>`` (what Monasca clients send: rows strictly after
    that millisecond) or ``<epoch ms>:<alarm id>`` (rows strictly after that row, in
    (timestamp, alarm id) order), which ``history_offset`` emits when a millisecond is shared."""
    if text is None or text == "":
        return None
    milliseconds, separator, alarm_id = text.partition(":")
    if not _is_sqlite_integer(milliseconds) or (separator and not alarm_id):
        raise AlarmQueryError("offset", f"offset {text[:80]!r} is not the id of a state-history element "
                                        "(epoch milliseconds) from a previous page")
    return int(milliseconds), (alarm_id if separator else None)


def history_offset(last: StateChange, following: StateChange | None) -> str:
    """The ``offset`` that continues after ``last``, given the first row of the next page.

    The plain element id (epoch ms), as Monasca emits, is exact unless the next row shares
    that millisecond; only then the alarm id is added, so no row is skipped or repeated."""
    if following is not None and following.timestamp_ms == last.timestamp_ms:
        return f"{last.timestamp_ms}:{last.alarm_id}"
    return str(last.timestamp_ms)


# -- SQL building --------------------------------------------------------------------------------------------

def _metric_match(alias: str, name: str | None, dimensions: Dimensions,
                  dialect: str = "sqlite") -> tuple[list[str], list]:
    """Clauses true when the metric row ``alias`` has ``name`` and carries every wanted dimension."""
    clauses: list[str] = []
    parameters: list = []
    if name is not None:
        clauses.append(f"{alias}.name = ?")
        parameters.append(name)
    source, key_of, value_of = json_keys(dialect, f"{alias}.dimensions")
    for key, values in dimensions:
        clause = f"EXISTS (SELECT 1 FROM {source} WHERE {key_of} = ?"
        parameters.append(key)
        if values is not None:
            clause += f" AND {value_of} IN ({','.join('?' * len(values))})"
            parameters.extend(values)
        clauses.append(clause + ")")
    return clauses, parameters


def _check_filter(alarm_filter: AlarmFilter) -> None:
    if alarm_filter.state is not None and alarm_filter.state not in STATES:
        raise AlarmQueryError("state", f"state must be one of {', '.join(STATES)}")
    for severity in alarm_filter.severities:
        if severity not in SEVERITIES:
            raise AlarmQueryError("severity", f"severity must be among {', '.join(SEVERITIES)}")


def _alarm_where(scope: str, alarm_filter: AlarmFilter, alarm_id: str | None = None,
                 dialect: str = "sqlite") -> tuple[str, list]:
    _check_filter(alarm_filter)
    clauses: list[str] = []
    parameters: list = []

    def equal(column: str, value: object) -> None:
        if value is not None:
            clauses.append(f"{column} = ?")
            parameters.append(value)

    if scope != ALL_TENANTS:
        equal("a.tenant", scope)
    equal("a.id", alarm_id)
    equal("a.definition_id", alarm_filter.alarm_definition_id)
    equal("a.state", alarm_filter.state)
    equal("a.lifecycle_state", alarm_filter.lifecycle_state)
    equal("a.link", alarm_filter.link)
    if alarm_filter.severities:
        clauses.append(f"d.severity IN ({','.join('?' * len(alarm_filter.severities))})")
        parameters.extend(alarm_filter.severities)
    if alarm_filter.state_updated_start_time is not None:
        clauses.append("a.state_updated_at >= ?")
        parameters.append(alarm_filter.state_updated_start_time)
    if alarm_filter.metric_name is not None or alarm_filter.metric_dimensions:
        # As in Monasca, the name and every dimension must hold for one and the same metric of the alarm.
        metric_clauses, metric_parameters = _metric_match("m", alarm_filter.metric_name,
                                                          alarm_filter.metric_dimensions, dialect)
        clauses.append("EXISTS (SELECT 1 FROM alarm_metrics m WHERE m.alarm_id = a.id AND "
                       + " AND ".join(metric_clauses) + ")")
        parameters.extend(metric_parameters)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", parameters


def _direction(column: str, descending: bool, dialect: str) -> str:
    """``column`` ascending or descending with NULL as the smallest value, as SQLite and MariaDB
    order it (PostgreSQL's default is the largest)."""
    if dialect == "postgresql":
        return f"{column} DESC NULLS LAST" if descending else f"{column} ASC NULLS FIRST"
    return f"{column} {'DESC' if descending else 'ASC'}"


def _check_page(offset: int, limit: int) -> None:
    if not 0 <= offset <= _MAX_SQLITE_INTEGER:
        raise AlarmQueryError("offset", "offset must be a whole number of rows")
    if not 0 <= limit <= _MAX_SQLITE_INTEGER:
        raise AlarmQueryError("limit", "limit must be a whole number")


def _metrics_of(database: AlarmDatabase, alarm_ids: list[str]) -> dict[str, list[dict]]:
    metrics: dict[str, list[dict]] = {}
    if not alarm_ids:
        return metrics
    # One bound JSON array instead of one parameter per id: a page may hold 10,000 alarms.
    rows = database.execute(
        "SELECT alarm_id, name, dimensions FROM alarm_metrics "
        f"WHERE alarm_id IN ({json_array_values(database.dialect)}) ORDER BY alarm_id, name, dimensions", (orjson.dumps(alarm_ids).decode(),))
    for alarm_id, name, dimensions in rows:
        metrics.setdefault(alarm_id, []).append({"name": name, "dimensions": orjson.loads(dimensions)})
    return metrics


def _alarm_with_definition(row: tuple, metrics: dict[str, list[dict]]) -> tuple[AlarmRecord, AlarmDefinitionSummary]:
    """A row of ``SELECT <alarm columns>, d.id, d.name, d.severity`` as the record and its definition summary."""
    return (repository.record_from_row(row[:_ALARM_WIDTH], metrics.get(row[0], [])),
            AlarmDefinitionSummary(*row[_ALARM_WIDTH:]))


# -- the queries ---------------------------------------------------------------------------------------------

def list_alarms(database: AlarmDatabase, scope: str, alarm_filter: AlarmFilter, sort_by: list[tuple[str, bool]],
                offset: int, limit: int) -> list[tuple[AlarmRecord, AlarmDefinitionSummary]]:
    """One page of alarms with their definitions, ordered by ``sort_by`` (field, descending) then alarm id."""
    for name, _ in sort_by:
        if name not in _SORT_COLUMNS:
            raise AlarmQueryError("sort_by", f"sort_by field {name!r} must be one of {', '.join(SORT_FIELDS)}")
    _check_page(offset, limit)
    where, parameters = _alarm_where(scope, alarm_filter, dialect=database.dialect)
    order = [_direction(_SORT_COLUMNS[name], descending, database.dialect) for name, descending in sort_by]
    order.append("a.id ASC")  # the final tie-breaker makes the order total, so pages never overlap
    rows = database.execute(
        f"SELECT {_SELECT_ALARM}, d.id, d.name, d.severity {_FROM_ALARMS}{where} "
        f"ORDER BY {', '.join(order)} LIMIT ? OFFSET ?", [*parameters, limit, offset])
    metrics = _metrics_of(database, [row[0] for row in rows])
    return [_alarm_with_definition(row, metrics) for row in rows]


def get_alarm(database: AlarmDatabase, scope: str,
              alarm_id: str) -> tuple[AlarmRecord, AlarmDefinitionSummary] | None:
    """One alarm of the scope with its definition, or None."""
    where, parameters = _alarm_where(scope, AlarmFilter(), alarm_id, database.dialect)
    rows = database.execute(f"SELECT {_SELECT_ALARM}, d.id, d.name, d.severity {_FROM_ALARMS}{where}", parameters)
    row = rows[0] if rows else None
    return None if row is None else _alarm_with_definition(row, _metrics_of(database, [alarm_id]))


def count_alarms(database: AlarmDatabase, scope: str, alarm_filter: AlarmFilter, group_by: list[str], offset: int,
                 limit: int) -> tuple[list[str], list[list]]:
    """(columns, counts): ``["count", *group_by]`` and one row per group, ordered by the group values.

    Grouping by metric_name, dimension_name or dimension_value counts an alarm once in every
    group its metrics fall in (Monasca joins the alarm's distinct metric rows). With nothing
    to show, the single row ``[0, None, ...]``."""
    check_group_by(group_by)
    _check_page(offset, limit)
    where, parameters = _alarm_where(scope, alarm_filter, dialect=database.dialect)
    source = _FROM_ALARMS
    metric_groups = [name for name in _METRIC_GROUP_FIELDS if name in group_by]
    if metric_groups:
        with_dimensions = "dimension_name" in metric_groups or "dimension_value" in metric_groups
        keys, key_of, value_of = json_keys(database.dialect, "m.dimensions")
        metric_source = f"alarm_metrics m, {keys}" if with_dimensions else "alarm_metrics m"
        columns = {"metric_name": "m.name", "dimension_name": key_of, "dimension_value": value_of}
        selected = ", ".join(f"{columns[name]} AS {name}" for name in metric_groups)
        source += (f" JOIN (SELECT DISTINCT m.alarm_id AS alarm_id, {selected} FROM {metric_source}) g"
                   " ON g.alarm_id = a.id")
    group_columns = [_GROUP_COLUMNS[name] for name in group_by]
    query = f"SELECT count(*){''.join(', ' + column for column in group_columns)} {source}{where}"
    if group_columns:
        ordered = ", ".join(_direction(column, False, database.dialect) for column in group_columns)
        query += f" GROUP BY {', '.join(group_columns)} ORDER BY {ordered}"
    rows = database.execute(f"{query} LIMIT ? OFFSET ?", [*parameters, limit, offset])
    counts = [list(row) for row in rows if row[0]]
    if not counts:
        counts = [[0] + [None] * len(group_by)]
    return ["count", *group_by], counts


def state_history(database: AlarmDatabase, scope: str, alarm_id: str | None, dimensions: Dimensions,
                  start_ms: int | None, end_ms: int | None, offset: str | None, limit: int) -> list[StateChange]:
    """State changes in (timestamp, alarm id) order: of one alarm, or of every alarm of the scope
    whose metrics match ``dimensions``; within [start_ms, end_ms] and after the ``offset`` token."""
    after = parse_history_offset(offset)
    _check_page(0, limit)
    clauses: list[str] = []
    parameters: list = []
    if scope != ALL_TENANTS:
        clauses.append("h.tenant = ?")
        parameters.append(scope)
    if alarm_id is not None:
        clauses.append("h.alarm_id = ?")
        parameters.append(alarm_id)
    if start_ms is not None:
        clauses.append("h.timestamp_ms >= ?")
        parameters.append(start_ms)
    if end_ms is not None:
        clauses.append("h.timestamp_ms <= ?")
        parameters.append(end_ms)
    if after is not None:
        milliseconds, after_alarm = after
        if after_alarm is None:
            clauses.append("h.timestamp_ms > ?")
            parameters.append(milliseconds)
        else:
            clauses.append("(h.timestamp_ms, h.alarm_id) > (?, ?)")
            parameters.extend((milliseconds, after_alarm))
    if dimensions:
        metric_clauses, metric_parameters = _metric_match("m", None, dimensions, database.dialect)
        clauses.append(f"h.alarm_id IN (SELECT m.alarm_id FROM alarm_metrics m WHERE {' AND '.join(metric_clauses)})")
        parameters.extend(metric_parameters)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = database.execute(
        f"SELECT {_SELECT_HISTORY} FROM alarm_state_history h{where} ORDER BY h.timestamp_ms, h.alarm_id LIMIT ?",
        [*parameters, limit])
    return [repository.history_from_row(row) for row in rows]
