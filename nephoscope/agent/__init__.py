"""The edge agent (``nephoscope agent``): collect on the host, aggregate at the meter, push, never lose.

Owns the collectors (host, libvirt instances, checks), the window aggregation into summary
points, the push client with its disk spool, and the log tailer that ships oslo.log lines.
Runs on every hypervisor without the server: imports only ``nephoscope.agent``,
``nephoscope.formats`` (the text formats it shares with the server), ``nephoscope.config``
(the TOML loader) and ``nephoscope.retry``.
"""
