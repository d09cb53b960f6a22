"""The simulated cloud's services, without a server: what they write and send is a function of time
(the same however time is cut into steps), covers every kind of line and notification the issue
names, parses as oslo.log lines and oslo.messaging notifications, and keeps its promises (a boot's
glance and neutron requests carry the boot's request id as their global one)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nephoscope.demo import DemoCloud, DemoPlan
from nephoscope.demo.story import CloudStory, Happenings, iter_processes
from nephoscope.events.envelope import parse_notification
from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.sources import Source

T0 = 1_800_000_000.0
HOURS = 2


@pytest.fixture(scope="module")
def story() -> CloudStory:
    return CloudStory(DemoCloud(DemoPlan(hypervisors=6, instances_per_hypervisor=5)))


@pytest.fixture(scope="module")
def hours(story: CloudStory) -> Happenings:
    return story.between(T0, T0 + HOURS * 3600)


def _flat(*spans: Happenings) -> tuple[list, list]:
    records = sorted((process, when, text) for span in spans for process, items in span.records.items()
                     for when, text in items)
    messages = sorted(envelope["oslo.message"] for span in spans for envelope in span.outbox.envelopes)
    return records, messages


@settings(max_examples=8, deadline=None)
@given(st.lists(st.floats(0, 1800, allow_nan=False), max_size=6))
def test_the_same_story_however_time_is_cut(cuts: list[float]) -> None:
    story = CloudStory(DemoCloud(DemoPlan(hypervisors=3, instances_per_hypervisor=4)))
    edges = [T0, *sorted(T0 + cut for cut in cuts), T0 + 1800]
    pieces = [story.between(a, b) for a, b in zip(edges, edges[1:])]
    assert _flat(*pieces) == _flat(story.between(T0, T0 + 1800))
    again = CloudStory(DemoCloud(DemoPlan(hypervisors=3, instances_per_hypervisor=4)))
    assert _flat(again.between(T0, T0 + 1800)) == _flat(story.between(T0, T0 + 1800))


def test_every_service_writes_and_every_kind_of_line_is_there(hours: Happenings) -> None:
    by_service = Counter(process.service for process in hours.records for _ in hours.records[process])
    assert set(by_service) == {"nova", "neutron", "cinder", "glance", "keystone"}
    text = "\n".join(record for items in hours.records.values() for _, record in items)
    assert re.search(r'"GET /v2.1/servers/detail HTTP/1.1" status: 200 len: \d+ time: [\d.]+', text)  # access lines
    assert "DEBUG oslo_service.periodic_task [-] Running periodic task ComputeManager." in text  # chatter
    assert "WARNING nova.virt.libvirt.imagecache [-] Unknown base file: " in text  # warnings
    assert "Traceback (most recent call last):" in text  # tracebacks
    assert "ERROR nova.conductor.manager" in text and "NoValidHost_Remote: No valid host was found." in text
    assert "Filtering removed all hosts for the request with instance ID" in text  # filter results, both forms
    assert re.search(r"Filter results: \['AvailabilityZoneFilter: \(start: 6, end: 6\)'", text)
    assert "Driver initialize connection failed" in text and "libvirt.libvirtError" in text
    assert "Authorization failed." in text and "used request id req-" in text


def test_a_boots_requests_to_glance_and_neutron_carry_its_id(hours: Happenings) -> None:
    """nova's boot request id is the global id of glance's and neutron's requests, and nova-compute's
    keystoneauth lines say which request id each call got: the trace can be followed both ways."""
    by_service: dict[str, list[str]] = {}
    for process, items in hours.records.items():
        by_service.setdefault(process.service, []).extend(record for _, record in items)
    boots = [re.search(r"\[None (req-\S+) ", line).group(1) for line in by_service["nova"]
             if '"POST /v2.1/servers HTTP/1.1" status: 202' in line]
    assert len(boots) >= 10
    followed = 0
    for request in boots:
        glance = [line for line in by_service["glance"] if f"[{request} req-" in line]
        neutron = [line for line in by_service["neutron"] if f"[{request} req-" in line]
        if not glance:  # a boot that ended in NoValidHost never reached a compute host
            continue
        followed += 1
        assert len(neutron) == 1, request
        for line in (*glance, *neutron):
            own = re.search(rf"\[{request} (req-\S+) ", line).group(1)
            assert any(f"used request id {own}" in other for other in by_service["nova"]), own
    assert followed >= 5


def test_notifications_of_every_service_and_kind(hours: Happenings, story: CloudStory) -> None:
    parsed = [parse_notification(envelope) for envelope in hours.outbox.envelopes]
    types = Counter(notification.event_type for notification in parsed)
    for expected in ("instance.create.end", "compute.instance.create.end", "instance.delete.end",
                     "compute.instance.delete.end", "instance.resize.end", "compute.instance.resize.end",
                     "instance.volume_attach.error", "instance.create.error", "compute.instance.create.error",
                     "compute_task.build_instances.error", "compute_task.build_instances", "volume.create.end",
                     "volume.attach.end", "volume.delete.end", "port.create.end", "port.delete.end",
                     "identity.authenticate"):
        assert types[expected] >= 1, (expected, types)
    assert len({n.message_id for n in parsed}) == len(parsed), "one id a notification"
    errors = [n for n in parsed if n.priority == "ERROR"]
    assert {n.event_type for n in errors} >= {"compute.instance.create.error", "compute_task.build_instances"}
    legacy_error = next(json.loads(e["oslo.message"]) for e in hours.outbox.envelopes
                        if '"compute.instance.create.error"' in e["oslo.message"])
    assert legacy_error["payload"]["code"] == 500 and legacy_error["payload"]["message"]  # exception_to_dict's
    assert set(story.projects) >= {n.context["project_id"] for n in parsed if n.context.get("project_id")}


def test_every_line_parses_as_oslo_log(hours: Happenings) -> None:
    pipeline = LogPipeline()
    for process, items in list(hours.records.items())[:12]:
        lines = [line for _, record in items for line in record.split("\n")]
        table: pa.Table = pipeline.process(lines, Source(service=process.service, component=process.component,
                                                         host=process.host))
        assert table.num_rows == len(items), process  # a traceback is one record
        assert set(table.column("format").to_pylist()) == {"oslo"}, process


def test_the_inventory_creates_every_instance_once(story: CloudStory) -> None:
    parsed = [parse_notification(envelope) for envelope in story.inventory(T0).envelopes]
    created = [n for n in parsed if n.event_type in ("instance.create.end", "compute.instance.create.end")]
    assert len(created) == len(story.cloud.instances)
    assert sum(1 for n in parsed if n.event_type == "volume.create.end") == (len(story.cloud.instances) + 2) // 3
    assert len(list(iter_processes(story))) == 8 + 2 * len(story.hosts)
