"""The demo's oslo.log lines are oslo.log's: the same records rendered by oslo.log's own
``ContextFormatter`` (options registered as a service registers them, defaults untouched) and by
``nephoscope.demo.oslo`` give the same lines, character for character."""

from __future__ import annotations

import linecache
import logging
import sys
import time
import traceback

import pytest
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_log import formatters
from oslo_log import log as oslo_log

from nephoscope.demo import oslo

WHEN = 1_800_000_123.456
PID = 4242
REQUEST = "req-11111111-2222-4333-8444-555555555555"
GLOBAL = "req-99999999-2222-4333-8444-555555555555"
INSTANCE = "178b0921-8f85-4257-88b6-2e743b5a975c"
PATH = "/usr/lib/python3/dist-packages/nova/conductor/manager.py"
SOURCE = "def schedule(error):\n    _schedule(error)\n\n\ndef _schedule(error):\n    raise error\n"


class NoValidHost(Exception):
    pass


NoValidHost.__module__ = "nova.exception"


def _formatter() -> formatters.ContextFormatter:
    conf = cfg.ConfigOpts()
    oslo_log.register_options(conf)
    conf([], project="nova")
    formatter = formatters.ContextFormatter(project="nova", version="27.0.0", datefmt=conf.log_date_format,
                                            config=conf)
    formatter.converter = time.gmtime  # the demo's services log in UTC
    return formatter


def _raised(error: Exception) -> tuple:
    """A real exception raised two calls down in a service's file, its source known to linecache."""
    linecache.cache[PATH] = (len(SOURCE), None, SOURCE.splitlines(True), PATH)
    namespace: dict = {}
    exec(compile(SOURCE, PATH, "exec"), namespace)  # noqa: S102 - test data
    try:
        namespace["schedule"](error)
    except Exception:  # noqa: BLE001
        return sys.exc_info()
    raise AssertionError("not raised")


def _real(level: str, message: str, *, context: oslo_context.RequestContext | None = None,
          instance: str | None = None, exc_info: tuple | None = None, implicit: tuple | None = None,
          logger: str = "nova.conductor.manager") -> list[str]:
    record = logging.LogRecord(logger, getattr(logging, level), "/usr/lib/python3/dist-packages/nova/x.py", 42,
                               message, None, exc_info, func="do_it")
    record.created, record.msecs, record.process = WHEN, (WHEN - int(WHEN)) * 1000, PID
    if context is not None:
        record.context = context
    if instance:
        record.instance = {"uuid": instance}
    oslo_context._request_store.__dict__.pop("context", None)  # no thread context behind the record's
    formatter = _formatter()
    if implicit is None:
        return formatter.format(record).split("\n")
    try:
        raise implicit[1]
    except Exception:  # noqa: BLE001 - oslo.log reads the exception being handled
        return formatter.format(record).split("\n")


def _context(global_id: str | None) -> oslo_context.RequestContext:
    return oslo_context.RequestContext(user_id="alice", project_id="demo-project-a", request_id=REQUEST,
                                       global_request_id=global_id, user_domain_id="default",
                                       project_domain_id="default", overwrite=False)


def _demo_raised(exc_info: tuple, shown: bool = True) -> oslo.Raised:
    frames = tuple(oslo.Frame(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(exc_info[2]))
    kind = exc_info[0].__qualname__ if exc_info[0].__module__ == "builtins" else \
        f"{exc_info[0].__module__}.{exc_info[0].__qualname__}"
    return oslo.Raised(kind, str(exc_info[1]), frames, shown)


DEMO_CONTEXT = oslo.Context(REQUEST, GLOBAL, "alice", "demo-project-a", None, None, "default", "default")
DEMO_NO_GLOBAL = oslo.Context(REQUEST, None, "alice", "demo-project-a", None, None, "default", "default")
WHERE = oslo.Frame("/usr/lib/python3/dist-packages/nova/x.py", 42, "do_it")


@pytest.mark.parametrize("level", oslo.LEVELS)
def test_plain_lines_with_and_without_a_request_context(level: str) -> None:
    assert oslo.lines(WHEN, PID, level, "nova.conductor.manager", "Took 1.20 seconds", context=DEMO_CONTEXT,
                      instance=INSTANCE, where=WHERE) == _real(level, "Took 1.20 seconds", context=_context(GLOBAL),
                                                                instance=INSTANCE)
    assert oslo.lines(WHEN, PID, level, "nova.conductor.manager", "a\nsecond line", context=DEMO_NO_GLOBAL,
                      where=WHERE) == _real(level, "a\nsecond line", context=_context(None))
    assert oslo.lines(WHEN, PID, level, "oslo_service.periodic_task", "Running periodic task X", where=WHERE) == \
        _real(level, "Running periodic task X", logger="oslo_service.periodic_task")


@pytest.mark.parametrize("level", ["WARNING", "ERROR", "INFO", "DEBUG"])
def test_an_exception_shown_with_its_traceback(level: str) -> None:
    exc_info = _raised(NoValidHost("No valid host was found. There are not enough hosts available."))
    real = _real(level, "Failed to schedule instances", context=_context(GLOBAL), instance=INSTANCE, exc_info=exc_info)
    demo = oslo.lines(WHEN, PID, level, "nova.conductor.manager", "Failed to schedule instances", context=DEMO_CONTEXT,
                      instance=INSTANCE, raised=_demo_raised(exc_info), where=WHERE)
    assert demo == real
    assert any("nova.exception.NoValidHost" in line for line in real) and len(real) > 5


@pytest.mark.parametrize("error", [NoValidHost("No valid host\nRemote traceback"), ValueError("bad data")])
def test_an_exception_being_handled_adds_its_summary_to_a_warning(error: Exception) -> None:
    exc_info = _raised(error)
    real = _real("WARNING", "Setting instance to ERROR state.", context=_context(GLOBAL), instance=INSTANCE,
                 implicit=exc_info)
    demo = oslo.lines(WHEN, PID, "WARNING", "nova.conductor.manager", "Setting instance to ERROR state.",
                      context=DEMO_CONTEXT, instance=INSTANCE, raised=_demo_raised(exc_info, shown=False))
    assert demo == real
