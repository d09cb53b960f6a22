"""Sub-alarm windows as columns: many sub-alarms of one (period, periods) shape in one bank.

A slot covers ``period`` seconds aligned to the epoch and holds a summary point (count, sum,
min, max, last), so summaries pushed by agents merge exactly (avg = Σsum / Σcount). A bank's
rows share one view: the ``periods`` slots ending at ``view_end`` plus ``FUTURE_SLOTS`` for
points that arrive early, kept as a ring of ``periods + FUTURE_SLOTS`` columns, so sliding
clears columns instead of moving data. Adding points and evaluating are NumPy operations over
all rows at once: the cost of a period close is a few array passes, not a Python call per
alarm (docs/alarm-evaluation.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nephoscope.alarms.expression import Expression, SubExpression, evaluate

OK, ALARM, UNDETERMINED = "OK", "ALARM", "UNDETERMINED"
STATES = (OK, ALARM, UNDETERMINED)
STATE_CODES = {state: code for code, state in enumerate(STATES)}
NO_CHANGE = -1
FUTURE_SLOTS = 2
EMPTY_WINDOWS = 2  # whole empty windows before a non-deterministic sub-alarm becomes UNDETERMINED
FUNCTIONS = ("AVG", "MIN", "MAX", "SUM", "COUNT", "LAST")
OPERATORS = ("LT", "LTE", "GT", "GTE")
_NEVER = np.iinfo(np.int64).min


def is_immediate(expression: SubExpression) -> bool:
    """Cases whose breach can only persist once seen, so they may alarm before the period closes."""
    function, operator = expression.function, expression.operator
    return (function == "LAST" or (function == "MIN" and operator in ("LT", "LTE"))
            or (function in ("MAX", "COUNT") and operator in ("GT", "GTE")))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Rows whose state an evaluation changed (or reported for the first time)."""

    rows: np.ndarray  # int64
    states: np.ndarray  # int8 state codes
    values: np.ndarray  # float64 (len(rows), periods): the view's function values, NaN when empty


class WindowBank:
    """All sub-alarms with one ``period`` and ``periods``; rows are allocated and freed by the caller."""

    def __init__(self, period: int, periods: int, view_end: int, capacity: int = 64) -> None:
        self.period, self.periods = period, periods
        self.width = period * 1000
        self.ring = periods + FUTURE_SLOTS
        self.view_end = (view_end // self.width) * self.width
        self.dropped = 0  # points older than the view or too far ahead: a self-metric
        self._free: list[int] = []
        self.size = 0
        self.immediate_rows = 0  # active rows of immediate cases: 0 skips immediate evaluation
        self._allocate(capacity)

    # -- rows -------------------------------------------------------------------------------------
    def _allocate(self, capacity: int) -> None:
        def grow(name: str, shape: tuple, dtype: type, fill: object) -> None:
            array = np.full(shape, fill, dtype)
            old = getattr(self, name, None)
            if old is not None:
                array[: len(old)] = old
            setattr(self, name, array)

        ring = (capacity, self.ring)
        grow("function", (capacity,), np.int8, 0)
        grow("operator", (capacity,), np.int8, 0)
        grow("threshold", (capacity,), np.float64, 0.0)
        grow("deterministic", (capacity,), np.bool_, False)
        grow("immediate", (capacity,), np.bool_, False)
        grow("active", (capacity,), np.bool_, False)
        grow("state", (capacity,), np.int8, STATE_CODES[UNDETERMINED])
        grow("reported", (capacity,), np.bool_, False)
        grow("seen", (capacity,), np.bool_, False)
        grow("empty_evaluations", (capacity,), np.int32, 0)
        grow("count", ring, np.int64, 0)
        grow("sum", ring, np.float64, 0.0)
        grow("min", ring, np.float64, np.inf)
        grow("max", ring, np.float64, -np.inf)
        grow("last", ring, np.float64, np.nan)
        grow("last_time", ring, np.int64, _NEVER)
        self.capacity = capacity

    def add_row(self, expression: SubExpression, state: str | None = None, reported: bool = False) -> int:
        """A new sub-alarm; ``state`` restores a persisted one (default: OK if deterministic, else UNDETERMINED)."""
        if self._free:
            row = self._free.pop()
            self._clear(row, slice(None))  # fresh rows are clean already
        else:
            if self.size == self.capacity:
                self._allocate(self.capacity * 2)
            row, self.size = self.size, self.size + 1
        self.function[row] = FUNCTIONS.index(expression.function)
        self.operator[row] = OPERATORS.index(expression.operator)
        self.threshold[row] = expression.threshold
        self.deterministic[row] = expression.deterministic
        self.immediate[row] = is_immediate(expression)
        self.immediate_rows += int(self.immediate[row])
        default = OK if expression.deterministic else UNDETERMINED
        self.state[row] = STATE_CODES[state or default]
        self.reported[row] = reported
        self.seen[row] = False
        self.empty_evaluations[row] = 0
        self.active[row] = True
        return row

    def update_row(self, row: int, expression: SubExpression) -> None:
        """An updated definition: new function, operator or threshold; the window's data stays."""
        self.immediate_rows += int(is_immediate(expression)) - int(self.immediate[row])
        self.function[row] = FUNCTIONS.index(expression.function)
        self.operator[row] = OPERATORS.index(expression.operator)
        self.threshold[row] = expression.threshold
        self.deterministic[row] = expression.deterministic
        self.immediate[row] = is_immediate(expression)

    def free_row(self, row: int) -> None:
        self.immediate_rows -= int(self.immediate[row])
        self.active[row] = False
        self._free.append(row)

    def _clear(self, rows: int | slice, columns: np.ndarray | slice) -> None:
        index = (rows, columns)
        self.count[index] = 0
        self.sum[index] = 0.0
        self.min[index] = np.inf
        self.max[index] = -np.inf
        self.last[index] = np.nan
        self.last_time[index] = _NEVER

    # -- points -----------------------------------------------------------------------------------
    @property
    def has_immediate(self) -> bool:
        return self.immediate_rows > 0

    def _first_slot(self) -> int:
        return self.view_end // self.width - self.periods

    def add(self, rows: np.ndarray, timestamps: np.ndarray, count: np.ndarray, total: np.ndarray,
            low: np.ndarray, high: np.ndarray, last: np.ndarray) -> np.ndarray:
        """Merge summary points (any order) into their rows' slots; returns the cells (row × ring +
        slot, with repeats) the points landed in. Every row given counts as having seen a measurement (Monasca creates an
        alarm from a matching metric even when it is too old to count); points older than the view,
        or more than ``FUTURE_SLOTS`` periods ahead, are dropped and counted."""
        self.seen[rows] = True
        slots = timestamps // self.width
        first = self._first_slot()
        keep = (slots >= first) & (slots < first + self.ring)
        self.dropped += int(len(keep) - np.count_nonzero(keep))
        if not keep.all():
            rows, slots, timestamps = rows[keep], slots[keep], timestamps[keep]
            count, total, low, high, last = count[keep], total[keep], low[keep], high[keep], last[keep]
        if not len(rows):
            return rows
        cell = rows * self.ring + slots % self.ring
        np.add.at(self.count.reshape(-1), cell, count)
        np.add.at(self.sum.reshape(-1), cell, total)
        np.minimum.at(self.min.reshape(-1), cell, low)
        np.maximum.at(self.max.reshape(-1), cell, high)
        newest = self.last_time.reshape(-1)
        np.maximum.at(newest, cell, timestamps)
        winners = newest[cell] == timestamps
        self.last.reshape(-1)[cell[winners]] = last[winners]
        return cell

    def may_fire_now(self, cells: np.ndarray) -> np.ndarray:
        """The rows, among those whose ``cells`` just took points, that immediate evaluation must look
        at: immediate cases not already in ALARM whose touched slot now breaches. A run of breaching
        slots can only appear where a slot changed, so the others cannot fire (cheap: per cell)."""
        rows = cells // self.ring
        candidates = self.immediate[rows] & (self.state[rows] != STATE_CODES[ALARM])
        if not candidates.any():
            return rows[:0]
        cells, rows = cells[candidates], rows[candidates]
        function = self.function[rows]
        count = self.count.reshape(-1)[cells]
        values = np.where(function == 1, self.min.reshape(-1)[cells],
                          np.where(function == 2, self.max.reshape(-1)[cells],
                                   np.where(function == 4, count.astype(np.float64), self.last.reshape(-1)[cells])))
        return np.unique(rows[self._breached(rows, values[:, None])[:, 0]])

    # -- evaluation -------------------------------------------------------------------------------
    def _values(self, rows: np.ndarray | slice, first_slot: int, slots: int) -> np.ndarray:
        """Function values of ``slots`` consecutive slots from ``first_slot`` (NaN where empty)."""
        columns = (first_slot + np.arange(slots)) % self.ring
        count = self.count[rows][:, columns]
        function = self.function[rows][:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            total = self.sum[rows][:, columns]
            values = np.where(function == 0, total / count, np.nan)
            values = np.where(function == 1, self.min[rows][:, columns], values)
            values = np.where(function == 2, self.max[rows][:, columns], values)
            values = np.where(function == 3, total, values)
            values = np.where(function == 4, count.astype(np.float64), values)
            values = np.where(function == 5, self.last[rows][:, columns], values)
        return np.where(count > 0, values, np.nan)

    def _breached(self, rows: np.ndarray | slice, values: np.ndarray) -> np.ndarray:
        operator = self.operator[rows][:, None]
        threshold = self.threshold[rows][:, None]
        with np.errstate(invalid="ignore"):
            return np.select([operator == 0, operator == 1, operator == 2],
                             [values < threshold, values <= threshold, values > threshold], values >= threshold)

    def slide(self, view_end: int) -> None:
        """Move the view to end at ``view_end`` (aligned down), clearing the slots that leave it."""
        new_end = (view_end // self.width) * self.width
        moved = (new_end - self.view_end) // self.width
        if moved <= 0:
            return
        if moved >= self.ring:
            self._clear(slice(None), slice(None))
        else:
            entering = (self.view_end // self.width + FUTURE_SLOTS + np.arange(moved)) % self.ring
            self._clear(slice(None), entering)
        self.view_end = new_end

    def evaluate(self, hold_empty: bool = False) -> Evaluation:
        """Monasca's rules over every active row's view (docs/alarm-evaluation.md):
        a non-empty slot that does not breach → OK; every slot non-empty and breaching → ALARM;
        otherwise an empty evaluation, and ``EMPTY_WINDOWS`` whole windows of them → UNDETERMINED
        (OK when deterministic). ``hold_empty`` (catching up) does not count empty evaluations."""
        size = self.size
        values = self._values(slice(0, size), self._first_slot(), self.periods)
        present = ~np.isnan(values)
        breached = self._breached(slice(0, size), values) & present
        clears = (present & ~breached).any(axis=1)
        fires = breached.all(axis=1)
        any_data = present.any(axis=1)
        undecided = ~clears & ~fires
        empty = self.empty_evaluations[:size]
        if not hold_empty:
            empty[any_data] = 0
            empty[undecided] += 1
        default = np.where(self.deterministic[:size], STATE_CODES[OK], STATE_CODES[UNDETERMINED])
        gone = undecided & (empty >= EMPTY_WINDOWS * self.periods)
        new = np.full(size, NO_CHANGE, np.int8)
        new[gone] = default[gone]
        new[fires] = STATE_CODES[ALARM]
        new[clears] = STATE_CODES[OK]
        return self._apply(np.flatnonzero(self.active[:size] & (new != NO_CHANGE)), new, values)

    def evaluate_immediately(self, rows: np.ndarray) -> Evaluation:
        """ALARM now for rows of immediate cases whose view and future hold ``periods`` consecutive
        breaching slots."""
        rows = rows[self.immediate[rows] & self.active[rows]]
        if not len(rows):
            return Evaluation(rows, np.empty(0, np.int8), np.empty((0, self.periods)))
        values = self._values(rows, self._first_slot(), self.ring)
        breached = (self._breached(rows, values) & ~np.isnan(values)).astype(np.int32)
        runs = np.cumsum(np.pad(breached, ((0, 0), (1, 0))), axis=1)
        breaching = runs[:, self.periods:] - runs[:, :-self.periods]  # per run start: breaching slots in it
        firing = breaching.max(axis=1) >= self.periods
        new = np.full(len(rows), NO_CHANGE, np.int8)
        new[firing] = STATE_CODES[ALARM]
        changed = self._apply_rows(rows, new)
        keep = np.isin(rows, changed)
        # The values that decided are the breaching run's, which lies partly or wholly in the future
        # slots (the period has not closed yet), not the view's.
        start = breaching[keep].argmax(axis=1)
        decided = np.take_along_axis(values[keep], start[:, None] + np.arange(self.periods), axis=1)
        return Evaluation(changed, self.state[changed], decided)

    def _apply(self, candidates: np.ndarray, new: np.ndarray, values: np.ndarray) -> Evaluation:
        changed = self._apply_rows(candidates, new[candidates])
        return Evaluation(changed, self.state[changed], values[changed])

    def _apply_rows(self, rows: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Set the new states; returns the rows whose state changed or was reported for the first time."""
        decided = new != NO_CHANGE
        rows, new = rows[decided], new[decided]
        changed = (self.state[rows] != new) | ~self.reported[rows]
        rows, new = rows[changed], new[changed]
        self.state[rows] = new
        self.reported[rows] = True
        return rows

    def state_of(self, row: int) -> str:
        return STATES[int(self.state[row])]


def alarm_state(expression: Expression, states: Sequence[str]) -> str:
    """The alarm's state from its sub-alarms' states (in ``sub_expressions`` order): any
    UNDETERMINED makes it UNDETERMINED, else the expression with ALARM as true decides."""
    if UNDETERMINED in states:
        return UNDETERMINED
    return ALARM if evaluate(expression, [state == ALARM for state in states]) else OK
