"""Why nova could not place an instance: the scheduler's and conductor's lines made into one
explanation (log-analysis reference §5).

The lines involved, all sharing the boot request's id (nova's RPC context carries it):

* ``nova.scheduler.manager`` INFO ``Got no allocation candidates from the Placement API…``:
  placement found no resource provider with room (the usual modern cause);
* ``nova.filters`` DEBUG ``Starting with N host(s)``, ``Filter X returned N host(s)``, INFO
  ``Filter X returned 0 hosts``, and ``Filtering removed all hosts for the request with instance
  ID '<uuid>'. Filter results: [...]`` — INFO lists ``'Filter: (start: N, end: M)'``, DEBUG lists
  ``('Filter', [(host, node), ...])`` (the hosts that passed), ending with ``('LastFilter', None)``;
* ``nova.scheduler.manager`` DEBUG ``There are N hosts available but M instances requested to
  build.``;
* ``nova.conductor.manager`` ERROR ``Failed to schedule instances`` with a ``NoValidHost``
  (``NoValidHost_Remote``) traceback; ``nova.scheduler.utils`` WARNING ``Failed to
  compute_task_build_instances: No valid host was found. <reason>``, then ``[instance: <uuid>]
  Setting instance to ERROR state.``

``explain`` reads those records (found by the instance's id, then by the request ids of the lines
that name it) and says, in order, which filter removed which hosts and why the request failed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import pyarrow as pa

_STARTING = re.compile(r"Starting with (\d+) host\(s\)")
_RETURNED = re.compile(r"Filter (\w+) returned (\d+) host(?:\(s\)|s)?")
_REMOVED_ALL = re.compile(r"Filtering removed all hosts for the request with instance ID '([0-9a-fA-F-]{36})'\. "
                          r"Filter results: (\[.*\])\s*$", re.S)
_INFO_RESULT = re.compile(r"'?(\w+): \(start: (\d+), end: (\d+)\)'?")
_NO_CANDIDATES = "Got no allocation candidates from the Placement API"
_NOT_ENOUGH = re.compile(r"There are (\d+) hosts available but (\d+) instances requested to build")
_NO_VALID_HOST = re.compile(r"No valid host was found\.?\s*(.*)", re.S)


@dataclass
class FilterStep:
    name: str
    start: int | None  # hosts before the filter
    end: int | None  # hosts after it
    removed_hosts: list[str] = field(default_factory=list)  # known when the scheduler logs at DEBUG

    @property
    def removed(self) -> int | None:
        return None if self.start is None or self.end is None else self.start - self.end


@dataclass
class Explanation:
    instance_id: str
    request_ids: list[str]
    result: str  # failed, scheduled, unknown
    reason: str  # plain words
    filters: list[FilterStep] = field(default_factory=list)
    placement_candidates: bool | None = None  # False: placement had none
    hosts_considered: int | None = None
    lines: list[dict] = field(default_factory=list)  # the records used, oldest first


def _debug_results(text: str) -> list[FilterStep] | None:
    """``[('RetryFilter', [('host1', 'node1'), ...]), ..., ('RamFilter', None)]``: the hosts that
    passed each filter, so each filter's removed hosts are the difference."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(value, list) or not all(isinstance(item, tuple) and len(item) == 2 for item in value):
        return None
    steps = []
    previous: list[str] | None = None
    for name, passed in value:
        hosts = [entry[0] if isinstance(entry, (tuple, list)) and entry else str(entry) for entry in (passed or [])]
        start = len(previous) if previous is not None else None
        removed = [host for host in previous if host not in hosts] if previous is not None else []
        steps.append(FilterStep(str(name), start, len(hosts), removed))
        previous = hosts
    return steps


def _info_results(text: str) -> list[FilterStep]:
    return [FilterStep(name, int(start), int(end)) for name, start, end in _INFO_RESULT.findall(text)]


def _reason(steps: list[FilterStep], no_candidates: bool, not_enough: tuple[int, int] | None,
            no_valid_host: str | None) -> str:
    if no_candidates:
        return ("placement found no compute node with enough free resources (CPU, memory, disk) for the flavor, "
                "or every candidate was excluded by a required trait or aggregate")
    emptied = next((step for step in steps if step.end == 0), None)
    if emptied is not None:
        # No host names here: the reason is shown to the instance's owner; the names are in the
        # filter steps, which only operators get.
        before = f" of the {emptied.start} left" if emptied.start is not None else ""
        return f"the {emptied.name} removed every remaining host{before}"
    if not_enough is not None:
        return f"{not_enough[0]} hosts passed the filters but {not_enough[1]} instances were requested"
    if no_valid_host:
        return f"no valid host was found{': ' + no_valid_host if no_valid_host else ''}"
    return ""


def explain(instance_id: str, records: pa.Table) -> Explanation:
    """The scheduling story of ``instance_id`` from the records of its request(s)."""
    if not records.num_rows:
        return Explanation(instance_id, [], "unknown", "no scheduler or conductor lines for this instance")
    rows = records.sort_by([("ts", "ascending"), ("seq", "ascending")]).to_pylist()
    steps: list[FilterStep] = []
    debug_steps: list[FilterStep] | None = None  # the DEBUG summary: hosts that passed each filter
    info_steps: list[FilterStep] | None = None  # the INFO summary: counts before and after
    no_candidates = False
    not_enough: tuple[int, int] | None = None
    no_valid_host: str | None = None
    hosts_considered: int | None = None
    failed = False
    used: list[dict] = []
    for row in rows:
        message = row.get("message") or ""
        full = "\n".join(part for part in (message, row.get("exception_message") or "") if part)
        relevant = False
        if (match := _STARTING.search(message)) is not None:
            hosts_considered = int(match.group(1))
            relevant = True
        elif (match := _REMOVED_ALL.search(message)) is not None and match.group(1).lower() == instance_id.lower():
            parsed = _debug_results(match.group(2))
            if parsed is not None:
                debug_steps = parsed
            else:
                info_steps = _info_results(match.group(2))
            failed = relevant = True
        elif (match := _RETURNED.search(message)) is not None:
            count = int(match.group(2))
            start = steps[-1].end if steps else hosts_considered
            steps.append(FilterStep(match.group(1), start, count))
            relevant = True
            failed = failed or count == 0
        if _NO_CANDIDATES in message:
            no_candidates = failed = relevant = True
        if (match := _NOT_ENOUGH.search(message)) is not None:
            not_enough = (int(match.group(1)), int(match.group(2)))
            failed = relevant = True
        if (match := _NO_VALID_HOST.search(full)) is not None or (row.get("exception_type") or "").startswith(
                ("NoValidHost", "MaxRetriesExceeded")):
            no_valid_host = (match.group(1).strip().split("\n")[0] if match else "") or no_valid_host or ""
            failed = relevant = True
        if "Failed to schedule instances" in message or "Setting instance to ERROR state" in message:
            failed = relevant = True
        if relevant:
            used.append({key: row.get(key) for key in ("ts", "service", "component", "host", "level", "logger",
                                                       "request_id", "message", "exception_type")})
    filters = info_steps or debug_steps or steps
    if debug_steps:
        removed = {step.name: step.removed_hosts for step in debug_steps}
        for step in filters:
            step.removed_hosts = step.removed_hosts or removed.get(step.name, [])
        if filters is debug_steps and filters and filters[0].start is None:
            filters[0].start = hosts_considered
    request_ids = list(dict.fromkeys(row.get("request_id") for row in rows if row.get("request_id")))
    if not used:
        return Explanation(instance_id, request_ids, "unknown", "no scheduling lines for this instance")
    result = "failed" if failed else "scheduled"
    reason = _reason(filters, no_candidates, not_enough, no_valid_host) if failed else \
        "the scheduler found a host (no filter removed every candidate)"
    if failed and not reason:
        reason = "the scheduler could not place the instance (the logs do not say which step failed)"
    return Explanation(instance_id, request_ids, result, reason, filters,
                       False if no_candidates else None, hosts_considered, used)


SCHEDULING_EVENTS = ("scheduler.select_destinations", "compute_task.build_instances", "compute_task.rebuild_server",
                     "compute_task.migrate_server", "instance.create.error")
"""Notifications that speak of scheduling an instance (nova's scheduler and conductor)."""


def with_notifications(instance_id: str, explanation: Explanation | None, request_ids: list[str],
                       failures: list[tuple[str, str]]) -> Explanation | None:
    """The explanation completed by what the notifications said: ``request_ids`` of the scheduling
    notifications about the instance, and its ``failures`` as (summary, exception). They explain
    alone where no scheduler lines are collected, and give the exception the lines did not name.
    None when neither lines nor notifications speak of it."""
    if explanation is None:
        if not request_ids and not failures:
            return None
        return Explanation(instance_id, sorted(set(request_ids)), "failed" if failures else "unknown",
                           failures[0][0] if failures else "the notifications do not say why")
    if explanation.result == "failed" and failures and not explanation.filters and failures[0][1]:
        explanation.reason = f"{explanation.reason}; {failures[0][0]}"
    return explanation
