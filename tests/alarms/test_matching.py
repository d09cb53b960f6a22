"""The series → sub-alarm index: Monasca's matching and match_by fan-out, kept current on changes."""

from __future__ import annotations

from nephoscope.alarms.definitions import AlarmDefinition
from nephoscope.alarms.matching import Matcher, Target


def definition(identifier: str, expression: str, match_by: list[str] | None = None, tenant: str = "p") -> AlarmDefinition:
    return AlarmDefinition(id=identifier, tenant=tenant, name=identifier, expression=expression,
                           match_by=match_by or [])


def test_a_metric_matches_when_its_dimensions_include_the_expressions() -> None:
    matcher = Matcher()
    matcher.load([definition("d1", "avg(cpu{service=compute}) > 90", ["hostname"]),
                  definition("d2", "avg(cpu) > 50 and max(mem{hostname=h1}) > 10"),
                  definition("d3", "avg(cpu) > 50", tenant="other")])
    assert matcher.targets("p", "cpu", {"service": "compute", "hostname": "h1"}) == [
        Target("d1", ("h1",), 0), Target("d2", (), 0)]
    assert matcher.targets("p", "cpu", {"service": "network", "hostname": "h1"}) == [Target("d2", (), 0)]
    assert matcher.targets("p", "mem", {"hostname": "h1", "device": "x"}) == [Target("d2", (), 1)]
    assert matcher.targets("p", "mem", {"hostname": "h2"}) == []
    assert matcher.targets("p", "disk", {}) == []


def test_match_by_fans_out_and_needs_its_keys() -> None:
    matcher = Matcher()
    matcher.load([definition("d", "max(disk.space_used_perc) > 90", ["hostname", "device"])])
    assert matcher.targets("p", "disk.space_used_perc", {"hostname": "a", "device": "sda"}) == [
        Target("d", ("a", "sda"), 0)]
    assert matcher.targets("p", "disk.space_used_perc", {"hostname": "a", "device": "sdb"}) == [
        Target("d", ("a", "sdb"), 0)]
    assert matcher.targets("p", "disk.space_used_perc", {"hostname": "a"}) == []


def test_changes_reindex_the_definition() -> None:
    matcher = Matcher()
    matcher.load([])
    assert matcher.targets("p", "cpu", {"h": "1"}) == []
    created = definition("d", "avg(cpu) > 1")
    matcher.on_change("created", created)
    assert matcher.targets("p", "cpu", {"h": "1"}) == [Target("d", (), 0)]
    matcher.on_change("updated", definition("d", "avg(cpu{h=2}) > 1"))
    assert matcher.targets("p", "cpu", {"h": "1"}) == []
    matcher.on_change("deleted", created)
    assert matcher.targets("p", "cpu", {"h": "2"}) == []


def test_cost_does_not_grow_with_unrelated_definitions() -> None:
    matcher = Matcher()
    matcher.load([definition(f"d{i}", f"avg(metric{i}) > 1") for i in range(5000)])
    assert matcher.targets("p", "metric4321", {}) == [Target("d4321", (), 0)]
    assert len(matcher._by_name[("p", "metric4321")]) == 1  # only same-name definitions are examined
    assert matcher.targets("p", "metric1", {}, definition_id="d2") == []
