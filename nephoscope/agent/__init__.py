"""The edge agent (``nephoscope agent``): collect on the host, aggregate at the meter, push, never lose."""
