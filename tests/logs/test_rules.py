"""Classification rules: the loader's validation (errors name the rule and the field), the
first-match order, message regular expressions, benign tracebacks, defaults, and what the
shipped rules say about real OpenStack lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.rules import RulesError, default_rules, load_rules, parse_text
from nephoscope.logs.processing.schema import to_records
from nephoscope.logs.processing.sources import Source
from tests.support.log_samples import OsloOutput, request_context


def classify(lines: list[str], rules=None, **source) -> list:
    return to_records(LogPipeline(rules).process(lines, Source(**source)))


def test_shipped_rules_load() -> None:
    rules = default_rules()
    assert len(rules) > 30
    assert {rule.category for rule in rules.rules} == {"error", "telemetry", "noise", "audit", "info"}


@pytest.mark.parametrize("text, expected", [
    ("rules: [{name: a, category: bogus, match: {level: ERROR}}]", "rule 1 'a': field 'category': 'bogus' is not a category"),
    ("rules: [{name: a, category: noise, match: {level: LOUD}}]", "rule 1 'a': field 'match.level': 'LOUD' is not a level"),
    ("rules: [{name: a, category: noise, match: {colour: red}}]", "rule 1 'a': field 'match.colour': unknown condition"),
    ("rules: [{name: a, category: noise, match: {message: '(?<=x)y'}}]",
     "rule 1 'a': field 'match.message': invalid regular expression '(?<=x)y'"),
    ("rules: [{name: a, category: noise, match: {traceback: maybe}}]", "field 'match.traceback': must be true or false"),
    ("rules: [{name: a, category: noise, match: {format: csv}}]", "field 'match.format': must be one or more of"),
    ("rules: [{name: a, category: noise}]", "rule 1 'a': field 'match' is required"),
    ("rules: [{category: noise, match: {level: INFO}}]", "rule 1: field 'name' is required"),
    ("rules: [{name: a, category: noise, match: {level: INFO}, colour: red}]", "rule 1 'a': unknown field 'colour'"),
    ("rules: [{name: a, category: noise, match: {level: INFO}}, {name: a, category: info, match: {level: INFO}}]",
     "rule 2 'a': the name is already used by rule 1"),
    ("defaults: {levels: {ERROR: fatal}}", "field 'defaults.levels.ERROR': 'fatal' is not a category"),
    ("rules: {a: 1}", "'rules' must be a list"),
    ("rules: [1, 2", "not valid YAML"),
])
def test_validation_errors_name_the_rule_and_field(text: str, expected: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_text(text, "site.yaml")
    assert expected in str(caught.value)
    assert "site.yaml" in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(RulesError) as caught:
        parse_text("rules: [{name: a, category: x, match: {level: Y}}, {name: b, category: noise, match: {z: 1}}]")
    message = str(caught.value)
    assert "rule 1 'a'" in message and "rule 2 'b'" in message and "field 'category'" in message


def test_first_match_wins_and_operator_rules_come_first(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("""
rules:
  - name: our-flaky-backend
    category: noise
    description: the lab's NFS backend times out at night; known
    match:
      service: cinder
      level: ERROR
      message: "NFS .* timed out"
""")
    rules = load_rules(site)
    lines = ["2024-01-02 03:04:05.678 7 ERROR cinder.volume.manager [-] NFS share 10.0.0.9:/vol timed out",
             "2024-01-02 03:04:06.678 7 ERROR cinder.volume.manager [-] Volume 3f1c2f7e-6a55-4c6e-9d0c-6b1f0e2a9c41 lost"]
    timed_out, lost = classify(lines, rules)
    assert (timed_out.category, timed_out.rule) == ("noise", "our-flaky-backend")
    assert (lost.category, lost.rule) == ("error", "default:ERROR")
    assert lost.volume_id == "3f1c2f7e-6a55-4c6e-9d0c-6b1f0e2a9c41"
    only_site = load_rules(site, include_defaults=False)
    assert len(only_site) == 1


def test_message_rule_decides_per_line_within_one_template() -> None:
    rules = parse_text("""
rules:
  - name: slow-only
    category: error
    match: {template: "Took <*> to build instance.", message: "Took (?:[6-9]\\\\d|\\\\d{3,})\\\\.\\\\d+ seconds"}
""")
    lines = [f"2024-01-02 03:04:05.678 7 INFO nova.compute.manager [-] Took {s} seconds to build instance."
             for s in ("12.50", "75.20", "130.00")]
    fast, slow, slower = classify(lines, rules)
    assert fast.template_id == slow.template_id == slower.template_id
    assert [fast.category, slow.category, slower.category] == ["info", "error", "error"]


def test_benign_traceback_rule() -> None:
    out = OsloOutput("nova.compute.manager")

    class InstanceNotFound(Exception):
        pass

    InstanceNotFound.__module__, InstanceNotFound.__qualname__ = "nova.exception", "InstanceNotFound"
    try:
        raise InstanceNotFound("Instance 3f1c2f7e could not be found.")
    except InstanceNotFound:
        out.log.warning("Instance disappeared during terminate", exc_info=True, context=request_context())
    try:
        raise ValueError("unexpected")
    except ValueError:
        out.log.warning("Something else went wrong", exc_info=True, context=request_context())
    benign, real = classify(out.lines)
    assert benign.exception_type.endswith("InstanceNotFound")
    assert (benign.category, benign.rule) == ("info", "nova-instance-not-found-during-delete")
    assert (real.category, real.rule) == ("error", "default:traceback")


def test_shipped_rules_on_real_openstack_lines() -> None:
    lines = [
        ("2017-05-16 00:00:04.562 2931 WARNING nova.virt.libvirt.imagecache [req-addc1839-2ed5-4778-b57e-5854eb7b8b09 - - - - -] "
        "Unknown base file: /var/lib/nova/instances/_base/a489c868f0c37da93b76227c91bb03908ac0e742"),
        ("2024-01-02 03:04:05.678 7 DEBUG oslo_service.periodic_task [-] Running periodic task "
        "ComputeManager._poll_rebooting_instances run_periodic_tasks /usr/lib/python3/dist-packages/oslo_service/periodic_task.py:210"),
        ("2024-01-02 03:04:05.678 7 INFO nova.compute.resource_tracker [None req-1 - - - - - -] "
        "Auditing locally available compute resources for node compute-1"),
        ("2024-01-02 03:04:05.678 7 DEBUG oslo_concurrency.lockutils [None req-1 - - - - - -] "
        'Lock "compute_resources" acquired by "nova.compute.resource_tracker.ResourceTracker._update_available_resource" '
        ":: waited 0.000s inner /usr/lib/python3/dist-packages/oslo_concurrency/lockutils.py:404"),
        ("2024-01-02 03:04:05.678 7 WARNING keystone.server.flask.application [None req-2 - - - - - -] "
        "Authorization failed. The request you have made requires authentication. from 10.0.0.1"),
        ("2024-01-02 03:04:05.678 7 ERROR oslo.messaging._drivers.impl_rabbit [-] [a1b2] AMQP server on "
        "10.0.0.5:5672 is unreachable: [Errno 111] ECONNREFUSED. Trying again in 1 seconds.: ConnectionRefusedError: [Errno 111] ECONNREFUSED"),
        ("2024-01-02 03:04:05.678 7 WARNING nova.scheduler.utils [None req-3 u p - - default default] "
        "Failed to compute_task_build_instances: No valid host was found. : nova.exception.NoValidHost: No valid host was found."),
        ("2024-01-02 03:04:05.678 7 WARNING nova.compute.manager [None req-4 - - - - - -] While synchronizing instance "
        "power states, found 3 instances in the database and 2 instances on the hypervisor."),
    ]
    records = classify(lines)
    assert [(r.category, r.rule) for r in records] == [
        ("noise", "nova-image-cache"),
        ("noise", "periodic-task-running"),
        ("telemetry", "nova-resource-tracker-report"),
        ("noise", "lock-chatter"),
        ("audit", "keystone-auth-failed"),
        ("error", "amqp-unreachable"),
        ("error", "nova-no-valid-host"),
        ("noise", "nova-power-state-sync-heartbeat"),
    ]
    assert records[1].function == "run_periodic_tasks" and records[1].source_line == 210


def test_defaults_can_be_changed() -> None:
    rules = parse_text("defaults: {levels: {WARNING: error, DEBUG: info}, unparsed: noise}\nrules: []")
    warning, debug, garbage = classify(["2024-01-02 03:04:05.678 7 WARNING x.y [-] hm",
                                        "2024-01-02 03:04:05.678 7 DEBUG x.y [-] hm", "???"], rules)
    assert (warning.category, debug.category, garbage.category) == ("error", "info", "noise")


def _one(logger: str, level: str, message: str, *args, service: str = "nova", context: bool = True) -> tuple[str, str]:
    """(category, rule) of one line written by oslo.log."""
    out = OsloOutput(logger)
    getattr(out.log, level)(message, *args, **({"context": request_context()} if context else {}))
    record = classify(out.lines, service=service)[0]
    return record.category, record.rule


@pytest.mark.parametrize("service, logger, message, args", [
    ("cinder", "cinder.volume.drivers.lvm", "Failed to delete volume %s from the group %s.", ("vol-1", "grp-2")),
    ("neutron", "neutron.plugins.ml2.managers", "Failed to bind port %s on host %s at level %s", (
        "8d1c7a0e-3b1f-4a55-9a0e-0d7c6f6b2a11", "compute-3", 2)),
    ("nova", "nova.compute.manager", "Unable to attach volume %s: timed out", ("6f1c7a0e-3b1f-4a55-9a0e-0d7c6f6b2a11",)),
    ("glance", "glance.api.v2.images", "Could not delete image %s: backend unreachable", ("img",)),
])
def test_failures_logged_at_warning_are_true_errors(service: str, logger: str, message: str, args: tuple) -> None:
    category, rule = _one(logger, "warning", message, *args, service=service)
    assert (category, rule) == ("error", "warning-reports-a-failure")


def test_benign_warnings_stay_benign() -> None:
    assert _one("nova.virt.libvirt.imagecache", "warning", "Unknown base file: %s", "/var/lib/nova/instances/_base/ab")[0] \
        == "noise"
    assert _one("nova.compute.manager", "warning", "Instance shutdown by itself. Calling the stop API.")[0] == "info"


def test_keystone_auth_outcomes_and_cadf_lines_are_audit() -> None:
    category, rule = _one("keystone.server.flask.application", "warning",
                          "Authorization failed. The request you have made requires authentication. from %s",
                          "10.0.0.5", service="keystone")
    assert category == "audit"
    cadf = ('{"message_id": "5e1c7a0e-3b1f-4a55-9a0e-0d7c6f6b2a11", "publisher_id": "identity.ctl-1", '
            '"event_type": "identity.authenticate", "priority": "INFO", "payload": {"typeURI": '
            '"http://schemas.dmtf.org/cloud/audit/1.0/event", "eventType": "activity", "action": "authenticate", '
            '"outcome": "failure"}}')
    category, rule = _one("oslo.messaging.notification.identity.authenticate", "info", cadf, service="keystone")
    assert (category, rule) == ("audit", "cadf-notification")


def test_periodic_and_lock_chatter_is_noise() -> None:
    assert _one("oslo_concurrency.lockutils", "debug", 'Lock "%s" acquired by "%s" :: waited %.3fs',
                "compute_resources", "nova.compute.resource_tracker.ResourceTracker._update", 0.0, context=False)[0] \
        == "noise"
    assert _one("oslo_service.periodic_task", "debug", "Running periodic task %s",
                "ComputeManager._poll_rescued_instances", context=False)[0] == "noise"
