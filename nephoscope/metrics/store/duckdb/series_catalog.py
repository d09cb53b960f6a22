"""What series exist: listing metrics, names, dimension names and values.

Every function takes a tenant scope first; ``ALL_TENANTS`` (admins only, checked
by the caller's policy) is the only way to cross it. Prometheus label matchers become SQL
here, regular expressions through DuckDB's RE2 (``regexp_full_match``: anchored, as
Prometheus's).
"""

from __future__ import annotations

import duckdb
import orjson

from nephoscope.metrics.store.duckdb.database import RECENT, Database, first_row
from nephoscope.metrics.store.interface import LabelMatcher, SeriesFilter, SeriesInfo
from nephoscope.tenancy import ALL_TENANTS

# The Prometheus 3 "underscores" escaping of a stored name: what ``cpu.utilization_perc`` is called
# in a classic PromQL selector (``cpu_utilization_perc``).
_ESCAPED_NAME = "regexp_replace({column}, '[^a-zA-Z0-9_:]', '_', 'g')"
_HAS_LABEL = "{alias}.id IN (SELECT series_id FROM series_dimensions WHERE key = ?{extra})"


def _like_prefilter(value: str) -> str:
    """A LIKE pattern every name whose escaped form is ``value`` matches: each ``_`` stands for any
    one character (cheap to test before the regular expression)."""
    return value.replace("\\", "\\\\").replace("%", "\\%")


def _name_clause(matcher: LabelMatcher, alias: str) -> tuple[str, list]:
    """The metric name matches in its stored or its escaped form (``interface.LabelMatcher``)."""
    column = f"{alias}.name"
    escaped = _ESCAPED_NAME.format(column=column)
    if matcher.op in ("=", "!="):
        found = f"({column} = ? OR ({column} LIKE ? ESCAPE '\\' AND {escaped} = ?))"
        parameters = [matcher.value, _like_prefilter(matcher.value), matcher.value]
    else:
        found = f"(regexp_full_match({column}, ?) OR regexp_full_match({escaped}, ?))"
        parameters = [matcher.value, matcher.value]
    return (found, parameters) if matcher.op in ("=", "=~") else (f"NOT {found}", parameters)


def _label_clause(matcher: LabelMatcher, alias: str) -> tuple[str, list]:
    """A dimension matcher; a missing dimension has the value "" (Prometheus's absent label)."""
    key, value = matcher.label, matcher.value
    has_key = _HAS_LABEL.format(alias=alias, extra="")
    if matcher.op in ("=", "!="):
        if value == "":
            clause, parameters = f"NOT {has_key}", [key]
        else:
            clause, parameters = _HAS_LABEL.format(alias=alias, extra=" AND value = ?"), [key, value]
        return (clause, parameters) if matcher.op == "=" else (f"NOT ({clause})", parameters)
    matching = _HAS_LABEL.format(alias=alias, extra=" AND regexp_full_match(value, ?)")
    # Series without the label match when the expression matches the empty string.
    clause = f"({matching} OR (regexp_full_match('', ?) AND NOT {has_key}))"
    parameters = [key, value, value, key]
    return (clause, parameters) if matcher.op == "=~" else (f"NOT {clause}", parameters)


def _matcher_clauses(matchers: tuple[LabelMatcher, ...], alias: str) -> tuple[list[str], list]:
    clauses, parameters = [], []
    for matcher in matchers:
        clause, values = (_name_clause if matcher.label == "__name__" else _label_clause)(matcher, alias)
        clauses.append(clause)
        parameters.extend(values)
    return clauses, parameters


def _where(series_filter: SeriesFilter, head_ids: list[int], alias: str = "s") -> tuple[str, list]:
    clauses, parameters = ["TRUE"], []
    if series_filter.tenant != ALL_TENANTS:
        clauses.append(f"{alias}.tenant = ?")
        parameters.append(series_filter.tenant)
    if series_filter.name is not None:
        clauses.append(f"{alias}.name = ?")
        parameters.append(series_filter.name)
    for key, values in series_filter.dimensions:
        if values:
            marks = ",".join("?" * len(values))
            clauses.append(f"{alias}.id IN (SELECT series_id FROM series_dimensions WHERE key = ? AND value IN ({marks}))")
            parameters.extend([key, *values])
        else:
            clauses.append(f"{alias}.id IN (SELECT series_id FROM series_dimensions WHERE key = ?)")
            parameters.append(key)
    matcher_clauses, matcher_parameters = _matcher_clauses(series_filter.matchers, alias)
    clauses += matcher_clauses
    parameters += matcher_parameters
    if series_filter.start_ms is not None or series_filter.end_ms is not None:
        start = series_filter.start_ms if series_filter.start_ms is not None else -(2**62)
        end = series_filter.end_ms if series_filter.end_ms is not None else 2**62
        head_clause = f" OR {alias}.id IN ({','.join(str(int(i)) for i in head_ids)})" if head_ids else ""
        clauses.append(
            f"({alias}.id IN (SELECT series_id FROM chunks WHERE t_last >= ? AND t_first < ?)"
            f" OR {alias}.id IN (SELECT series_id FROM {RECENT} WHERE ts >= ? AND ts < ?){head_clause})")
        parameters.extend([start, end, start, end])
    return " AND ".join(clauses), parameters


class SeriesCatalog:
    def __init__(self, database: Database) -> None:
        self.database = database

    def find(self, series_filter: SeriesFilter, head_ids: list[int] = (), after_id: int | None = None,
             limit: int | None = None) -> list[SeriesInfo]:
        """Matching series ordered by (name, dimensions, id); ``after_id`` continues a page."""
        where, parameters = _where(series_filter, list(head_ids))
        query = f"SELECT s.id, s.tenant, s.name, s.dimensions FROM series s WHERE {where}"
        if after_id is not None:
            anchor = first_row(self.database.cursor(), "SELECT name, dimensions FROM series WHERE id = ?", [after_id])
            if anchor is not None:
                query += " AND (s.name, s.dimensions, s.id) > (?, ?, ?)"
                parameters.extend([anchor[0], anchor[1], after_id])
        query += " ORDER BY s.name, s.dimensions, s.id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        rows = self._rows(query, parameters)
        return [SeriesInfo(r[0], r[1], r[2], orjson.loads(r[3])) for r in rows]

    def _rows(self, query: str, parameters: list) -> list[tuple]:
        with self.database.recent_lock.shared():
            return _execute(self.database.cursor(), query, parameters)

    def names(self, series_filter: SeriesFilter, head_ids: list[int], after: str | None, limit: int) -> list[str]:
        where, parameters = _where(series_filter, head_ids)
        query = f"SELECT DISTINCT s.name FROM series s WHERE {where}"
        if after:
            query += " AND s.name > ?"
            parameters.append(after)
        rows = self._rows(query + f" ORDER BY s.name LIMIT {int(limit)}", parameters)
        return [r[0] for r in rows]

    def dimension_names(self, series_filter: SeriesFilter, head_ids: list[int], after: str | None,
                        limit: int) -> list[str]:
        where, parameters = _where(series_filter, head_ids)
        query = (f"SELECT DISTINCT d.key FROM series_dimensions d JOIN series s ON s.id = d.series_id "
                 f"WHERE {where}")
        if after:
            query += " AND d.key > ?"
            parameters.append(after)
        rows = self._rows(query + f" ORDER BY d.key LIMIT {int(limit)}", parameters)
        return [r[0] for r in rows]

    def dimension_values(self, series_filter: SeriesFilter, head_ids: list[int], key: str, after: str | None,
                         limit: int) -> list[str]:
        where, parameters = _where(series_filter, head_ids)
        query = (f"SELECT DISTINCT d.value FROM series_dimensions d JOIN series s ON s.id = d.series_id "
                 f"WHERE d.key = ? AND {where}")
        parameters = [key, *parameters]
        if after:
            query += " AND d.value > ?"
            parameters.append(after)
        rows = self._rows(query + f" ORDER BY d.value LIMIT {int(limit)}", parameters)
        return [r[0] for r in rows]

    def value_meta(self, series: list[int], start_ms: int, end_ms: int) -> dict[tuple[int, int], dict]:
        if not series:
            return {}
        marks = ",".join("?" * len(series))
        rows = self.database.cursor().execute(
            f"SELECT series_id, ts, meta FROM value_meta WHERE series_id IN ({marks}) AND ts >= ? AND ts < ?",
            [*series, start_ms, end_ms]).fetchall()
        return {(r[0], r[1]): orjson.loads(r[2]) for r in rows}


def _execute(cursor: duckdb.DuckDBPyConnection, query: str, parameters: list) -> list[tuple]:
    """Rows of a catalog query; a regular expression RE2 refuses is the caller's error (ValueError)."""
    try:
        return cursor.execute(query, parameters).fetchall()
    except duckdb.InvalidInputException as error:
        raise ValueError(f"invalid regular expression in a label matcher: {error}") from None
