"""The regular expressions that recognise line shapes other than oslo.log's own: JSON records,
syslog envelopes and HTTP access lines (oslo.log's header and traceback lines:
``nephoscope.formats.oslo_log``, shared with the agent).

All run in Arrow's RE2 kernels over whole batches, so they must be RE2 syntax: no
look-ahead or look-behind, no back-references. Named groups become struct fields in
``extract_regex``. Formats are those of the real producers (eventlet.wsgi, placement's request
log, Apache ``combined`` and kolla's keystone variant, uWSGI's request log, RFC 5424 and RFC 3164
syslog).
"""

from __future__ import annotations

# JSONFormatter lines are one JSON object.
JSON_START = "{"

# Syslog: the envelope (RFC 5424, RFC 3164 with or without <PRI>, rsyslog's ISO file format),
# whose message is then parsed as an oslo.log line when it is one.
SYSLOG_ANY = (
    r"^(?:<\d{1,3}>|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?: "
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \S+ [^\s:\[]+(?:\[\d+\])?: )"
)
# The MSG may begin with a BOM (RFC 5424 MSG-UTF8), and rsyslog's RSYSLOG_SyslogProtocol23Format
# writes " %msg%" where the msg of a message received as RFC 3164 (syslog(3), imuxsock, imudp)
# keeps the space that followed its tag: one extra space is the sender's, not the message's.
SYSLOG_5424 = (
    r"^<(?P<priority>\d{1,3})>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) \S+ "
    r"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: \x{FEFF}? ?(?P<message>.*))?$"
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
