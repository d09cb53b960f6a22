"""One sub-alarm: its window of summary slots and the state they give (docs/alarm-evaluation.md).

A slot covers ``period`` seconds aligned to the epoch and holds a summary point (count, sum,
min, max, last), so summaries pushed by agents merge exactly. The view is the ``periods``
slots ending at ``view_end``; two further slots keep points that arrive early.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nephoscope.alarms.expression import Expression, SubExpression, evaluate

OK, ALARM, UNDETERMINED = "OK", "ALARM", "UNDETERMINED"
FUTURE_SLOTS = 2
UNDETERMINED_FACTOR = 2


@dataclass(slots=True)
class Slot:
    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last_time: int = -(2**62)
    last: float = math.nan

    def value(self, function: str) -> float:
        if self.count == 0:
            return math.nan
        return {"AVG": self.sum / self.count, "SUM": self.sum, "MIN": self.min, "MAX": self.max,
                "COUNT": float(self.count), "LAST": self.last}[function]


def _immediate(expression: SubExpression) -> bool:
    """Cases whose breach can only persist once seen, so they may alarm before the period closes."""
    function, operator = expression.function, expression.operator
    return (function == "LAST" or (function == "MIN" and operator in ("LT", "LTE"))
            or (function in ("MAX", "COUNT") and operator in ("GT", "GTE")))


@dataclass
class SubAlarm:
    expression: SubExpression
    view_end: int  # ms, exclusive, a multiple of the period
    state: str = ""
    reported: bool = False  # a new sub-alarm reports its first evaluated state even if unchanged
    empty_observations: int = 0
    dropped: int = 0  # points older than the window, for self-metrics
    current_values: list[float] = field(default_factory=list)
    slots: dict[int, Slot] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.state:
            self.state = OK if self.expression.deterministic else UNDETERMINED

    @property
    def width(self) -> int:
        return self.expression.period * 1000

    @property
    def view_start(self) -> int:
        return self.view_end - self.expression.periods * self.width

    @property
    def empty_threshold(self) -> int:
        return UNDETERMINED_FACTOR * self.expression.periods * max(1, self.expression.period // 60)

    def add(self, timestamps: np.ndarray, count: np.ndarray, total: np.ndarray, low: np.ndarray,
            high: np.ndarray, last: np.ndarray) -> None:
        """Merge summary points (any order) into their slots; points outside the window are dropped."""
        starts = (timestamps // self.width) * self.width
        keep = (starts >= self.view_start) & (starts < self.view_end + FUTURE_SLOTS * self.width)
        self.dropped += int((~keep).sum())
        if not keep.any():
            return
        starts, timestamps = starts[keep], timestamps[keep]
        count, total, low, high, last = count[keep], total[keep], low[keep], high[keep], last[keep]
        for start in np.unique(starts).tolist():  # a batch touches one or two slots
            inside = starts == start
            slot = self.slots.setdefault(start, Slot())
            slot.count += int(count[inside].sum())
            slot.sum += float(total[inside].sum())
            slot.min = min(slot.min, float(low[inside].min()))
            slot.max = max(slot.max, float(high[inside].max()))
            newest = int(np.argmax(np.where(inside, timestamps, -(2**62))))
            if timestamps[newest] >= slot.last_time:
                slot.last_time, slot.last = int(timestamps[newest]), float(last[newest])

    def _values(self, first: int, count: int) -> list[float]:
        function = self.expression.function
        return [self.slots[start].value(function) if start in self.slots else math.nan
                for start in range(first, first + count * self.width, self.width)]

    def evaluate(self) -> str | None:
        """The state the current view gives, or None while it gives no new answer."""
        self.current_values = []
        exceeded = empty = False
        for value in self._values(self.view_start, self.expression.periods):
            if math.isnan(value):
                empty = True
                continue
            self.current_values.append(value)
            self.empty_observations = 0
            if not self.expression.breached(value):
                return self._change(OK)
            exceeded = True
        if exceeded and not empty:
            return self._change(ALARM)
        self.empty_observations += 1
        if self.empty_observations >= self.empty_threshold:
            return self._change(OK if self.expression.deterministic else UNDETERMINED)
        return None

    def evaluate_immediately(self) -> str | None:
        """ALARM now if ``periods`` consecutive slots (view and future) already breach."""
        if not _immediate(self.expression):
            return None
        run: list[float] = []
        for value in self._values(self.view_start, self.expression.periods + FUTURE_SLOTS):
            run = run + [value] if not math.isnan(value) and self.expression.breached(value) else []
            if len(run) == self.expression.periods:
                self.current_values = run
                return self._change(ALARM)
        return None

    def _change(self, state: str) -> str | None:
        if state == self.state and self.reported:
            return None
        self.state, self.reported = state, True
        return state

    def slide(self, view_end: int) -> None:
        """Move the view to end at ``view_end`` (aligned), forgetting slots that left it."""
        self.view_end = (view_end // self.width) * self.width
        for start in [s for s in self.slots if s < self.view_start]:
            del self.slots[start]


def alarm_state(expression: Expression, states: Sequence[str]) -> str:
    """The alarm's state from its sub-alarms' states (in ``sub_expressions`` order): any
    UNDETERMINED makes it UNDETERMINED, else the expression with ALARM as true decides."""
    if UNDETERMINED in states:
        return UNDETERMINED
    return ALARM if evaluate(expression, [state == ALARM for state in states]) else OK
