"""oslo.versionedobjects primitives in notification payloads: recognising one and opening it.

A versioned object travels as ``{"<namespace>_object.name": ..., "<namespace>_object.data": {...},
...}`` (``nova_object.data``, ``cinder_object.data``, ...). ``object_data`` opens one level (what
``envelope`` does to a payload and the catalog's ``data.`` paths do step by step); ``unwrap``
opens every level (``Notification.data``).
"""

from __future__ import annotations

__all__ = ["OBJECT_DATA", "object_data", "unwrap"]

OBJECT_DATA = "_object.data"  # <namespace>_object.data: a versioned object's data


def object_data(obj: dict) -> dict | None:
    """The ``<ns>_object.data`` dict of a versioned object primitive (name, namespace, version, data
    and maybe changes), None when ``obj`` is not one."""
    inner = obj.get("nova_object.data")
    if inner is None:
        if not 0 < len(obj) <= 6:
            return None
        for key, value in obj.items():
            if type(key) is str and key.endswith(OBJECT_DATA):
                inner = value
                break
    return inner if type(inner) is dict else None


def unwrap(item: object) -> object:
    """``item`` with every versioned object inside replaced by its data, recursively. Copy on
    write: an unchanged container is returned as is (the same object)."""
    kind = type(item)
    if kind is dict:
        inner = object_data(item)
        source = item if inner is None else inner
        changed = None
        for key, value in source.items():
            new = unwrap(value)
            if new is not value:
                if changed is None:
                    changed = source.copy()
                changed[key] = new
        return source if changed is None else changed
    if kind is list:
        changed = None
        for index, value in enumerate(item):
            new = unwrap(value)
            if new is not value:
                if changed is None:
                    changed = item.copy()
                changed[index] = new
        return item if changed is None else changed
    return item
