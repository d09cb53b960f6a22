"""Append-only columnar tables of records (events, log lines), read through DuckDB: ``appendable``
(embedded: an Arrow write-ahead log, an in-memory tail, Parquet parts per UTC day on this disk),
``cluster`` (clustered: a JetStream stream and Parquet files in S3) and ``interface.RecordTable``,
the surface both offer. Imports pyarrow, NumPy, msgspec, the standard library, ``nephoscope.config``
``nephoscope.errors`` (a write the stream did not acknowledge: 503) and ``nephoscope.engines`` (the
JetStream log and object store); ``events`` and ``logs`` build their
stores on it."""
