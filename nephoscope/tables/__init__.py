"""Append-only columnar tables of records (events, log lines): an Arrow write-ahead log, an
in-memory tail, Parquet parts per UTC day, read through DuckDB. Imports only pyarrow, NumPy and
the standard library; ``events`` and ``logs`` build their stores on it."""
