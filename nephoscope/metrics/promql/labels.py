"""Label sets: a series' identity in PromQL.

A label set is a tuple of ``(name, value)`` pairs sorted by name, hashable and ordered as
Prometheus orders series (pair by pair). The metric name is the label ``__name__``; labels with an
empty value do not exist. Work on labels is per series, never per sample.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

Labels = tuple[tuple[str, str], ...]
NAME = "__name__"
EMPTY: Labels = ()

# Prometheus 2's label name rule, applied where a query creates a label (label_replace, count_values).
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def make(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((name, value) for name, value in items if value != ""))


def of_series(name: str, dimensions: Mapping[str, str]) -> Labels:
    """The labels of a stored series: its dimensions and its name as ``__name__``."""
    return make({**dimensions, NAME: name})


def get(labels: Labels, name: str) -> str:
    for key, value in labels:
        if key == name:
            return value
    return ""


def drop_name(labels: Labels) -> Labels:
    if labels and any(key == NAME for key, _ in labels):
        return tuple(pair for pair in labels if pair[0] != NAME)
    return labels


def without(labels: Labels, names: Iterable[str]) -> Labels:
    excluded = set(names)
    return tuple(pair for pair in labels if pair[0] not in excluded)


def keep(labels: Labels, names: Iterable[str]) -> Labels:
    kept = set(names)
    return tuple(pair for pair in labels if pair[0] in kept)


def with_label(labels: Labels, name: str, value: str) -> Labels:
    """``labels`` with ``name`` set to ``value`` (removed when ``value`` is empty)."""
    rest = tuple(pair for pair in labels if pair[0] != name)
    return make(rest + ((name, value),)) if value != "" else rest


def text(labels: Labels) -> str:
    """Prometheus's rendering, for error messages: ``{__name__="up", job="node"}``."""
    return "{" + ", ".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
