"""The demo's nova notifications are nova's: the shipped templates are nova's published samples
(``$ref`` resolved), and what the demo sends keeps every sample's shape — only the values change."""

from __future__ import annotations

import json
from importlib import resources

from nephoscope.demo import DemoCloud, DemoPlan
from nephoscope.demo.story import CloudStory
from tests.support.notifications import nova_samples

SHIPPED = json.loads(resources.files("nephoscope.demo").joinpath("data/nova_versioned_samples.json").read_text())


def _shape(value: object) -> object:
    """Keys and nesting, not values (lists by their first item; free-form maps are values)."""
    if isinstance(value, dict):
        return {key: None if key in ("extra_specs", "metadata", "meta") else _shape(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def test_the_shipped_templates_are_novas_published_samples() -> None:
    published = nova_samples()
    assert SHIPPED == {name: published[name] for name in SHIPPED}, (
        "regenerate nephoscope/demo/data/nova_versioned_samples.json from the samples (tests/support/notifications.py "
        "resolves their $refs)")


def test_what_the_demo_sends_has_the_samples_shape() -> None:
    story = CloudStory(DemoCloud(DemoPlan(hypervisors=4, instances_per_hypervisor=3)))
    sent = [json.loads(envelope["oslo.message"]) for envelope in story.between(1_800_000_000, 1_800_007_200)
            .outbox.envelopes]
    versioned = [message for message in sent if isinstance(message["payload"], dict)
                 and "nova_object.data" in message["payload"]]
    assert {message["event_type"] for message in versioned} >= {
        "instance.create.end", "instance.delete.end", "instance.resize_finish.end", "instance.volume_attach.error",
        "compute_task.build_instances.error"}
    by_type: dict[str, list[dict]] = {}
    for sample in SHIPPED.values():  # instance.delete.* has two samples (scheduled or not)
        by_type.setdefault(sample["event_type"], []).append(sample)
    for message in versioned:
        data = message["payload"]["nova_object.data"]
        sample = next((s for s in by_type[message["event_type"]] if set(s["payload"]["nova_object.data"]) == set(data)),
                      None)
        assert sample is not None, (message["event_type"], sorted(data))
        expected = sample["payload"]["nova_object.data"]
        for key in ("flavor", "ip_addresses", "request_spec"):
            if expected.get(key) and data.get(key):  # an unscheduled instance has no address
                assert _shape(data[key]) == _shape(expected[key]), (message["event_type"], key)
        assert message["priority"] == sample["priority"] and message["publisher_id"].split(":")[0] == \
            sample["publisher_id"].split(":")[0]
        assert set(message) >= {"message_id", "publisher_id", "event_type", "priority", "payload", "timestamp",
                                "_context_request_id", "_context_project_id", "_context_user_id"}
