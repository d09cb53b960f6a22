"""The native API under ``/v1``: columnar ingest, key administration, store administration."""
