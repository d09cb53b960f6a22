"""Failure summaries from log lines: a true error about an instance or a volume becomes the same
kind of record the error notifications give (``events.failures``), so the owner of the resource
reads one explanation whichever way it was learnt.

One record per resource and request: a traceback in nova-compute and the conductor's error for
the same boot are one failure (the first line of the request that failed names it). The events
store keeps them beside the notifications' failures and shows one per resource and request,
the notification's first, enriched with the log's exception.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.events.failures import exception_name, plain_reason

ACTION = "log"  # the action of a failure learnt from logs (the notification names the real one)


def _resource(row: dict) -> tuple[str, str] | None:
    if row.get("instance_id"):
        return row["instance_id"], "instance"
    if row.get("volume_id"):
        return row["volume_id"], "volume"
    return None


def failure_rows(records: pa.Table) -> list[dict]:
    """Failure rows (the events store's ``failures`` columns) for the true errors in ``records``
    that name an instance or a volume; one per resource and request."""
    if not records.num_rows:
        return []
    errors = pc.and_(pc.equal(records.column("category"), "error"),
                     pc.or_(pc.is_valid(records.column("instance_id")), pc.is_valid(records.column("volume_id"))))
    errors = pc.fill_null(errors, False)
    if not pc.any(errors).as_py():
        return []
    # The exception of a request, from whichever of its lines carries one: the conductor's NoValidHost
    # traceback names no instance, the "Setting instance to ERROR state" line names no exception.
    troubled = pc.is_in(records.column("level"), value_set=pa.array(["ERROR", "CRITICAL", "WARNING"]))
    raised = records.filter(pc.and_(pc.fill_null(troubled, False), pc.is_valid(records.column("exception_type"))))
    by_request: dict[str, tuple[str, str]] = {}
    for row in raised.select(["request_id", "exception_type", "exception_message"]).to_pylist():
        if row["request_id"]:
            by_request.setdefault(row["request_id"], (row["exception_type"], row["exception_message"] or ""))
    chosen = records.filter(errors)
    chosen = chosen.append_column("ts", pc.fill_null(pc.cast(chosen.column("time"), pa.int64()), int(time.time() * 1000)))
    chosen = chosen.select(
        ["ts", "host", "service", "project", "request_id", "global_request_id", "instance_id", "volume_id",
         "message", "exception_type", "exception_message", "traceback", "template_id"]).to_pylist()
    rows: dict[tuple[str, str], dict] = {}
    for row in sorted(chosen, key=lambda r: r["ts"]):
        resource = _resource(row)
        if resource is None:
            continue
        resource_id, resource_type = resource
        occurrence = row["request_id"] or f"{row['template_id']}@{row['ts'] // 60_000}"
        if (resource_id, occurrence) in rows:
            continue
        exception_type, exception_message = row["exception_type"], row["exception_message"]
        if not exception_type and row["request_id"] in by_request:
            exception_type, exception_message = by_request[row["request_id"]]
        exception = exception_name(exception_type or "")
        detail = (exception_message or "").strip()
        message = (row["message"] or "").strip().rstrip(".")
        where = f" on {row['host']}" if row["host"] else ""
        reason = plain_reason(exception, detail) if exception or detail else ""
        summary = f"{resource_type.capitalize()} {resource_id}{where}: {message}" + (
            f" — {reason.rstrip('. ')}" if reason else "") + (
            f" ({detail.rstrip('. ')})" if detail and reason != detail else "") + "."
        rows[(resource_id, occurrence)] = {
            "resource_id": resource_id, "action": ACTION, "occurrence": occurrence, "resource_type": resource_type,
            "project_id": row["project"], "ts": row["ts"], "summary": summary, "exception": exception,
            "message": detail or message, "request_id": row["request_id"] or "",
            "global_request_id": row["global_request_id"] or "", "host": row["host"] or "",
            "event_type": f"log:{row['service'] or ''}", "message_id": "",
            "fault": {"traceback": (row["traceback"] or "")[-4000:], "template_id": row["template_id"]},
        }
    return list(rows.values())
