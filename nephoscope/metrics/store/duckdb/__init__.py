"""The embedded store on DuckDB.

Owns the tables in ``<data dir>/store.duckdb``: the series registry, recent points
(raw points of windows not yet compacted, native DuckDB columns), compressed chunks
(one per series per window and resolution), value_meta and the store's state.
``writer`` flushes the head, ``compaction`` builds chunks and roll-ups and applies
retention, ``reader`` reads points back, ``catalog`` answers what series exist.
"""
