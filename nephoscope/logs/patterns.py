"""The regular expressions that recognise line shapes: oslo.log headers and context blocks,
traceback continuation lines, syslog envelopes and HTTP access lines.

All run in Arrow's RE2 kernels over whole batches, so they must be RE2 syntax: no
look-ahead or look-behind, no back-references. Named groups become struct fields in
``extract_regex``. Formats are those of the real producers (oslo.log 4.x-8.x defaults,
eventlet.wsgi, placement's request log, Apache ``combined`` and kolla's keystone variant,
uWSGI's request log, RFC 5424 and RFC 3164 syslog).
"""

from __future__ import annotations

LEVELS = ("TRACE", "DEBUG", "INFO", "AUDIT", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL")
"""Level names oslo.log and Python logging print (AUDIT and TRACE: pre-Liberty oslo.log)."""

# oslo.log's ``logging_context_format_string`` / ``logging_default_format_string`` header:
# ``%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s ``. Loghub prefixes each line
# with the name of its file (``nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 ...``);
# the optional first group takes that. A ``T`` date separator and a ``,`` before the
# milliseconds (Python logging's own default) are accepted too.
OSLO_HEADER = (
    r"^(?:(?P<file>\S+) )?"
    r"(?P<date>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?) "
    r"(?P<pid>\d+) (?P<level>[A-Z]+) (?P<logger>[^\s\[]\S*)"
    r"(?: \[(?P<context>(?:[^i\]][^\]]*)?)\])?"
    r"(?: \[instance: (?P<instance>[^\]\s]*)\])?"
    r" ?(?P<message>.*)$"
)
# What the fast path (plain splits) handles: Loghub's prefix already removed, space-separated date.
OSLO_USUAL_START = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? \d+ [A-Z]+ [^\s\[]"
# Any oslo.log header (a match is cheap; extraction with OSLO_HEADER only for these rows).
OSLO_HEADER_START = r"^(?:\S+ )?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)? \d+ [A-Z]+ [^\s\[]"
# The context block never starts with "i" (it starts with a request id, "None" or "-"), which
# keeps a traceback line's ``[instance: ...]`` (no context block) out of the context group
# without the look-ahead RE2 lacks.

# The same header without the date and pid, as in syslog payloads of deployments that leave the
# date to syslog (``logging_context_format_string`` without ``%(asctime)s``).
OSLO_SHORT_HEADER = (
    r"^(?:(?P<pid>\d+) )?(?P<level>" + "|".join(LEVELS) + r") (?P<logger>[^\s\[]\S*)"
    r"(?: \[(?P<context>(?:[^i\]][^\]]*)?)\])?"
    r"(?: \[instance: (?P<instance>[^\]\s]*)\])?"
    r" ?(?P<message>.*)$"
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
TRACEBACK_START = "Traceback (most recent call last):"
PLAIN_CONTINUATION = (
    r"^(?:[ \t]|Traceback \(most recent call last\):$"
    r"|During handling of the above exception, another exception occurred:$"
    r"|The above exception was the direct cause of the following exception:$|$)"
)
# The last line of a traceback: ``ValueError``, ``ValueError: x``, ``oslo_x.y.ProcessExecutionError: x``.
EXCEPTION_LINE = r"^[A-Za-z_][\w.]*(?::(?: .*)?)?$"

# JSONFormatter lines are one JSON object.
JSON_START = "{"

# Syslog: the envelope (RFC 5424, RFC 3164 with or without <PRI>, rsyslog's ISO file format),
# whose message is then parsed as an oslo.log line when it is one.
SYSLOG_ANY = (
    r"^(?:<\d{1,3}>|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?: "
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \S+ [^\s:\[]+(?:\[\d+\])?: )"
)
SYSLOG_5424 = (
    r"^<(?P<priority>\d{1,3})>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) \S+ "
    r"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<message>.*))?$"
)
SYSLOG_3164 = (
    r"^(?:<(?P<priority>\d{1,3})>)?(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) "
    r"(?P<host>\S+) (?P<app>[^\s:\[]+)(?:\[(?P<procid>\d+)\])?: ?(?P<message>.*)$"
)

# Access lines inside an oslo.log message: eventlet.wsgi (nova, glance, heat, neutron: "status:
# 200  len: 1893 time: 0.2477829") and placement's request log ("... len: 123 microversion: 1.39").
# The client may be a list (X-Forwarded-For).
WSGI_ACCESS_MARK = '" status: '
WSGI_ACCESS = (
    r'^(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+)(?: HTTP/[\d.]+)?" status: (?P<status>\d{3})'
    r"\s+len: (?P<bytes>\d+|-)(?: microversion: \S+)?(?: time: (?P<seconds>\d+(?:\.\d+)?))?"
)

# Apache httpd access lines (keystone, horizon, placement behind mod_wsgi): ``combined``, with an
# optional ``%v:%p`` vhost first and kolla's ``%D`` (microseconds) after the byte count or at the end.
HTTPD_ACCESS = (
    r"^(?:\S+:\d+ )?(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>[A-Z]+) (?P<path>\S+)(?: [^"]*)?" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: (?P<micros>\d+))?(?: "[^"]*" "[^"]*")?(?: (?P<tail_micros>\d+))?'
)
# uWSGI's request log (devstack runs the API services under uWSGI).
UWSGI_ACCESS = (
    r"^\[pid: (?P<pid>\d+)\|app: \S+\|req: \S+\] (?P<client>\S+) \([^)]*\) \{[^}]*\} "
    r"\[(?P<time>[^\]]+)\] (?P<method>[A-Z]+) (?P<path>\S+) => generated (?P<bytes>\d+) bytes in "
    r"(?P<millis>\d+) msecs \(HTTP/[\d.]+ (?P<status>\d{3})\)"
)
