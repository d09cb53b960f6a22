"""Refused requests coalesced: counts are exact, records per minute and memory are bounded, the
first refusal of a kind is written within a drain, the rest when its minute ends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.audit import Initiator
from nephoscope.audit.refusals import Refusal, RefusalCoalescer, action_of

T0 = 1_700_000_040.0  # the start of a UTC minute


def refusal(address: str = "203.0.113.9", status: int = 401, at: float = T0, who: str = "unknown",
            rule: str = "", reason: str = "the token is not valid") -> Refusal:
    return Refusal(status, Initiator(who, "proj-a" if who != "unknown" else "", address=address), "GET", "/v2.0/metrics",
                   reason, rule, at)


def test_a_flood_from_one_client_is_two_records_a_minute() -> None:
    coalescer = RefusalCoalescer(100)
    for i in range(5000):
        coalescer.add(refusal(at=T0 + i * 0.01))
    [first] = coalescer.drain(T0 + 50.5)
    assert first.count == 5000 and first.details["repeated"] is False  # the first drain counts all seen so far
    for i in range(3000):
        coalescer.add(refusal(at=T0 + 51 + i * 0.001))
    assert coalescer.drain(T0 + 55) == []  # same minute: nothing new to itemize
    [rest] = coalescer.drain(T0 + 60.2)  # the minute ended
    assert rest.count == 3000 and rest.details["repeated"] is True and rest.details["total_in_minute"] == 8000
    assert rest.outcome == "denied" and rest.reason.code == "401" and rest.target.id == "/v2.0/metrics"
    assert coalescer.drain(T0 + 61) == []


def test_different_clients_statuses_rules_and_reasons_are_itemized() -> None:
    coalescer = RefusalCoalescer(100)
    coalescer.add(refusal("198.51.100.1"))
    coalescer.add(refusal("198.51.100.2"))
    coalescer.add(refusal("198.51.100.2", status=403, who="key-1", rule="api:metrics:get", reason="needs a role"))
    coalescer.add(refusal("198.51.100.2", status=403, who="key-1", rule="api:alarms:get", reason="needs a role"))
    entries = coalescer.drain(T0 + 1)
    assert len(entries) == 4 and all(entry.count == 1 for entry in entries)
    rules = {entry.reason.rule for entry in entries}
    assert rules == {"", "api:metrics:get", "api:alarms:get"}
    forbidden = [entry for entry in entries if entry.reason.code == "403"]
    assert {entry.initiator.id for entry in forbidden} == {"key-1"} and {e.project for e in forbidden} == {"proj-a"}


def test_beyond_the_limit_refusals_are_counted_in_one_record_per_status() -> None:
    coalescer = RefusalCoalescer(10)
    for i in range(500):
        coalescer.add(refusal(f"10.0.{i // 250}.{i % 250}", at=T0 + i * 0.05))
    itemized = coalescer.drain(T0 + 30)
    assert len(itemized) == 10
    closing = coalescer.drain(T0 + 60)
    [overflow] = closing
    assert overflow.count == 490 and overflow.project == "" and "490 more refusals from 490 client addresses" in \
        overflow.reason.text
    assert sum(entry.count for entry in itemized + closing) == 500


def test_shutdown_writes_what_is_counted() -> None:
    coalescer = RefusalCoalescer(10)
    coalescer.add(refusal())
    coalescer.drain(T0 + 1)
    coalescer.add(refusal(at=T0 + 2))
    [last] = coalescer.drain(T0 + 3, final=True)
    assert last.count == 1 and last.details["repeated"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from([401, 403]), st.floats(0, 300)), max_size=400),
       st.integers(1, 15), st.lists(st.floats(0, 330), max_size=12))
def test_counts_add_up_and_records_stay_bounded(arrivals, limit: int, drains) -> None:  # noqa: ANN001
    coalescer = RefusalCoalescer(limit)
    arrivals = sorted(arrivals, key=lambda item: item[2])
    drains = sorted(drains)
    entries = []
    for client, status, offset in arrivals:
        while drains and drains[0] <= offset:
            entries += coalescer.drain(T0 + drains.pop(0))
        coalescer.add(refusal(f"10.0.0.{client}", status, T0 + offset))
    entries += coalescer.drain(T0 + 400, final=True)
    assert sum(entry.count for entry in entries) == len(arrivals)
    minutes = {int((T0 + offset) // 60) for _, _, offset in arrivals}
    assert len(entries) <= len(minutes) * (2 * limit + 2)
    assert all(entry.count >= 1 for entry in entries)


def test_actions_of_methods() -> None:
    assert [action_of(m) for m in ("GET", "post", "PUT", "PATCH", "DELETE", "BREW")] == \
        ["read", "create", "update", "update", "delete", "unknown"]
