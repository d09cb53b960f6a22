"""The server's own metrics (``nephoscope.*`` of project ``admin``): ingest rate, rejected
requests, queue depths, store size, request latency. Written through the store like
any other metric, so they can be queried, charted and alarmed on."""
