"""Real oslo.log output for the log tests: the library's own formatters, configured as a service
configures them (``oslo_log.log.register_options`` defaults), writing into memory."""

from __future__ import annotations

import io
import itertools
import logging
import uuid

from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_log import formatters
from oslo_log import log as oslo_log

# The defaults before oslo.log 4.8 (2022): no global request id, five identity fields.
PRE_2022_CONTEXT_FORMAT = ("%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s "
                           "[%(request_id)s %(user_identity)s] %(instance)s%(message)s")
# (``%(tenant)s`` then; today's contexts call it ``project``)
PRE_2022_IDENTITY_FORMAT = "%(user)s %(project)s %(domain)s %(user_domain)s %(project_domain)s"
NOVA_WSGI_FORMAT = '%(client_ip)s "%(request_line)s" status: %(status_code)s len: %(body_length)s time: %(wall_seconds).7f'

_names = itertools.count()


def forget_thread_context() -> None:
    """oslo.context remembers the last context per thread and oslo.log uses it when a call
    gives none: forget it, so a call without ``context=`` logs ``[-]``."""
    oslo_context._request_store.__dict__.pop("context", None)  # test-only reach into the store


class OsloOutput:
    """A logger named like a service's (``nova.compute.manager``) whose lines land in ``text`` (or
    go to ``handler``: a ``logging.handlers.SysLogHandler`` sends them as a service logging to
    syslog does)."""

    def __init__(self, logger: str = "nova.compute.manager", json: bool = False, pre_2022: bool = False,
                 debug: bool = True, handler: logging.Handler | None = None) -> None:
        conf = cfg.ConfigOpts()
        oslo_log.register_options(conf)
        conf([], project="nova")
        if pre_2022:
            conf.set_override("logging_context_format_string", PRE_2022_CONTEXT_FORMAT)
            conf.set_override("logging_user_identity_format", PRE_2022_IDENTITY_FORMAT)
        self.stream = io.StringIO()
        handler = handler or logging.StreamHandler(self.stream)
        if json:
            handler.setFormatter(formatters.JSONFormatter(datefmt=conf.log_date_format))
        else:
            handler.setFormatter(formatters.ContextFormatter(project="nova", version="27.0.0",
                                                             datefmt=conf.log_date_format, config=conf))
        # a distinct underlying logger per instance, so handlers never pile up; the record name
        # is rewritten to the service-like name the test asked for
        base = logging.getLogger(f"nephoscope-tests.{next(_names)}")
        base.handlers[:] = [handler]
        base.setLevel(logging.DEBUG if debug else logging.INFO)
        base.propagate = False
        base.addFilter(_Rename(logger))
        self.log = oslo_log.KeywordArgumentAdapter(base, {"project": "nova", "version": "27.0.0"})
        forget_thread_context()

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


class _Rename(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.logger_name = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.name = self.logger_name
        return True


def request_context(request_id: str = "req-11111111-2222-4333-8444-555555555555", user: str = "u-1",
                    project: str = "p-1", global_request_id: str | None = None) -> oslo_context.RequestContext:
    created = oslo_context.RequestContext(user_id=user, project_id=project, request_id=request_id,
                                          global_request_id=global_request_id, overwrite=False)
    forget_thread_context()  # a context is remembered when none was: keep calls without one context-free
    return created


def request_id() -> str:
    """A fresh request id as oslo.context makes them."""
    return f"req-{uuid.uuid4()}"


class NoValidHost_Remote(Exception):  # noqa: N801 - the name oslo.messaging gives it across RPC
    pass


class VolumeBackendAPIException(Exception):
    pass
