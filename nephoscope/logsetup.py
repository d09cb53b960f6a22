"""Process logging in oslo.log's default text format, so operators' log tooling reads ours.

``2026-11-25 01:02:03.456 1234 INFO nephoscope.store.flush [req-… - - - - -] message``
"""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(request_context)s] %(message)s"


class _ContextFilter(logging.Filter):
    """Supplies the oslo.log context block; "-" fields as oslo prints them without a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_context"):
            request_id = getattr(record, "request_id", None)
            record.request_context = f"{request_id} - - - - -" if request_id else "- - - - - -"
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
