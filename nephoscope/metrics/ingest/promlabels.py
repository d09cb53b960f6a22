"""Prometheus label sets to Nephoscope series: the one mapping remote write and OTLP share.

A Prometheus series with labels L is the series (tenant, name = L["__name__"], dimensions = L
without ``__name__``). Labels with an empty value are absent (Prometheus semantics); labels
whose name starts with ``__`` other than ``__name__`` are not stored. Names and values are kept
verbatim: Prometheus 3 allows any UTF-8 name, and Monasca's character rules apply to what the
Monasca API accepts, not to what remote write stores.

The tenant is the writer's project. A writer with the delegate rule (Monasca's delegate and
admin roles, e.g. Ceilometer's service user) may have a series assigned to the project its
``project_label`` names, as Monasca's ``tenant_id`` does for delegates; the label stays a label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nephoscope.errors import Rejected
from nephoscope.metrics.series import SeriesDefinition, define_series

NAME = "__name__"


def bad_request(field: str, reason: str) -> Rejected:
    """A request the Prometheus protocols call bad data: 400, which senders do not retry."""
    return Rejected(400, f"{field}: {reason}", field)


@dataclass(frozen=True, slots=True)
class SeriesOwner:
    """Whose series a request writes: the token's project, and whether it may write for others."""

    project: str
    delegate: bool
    project_label: str

    def cache_scope(self, wire: str) -> str:
        """The series cache's namespace for one wire format written by this owner: the same raw
        bytes may name different series for a delegate (project label honoured) and for others."""
        return f"{wire}\0{self.project}\0{'d' if self.delegate else ''}"


def series_from_labels(pairs: Iterable[tuple[str, str]], owner: SeriesOwner, where: str) -> SeriesDefinition:
    """The series a label set names (400 naming ``where`` for a label set Prometheus would refuse)."""
    name = ""
    dimensions: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in pairs:
        if not key:
            raise bad_request(where, "a label has an empty name")
        if key in seen:
            raise bad_request(where, f"label {key!r} appears twice")
        seen.add(key)
        if key == NAME:
            name = value
        elif value and not key.startswith("__"):
            dimensions[key] = value
    if not name:
        raise bad_request(where, "the series has no __name__ label (its metric name)")
    tenant = owner.project
    if owner.delegate:
        tenant = dimensions.get(owner.project_label) or tenant
    return define_series(tenant, name, dimensions)
