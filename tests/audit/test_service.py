"""The audit trail's service surface without a server: reloads, the entries it refuses to build,
page tokens, and the merge of two sources into one page."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nephoscope.audit import (
    ALARM_DEFINITION,
    AuditQuery,
    AuditTrail,
    Entry,
    Initiator,
    InvalidToken,
    Reason,
    RecordFilter,
    Target,
)
from nephoscope.audit.view import AuditEntry, decode_token, encode_token, merge
from nephoscope.tenancy import ALL_TENANTS


def test_a_reload_of_the_policy_or_the_rules_is_recorded(tmp_path: Path) -> None:
    trail = AuditTrail.open(tmp_path)
    trail.reloaded("policy", "/etc/nephoscope/policy.yaml")
    trail.reloaded("rules", "/etc/nephoscope/log-rules.yaml", "failure", "line 3: unknown category 'loud'")
    failed, done = (entry.as_dict() for entry in trail.page(ALL_TENANTS, AuditQuery(), None, 10).entries)
    assert (done["action"], done["outcome"], done["target"]["type"], done["target"]["id"]) == (
        "configure/reload", "success", "data/security/policy", "/etc/nephoscope/policy.yaml")
    assert failed["outcome"] == "failure" and failed["reason"]["text"] == "line 3: unknown category 'loud'"
    assert failed["initiator"]["id"] == "nephoscope" and trail.verify().intact


@pytest.mark.parametrize(("action", "outcome", "reason"), [
    ("frobnicate", "success", None),  # not in CADF's action taxonomy
    ("create", "maybe", None),
    ("read", "denied", Reason("500")),  # a refusal is a 401 or a 403
    ("read", "denied", None),
])
def test_entries_outside_cadf_are_refused(tmp_path: Path, action: str, outcome: str, reason: Reason | None) -> None:
    trail = AuditTrail.open(tmp_path)
    with pytest.raises(ValueError):
        trail.record(Entry(action, outcome, Initiator("u"), Target(ALARM_DEFINITION, "d"), "p", reason))
    assert trail.storage.head() is None


@given(st.integers(0, 2**48), st.one_of(st.integers(0, 2**62).map(lambda n: (1, n)),
                                         st.text(min_size=1, max_size=40).map(lambda m: (0, m))))
def test_page_tokens_round_trip(time_ms: int, identity: tuple) -> None:
    key = (time_ms, *identity)
    assert decode_token(encode_token(key)) == key


@pytest.mark.parametrize("token", ["", "x", "12", "12:n:", "12:n:abc", "12:z:1", "-3:n:1", "1:n:" + "9" * 30])
def test_bad_tokens(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_token(token)


def _entries(source_rank: int, keys: list[int]) -> list[AuditEntry]:
    return [AuditEntry(key=(k, source_rank, k if source_rank else f"m{k:04d}"), source="x", time_ms=k, project="p",
                       event={}) for k in sorted(keys, reverse=True)]


@given(st.sets(st.integers(0, 200), max_size=60), st.sets(st.integers(0, 200), max_size=60), st.integers(1, 15))
def test_two_sources_page_together_without_repeats_or_gaps(own: set, foreign: set, limit: int) -> None:
    """The page stops where a source stopped looking; following the tokens visits everything once."""
    every = sorted([(k, 1) for k in own] + [(k, 0) for k in foreign], reverse=True)

    def source(rank: int, keys: set, before, size: int):  # noqa: ANN001, ANN202 - a source's page, as the real ones
        found = [e for e in _entries(rank, list(keys)) if before is None or e.key < before]
        found = found[:size + 1]
        return found, found[-1].key if len(found) > size else None

    seen, before = [], None
    for _ in range(500):
        page, before = merge([source(1, own, before, limit), source(0, foreign, before, 3)], limit)
        seen += [(e.key[0], e.key[1]) for e in page]
        assert len(page) <= limit
        if before is None:
            break
    assert seen == every


def test_a_query_of_one_source_only(tmp_path: Path) -> None:
    trail = AuditTrail.open(tmp_path)
    trail.record(Entry("create", "success", Initiator("u", "p"), Target(ALARM_DEFINITION, "d"), "p", Reason("201")))
    assert len(trail.page("p", AuditQuery(RecordFilter(), "nephoscope"), None, 10).entries) == 1
    assert trail.page("p", AuditQuery(RecordFilter(), "openstack"), None, 10).entries == []
    assert trail.page("q", AuditQuery(), None, 10).entries == []


REQUEST_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(), lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25)


@given(st.dictionaries(st.sampled_from(["name", "expression", "address", "period", "roles", "x"]), REQUEST_JSON),
       st.text(max_size=50), st.text(max_size=50))
def test_whatever_a_client_sent_can_be_recorded(fields: dict, name: str, agent: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        trail = AuditTrail.open(Path(folder))
        trail.record(Entry("update", "failure", Initiator("u", "p", name, "10.0.0.1", agent),
                           Target(ALARM_DEFINITION, name or "d", name), "p", Reason("422", text=name),
                           details={"request": fields}))
        [entry] = trail.page(ALL_TENANTS, AuditQuery(), None, 5).entries
        assert entry.as_dict()["details"] == {"request": fields}
        assert trail.verify().intact
        trail.close()
