"""Nephoscope: monitoring, logging and alarming for large OpenStack clouds.

The package is laid out one folder per responsibility (see docs/architecture.md):
``api`` (HTTP), ``auth`` (tenants and keys), ``ingest`` (wire formats to columnar
batches), ``store`` (the time-series store), ``demo`` (the simulated cloud) and
``telemetry`` (the server's own metrics).
"""

__version__ = "0.1.0"
