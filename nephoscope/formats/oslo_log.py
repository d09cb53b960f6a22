"""oslo.log's text format: the line header (``2024-01-01 12:00:00.123 1234 ERROR
nova.compute.manager [req-... ...] [instance: ...] message``), its context block, and the lines of
the Python tracebacks it logs.

Written once for every reader of oslo.log text, in two regular expression flavours built from the
same fragments:

* Arrow's RE2 kernels, over whole batches (the server's parsers, ``nephoscope.logs.processing``):
  no look-ahead or look-behind, no back-references; named groups become struct fields in
  ``extract_regex``. ``OSLO_HEADER`` ... ``EXCEPTION_LINE`` below.
* Python ``re``, line by line (the agent's tailer over bytes: ``pattern.encode()``; the server's
  batch cutter over str): may use look-ahead. ``HEADER_PREFIX``, ``CONTEXT_LINE_START``,
  ``BARE_LINE_START``.

Texts only, nothing compiled: each user compiles what it uses. Formats are those of the real
producers (oslo.log 4.x-8.x defaults; Loghub's copies, which prefix each line with its file name).
Standard library only (see the package).
"""

from __future__ import annotations

LEVELS = ("TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL")
"""Level names oslo.log and Python logging print (AUDIT and TRACE: pre-Liberty oslo.log)."""

# -- texts --------------------------------------------------------------------------------------------

# The line that opens a Python traceback, and the headings between the tracebacks of chained exceptions.
TRACEBACK_START = "Traceback (most recent call last):"
CHAINED_HEADINGS = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def _literal(text: str) -> str:
    """``text`` as a pattern of both flavours: the texts above hold no special character but parentheses."""
    return text.replace("(", r"\(").replace(")", r"\)")


# -- fragments (no anchors, no groups; the same text in RE2 and Python re) ------------------------------

# ``%(asctime)s.%(msecs)03d``: a ``T`` date separator and a ``,`` before the milliseconds (Python
# logging's own default) are accepted too.
_DAY = r"\d{4}-\d\d-\d\d"
_SECONDS = r"\d\d:\d\d:\d\d"
_FRACTION = r"(?:[.,]\d+)?"
TIMESTAMP = _DAY + "[ T]" + _SECONDS + _FRACTION
# The last line of a traceback: ``ValueError``, ``ValueError: x``, ``oslo_x.y.ProcessExecutionError: x``.
EXCEPTION_TYPE = r"[A-Za-z_][\w.]*"
TRACEBACK_END = EXCEPTION_TYPE + r"(?::(?: .*)?)?"
TRACEBACK_LINE = _literal(TRACEBACK_START)
CHAINED_LINES = tuple(_literal(heading) for heading in CHAINED_HEADINGS)

# -- RE2 (Arrow) ----------------------------------------------------------------------------------------

# oslo.log's ``logging_context_format_string`` / ``logging_default_format_string`` header:
# ``%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s ``. Loghub prefixes each line
# with the name of its file (``nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 ...``);
# the optional first group takes that.
# The context block never starts with "i" (it starts with a request id, "None" or "-"), which
# keeps a traceback line's ``[instance: ...]`` (no context block) out of the context group
# without the look-ahead RE2 lacks.
_BLOCKS_AND_MESSAGE = (
    r"(?: \[(?P<context>(?:[^i\]][^\]]*)?)\])?"
    r"(?: \[instance: (?P<instance>[^\]\s]*)\])?"
    r" ?(?P<message>.*)$"
)
OSLO_HEADER = (
    r"^(?:(?P<file>\S+) )?"
    r"(?P<date>" + TIMESTAMP + ") "
    r"(?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>[^\s\[]\S*)"
    + _BLOCKS_AND_MESSAGE
)
# What the fast path (plain splits) handles: Loghub's prefix already removed, space-separated date.
OSLO_USUAL_START = "^" + _DAY + " " + _SECONDS + _FRACTION + r" \d+ [A-Z]+ [^\s\[]"
# Any oslo.log header (a match is cheap; extraction with OSLO_HEADER only for these rows).
OSLO_HEADER_START = r"^(?:\S+ )?" + TIMESTAMP + r" \d+ [A-Z]+ [^\s\[]"
# A line with Loghub's file name before a usual (space-separated) date.
LOGHUB_PREFIXED = r"^\S+ " + _DAY + " " + _SECONDS

# The same header without the date and pid, as in syslog payloads of deployments that leave the
# date to syslog (``logging_context_format_string`` without ``%(asctime)s``).
OSLO_SHORT_HEADER = (
    r"^(?:(?P<pid>\d+) )?(?P<level>" + "|".join(LEVELS) + r") (?P<logger>[^\s\[]\S*)"
    + _BLOCKS_AND_MESSAGE
)

# The context block's content, both eras: ``req-<uuid> user project domain user_domain
# project_domain`` (before oslo.log 4.8, 2022) and ``<global or None> req-<uuid> user project
# domain system_scope user_domain project_domain`` (since). ``-`` alone: no context.
CONTEXT = (
    r"^(?:(?P<global_request_id>None|req-[0-9a-fA-F-]+) )?"
    r"(?P<request_id>req-[0-9a-fA-F-]+)"
    r"(?: (?P<user>\S+))?(?: (?P<project>\S+))?"
)

# oslo.log's DEBUG suffix ``logging_debug_format_suffix``: `` %(funcName)s %(pathname)s:%(lineno)d``.
# Its last token (the pipeline splits the message from the right and checks this):
DEBUG_LOCATION = r"^\S+\.pyc?:\d{1,9}$"

# Lines without a header that continue the record before them: Python traceback lines.
PLAIN_CONTINUATION = r"^(?:[ \t]|" + "".join(line + "$|" for line in (TRACEBACK_LINE, *CHAINED_LINES)) + "$)"
EXCEPTION_LINE = "^" + TRACEBACK_END + "$"

# -- Python re (look-ahead) -----------------------------------------------------------------------------

# A context block opens (not an ``[instance: ...]`` block). The context block is there on ordinary
# lines; traceback lines use ``logging_exception_prefix``, which by default has no context block
# but keeps ``[instance: ...]``.
_CONTEXT_OPENS = r"\[(?!instance: )"
# The header through the logger and its space, perhaps after Loghub's file name.
_THROUGH_LOGGER = r"(?:\S+ )?" + TIMESTAMP + r" \d+ [A-Z]+ \S+ "
# An oslo.log line with a context block: an ordinary line, which always starts a record.
CONTEXT_LINE_START = _THROUGH_LOGGER + _CONTEXT_OPENS
# An oslo.log line without one (``logging_exception_prefix``): may continue a record.
BARE_LINE_START = _THROUGH_LOGGER + "(?!" + _CONTEXT_OPENS + ")"
# A header through its blocks: ``date time.ms pid LEVEL logger [context] [instance: uuid] ``, for
# ``match`` with the line's end as ``endpos``; groups 1-4: timestamp, pid, level, logger.
HEADER_PREFIX = (
    r"(" + TIMESTAMP + r") (\d+) ([A-Z]+) (\S+)(?: |\Z)"
    r"(?:" + _CONTEXT_OPENS + r"[^\]]*\](?: |\Z))?(?:\[instance: [^\]]*\](?: |\Z))?"
)
