"""Monasca v2.0 wire compatibility: versions, metrics (and later alarms, notifications)."""
