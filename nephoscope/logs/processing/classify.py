"""Classification: each record's category (error / telemetry / noise / audit / info) and the
rule that decided it, for a whole batch at once.

Rules are evaluated once per distinct combination of the fields they look at (template,
service, component, host, logger, level, exception type, format, HTTP status, traceback), not
once per line, and the verdicts are cached across batches. Only rules with a ``message``
regular expression need the lines themselves: those run as one RE2 kernel per rule over the
rows they could still decide. A *true error* is a record whose category is ``error``: an
ERROR/CRITICAL line or a traceback that no rule calls benign, or anything a rule calls an error.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.logs.processing.rules import RuleSet

# Record columns the rules look at (``traceback`` as a flag), in the order of the combination key.
KEY_COLUMNS = ("template_id", "template", "service", "component", "host", "logger", "level",
               "exception_type", "format", "http_status", "traceback")


def _codes(column: pa.Array) -> np.ndarray:
    """Small integer codes of a column's values (null is its own code)."""
    if pa.types.is_boolean(column.type):
        return pc.fill_null(column, False).to_numpy(zero_copy_only=False).astype(np.int64)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    return pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1


def combinations(columns: Sequence[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct combination, combination number of each row)."""
    code = np.zeros(len(columns[0]), np.int64)
    span = 1
    for column in columns:
        values = _codes(column)
        width = int(values.max(initial=0)) + 1
        if span * width >= 1 << 62:  # renumber densely before the mixed-radix code could overflow
            code = np.unique(code, return_inverse=True)[1].astype(np.int64)
            span = int(code.max(initial=0)) + 1
        code = code * width + values
        span *= width
    encoded = pc.dictionary_encode(pa.array(code))
    combination = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.full(len(encoded.dictionary), len(code), np.int64)
    np.minimum.at(first, combination, np.arange(len(code)))
    return first, combination


class Classifier:
    """Applies a :class:`RuleSet` to record batches. Thread-safe; verdicts cached per combination."""

    def __init__(self, rules: RuleSet, cache_size: int = 200_000) -> None:
        self.rules = rules
        self.cache_size = cache_size
        self._cache: dict[tuple, tuple[int, tuple[int, ...]]] = {}
        self._lock = threading.Lock()
        count = len(rules.rules)
        defaults = rules.defaults
        reasons = [(rule.category, rule.name) for rule in rules.rules]
        # The outcomes a record can get: each rule, then each default.
        self._default_index: dict[str, int] = {}
        for level, category in defaults.levels.items():
            self._default_index[f"default:{level}"] = len(reasons)
            reasons.append((category, f"default:{level}"))
        for name, category in (("traceback", defaults.traceback), ("unparsed", defaults.unparsed),
                               ("other", defaults.other)):
            self._default_index[f"default:{name}"] = len(reasons)
            reasons.append((category, f"default:{name}"))
        self._categories = pa.array([category for category, _ in reasons], pa.string())
        self._reasons = pa.array([reason for _, reason in reasons], pa.string())
        self._rule_count = count

    def classify(self, records: pa.Table) -> tuple[pa.Array, pa.Array]:
        """(category, rule) of every record; ``records`` has the columns in ``KEY_COLUMNS`` (with
        ``traceback`` the text or null) and ``message``."""
        rows = records.num_rows
        if rows == 0:
            return pa.array([], pa.string()), pa.array([], pa.string())
        columns = [self._column(records, name) for name in KEY_COLUMNS]
        # the template text follows from the template id: one column less to combine
        first, combination = combinations([c for n, c in zip(KEY_COLUMNS, columns) if n != "template"])
        distinct = pa.table({name: column.take(pa.array(first)) for name, column in zip(KEY_COLUMNS, columns)})
        verdicts = [self._verdict(values) for values in distinct.to_pylist()]
        decided = np.array([verdict for verdict, _ in verdicts], np.int64)[combination]
        pending: dict[int, list[int]] = {}
        for number, (_, conditional) in enumerate(verdicts):
            for rule in conditional:
                pending.setdefault(rule, []).append(number)
        if pending:
            messages = records.column("message").combine_chunks() if isinstance(
                records.column("message"), pa.ChunkedArray) else records.column("message")
            for rule_index in sorted(pending):
                candidates = np.flatnonzero(np.isin(combination, pending[rule_index]) & (decided > rule_index))
                if len(candidates) == 0:
                    continue
                pattern = self.rules.rules[rule_index].message
                hits = pc.fill_null(pc.match_substring_regex(messages.take(pa.array(candidates)), pattern), False)
                decided[candidates[hits.to_numpy(zero_copy_only=False)]] = rule_index
        indices = pa.array(decided)
        return self._categories.take(indices), self._reasons.take(indices)

    @staticmethod
    def _column(records: pa.Table, name: str) -> pa.Array:
        column = records.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if name == "traceback":
            return pc.is_valid(column)
        return column

    def _verdict(self, values: dict) -> tuple[int, tuple[int, ...]]:
        """(index of the first rule that matches without a message regex — or of the default —,
        indices of message-regex rules before it whose other conditions hold)."""
        key = tuple(values.values())
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        conditional: list[int] = []
        verdict = None
        for index, rule in enumerate(self.rules.rules):
            if rule.matches(values):
                if rule.message is None:
                    verdict = index
                    break
                conditional.append(index)
        if verdict is None:
            _, reason = self.rules.defaults.category(values.get("level"), bool(values.get("traceback")),
                                                     values.get("format") == "unparsed")
            verdict = self._default_index[reason]
        result = (verdict, tuple(conditional))
        with self._lock:
            if len(self._cache) >= self.cache_size:
                self._cache.clear()
            self._cache[key] = result
        return result
