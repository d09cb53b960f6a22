"""The time-series store.

Owns: the series registry (``series``), the write-ahead log (``wal``), the in-memory
head (``head``), the exact summary arithmetic (``summary``), the chunk byte format
(``codec``), Monasca query semantics over groups of series (``query``), the engine
that ties them together (``engine.Store``) and the embedded DuckDB backend
(``duckdb/``). Every read takes a tenant scope. Imports ``model``, ``config`` and
``ingest`` (decoders resolve series through the registry).
"""
