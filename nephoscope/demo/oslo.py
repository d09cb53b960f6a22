"""oslo.log's text lines, written as the services write them with oslo.log's default options.

The simulated cloud writes its services' logs through this module rather than through oslo.log
(not a dependency of Nephoscope): the same format strings (``logging_context_format_string``,
``logging_default_format_string``, ``logging_debug_format_suffix``, ``logging_exception_prefix``,
``logging_user_identity_format``, ``instance_format``), the same error summary oslo.log appends to a
WARNING or worse logged with an exception, and the traceback lines with their prefix. A test renders
the same records through oslo.log's own ``ContextFormatter`` and compares them line for line
(``tests/demo/test_oslo_lines.py``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # log_date_format; the demo's services log in UTC
# Exceptions oslo.log leaves out of a line's summary unless given explicitly (missing or bad data).
_BAD_DATA = frozenset({"TypeError", "ValueError", "KeyError", "AttributeError", "ImportError"})


@dataclass(frozen=True, slots=True)
class Context:
    """What an oslo.context RequestContext puts in a line: ``[global request user project domain
    system_scope user_domain project_domain]`` (``None`` prints as ``-``, a missing global id as ``None``)."""

    request_id: str
    global_request_id: str | None = None
    user: str | None = None
    project: str | None = None
    domain: str | None = None
    system_scope: str | None = None
    user_domain: str | None = None
    project_domain: str | None = None

    def identity(self) -> str:
        return " ".join(value or "-" for value in (self.user, self.project, self.domain, self.system_scope,
                                                   self.user_domain, self.project_domain))


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a traceback: the file, line and function, and the source line when Python shows it."""

    path: str
    line: int
    function: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Raised:
    """An exception being handled while a line is logged. ``kind`` as a traceback names it (``RuntimeError``,
    ``nova.exception.NoValidHost``). ``shown``: the traceback follows the line (``LOG.exception``,
    ``exc_info=True``); otherwise oslo.log adds only the summary's first line to a WARNING or worse."""

    kind: str
    message: str
    frames: tuple[Frame, ...] = ()
    shown: bool = True

    def summary(self) -> str:
        return f"{self.kind}: {self.message}" if self.message else self.kind

    def traceback(self) -> list[str]:
        """``traceback.print_exception``'s lines, without the final newline's empty line."""
        lines = ["Traceback (most recent call last):"]
        for frame in self.frames:
            lines.append(f'  File "{frame.path}", line {frame.line}, in {frame.function}')
            if frame.code:
                lines.append(f"    {frame.code}")
        return lines + self.summary().split("\n")


def stamp(when: float) -> str:
    """oslo.log's ``%(asctime)s.%(msecs)03d`` in UTC."""
    return time.strftime(_DATE_FORMAT, time.gmtime(when)) + f".{int(when * 1000) % 1000:03d}"


def lines(when: float, pid: int, level: str, logger: str, message: str, *, context: Context | None = None,
          instance: str | None = None, raised: Raised | None = None, where: Frame | None = None) -> list[str]:
    """The physical lines oslo.log writes for one call: the line itself, then, for an exception shown,
    its traceback with the exception prefix on every line (and the prefix alone last, as oslo.log does)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    moment = stamp(when)
    prefix_instance = f"[instance: {instance}] " if instance else ""
    if context is not None:
        head = (f"{moment} {pid} {level} {logger} [{context.global_request_id or 'None'} {context.request_id} "
                f"{context.identity()}] {prefix_instance}{message}")
    else:
        head = f"{moment} {pid} {level} {logger} [-] {prefix_instance}{message}"
    if raised is not None and level not in ("DEBUG", "INFO") and (raised.shown or raised.kind not in _BAD_DATA):
        summary = raised.summary()
        head += ": " + (summary if raised.shown else summary.split("\n", 1)[0])
    if level == "DEBUG" and where is not None:
        head += f" {where.function} {where.path}:{where.line}"
    physical = head.split("\n")
    if raised is not None and raised.shown:
        prefix = f"{moment} {pid} ERROR {logger} {prefix_instance}"
        physical += [prefix + line for line in (*raised.traceback(), "")]
    return physical


def record(physical: Sequence[str]) -> str:
    """The physical lines of one call as the agent ships them: one record, lines joined."""
    return "\n".join(physical)
