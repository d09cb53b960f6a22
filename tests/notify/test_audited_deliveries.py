"""Every notification the server executes is in the audit trail: delivered or dead-lettered, with
its method, where it went (secrets cut), the alarm and its transition — written before the outbox
records it, and never in the way of the deliveries."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from nephoscope.audit import AuditTrail, SqliteAuditStorage
from nephoscope.notify.audit_entries import redacted_address
from nephoscope.tenancy import ALL_TENANTS
from tests.conftest import wait_for
from tests.support.outbox import make_config, transition
from tests.support.receivers import Receiver


def records(trail: AuditTrail) -> list[dict]:
    return [entry.as_dict() for entry in trail.page(ALL_TENANTS, _query(), None, 100).entries]


def _query():  # noqa: ANN202
    from nephoscope.audit import AuditQuery

    return AuditQuery()


def test_a_delivered_notification_is_recorded_with_its_method_target_and_transition(
        running, receiver: Receiver, tmp_path: Path) -> None:
    trail = AuditTrail.open(tmp_path / "data")
    run = running(audit=trail)
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/hook?signature=s3cr3t", name="ops hook")
    alarm = transition()
    run.service.outbox.enqueue(alarm, [method.id])
    wait_for(lambda: receiver.bodies("/hook?signature=s3cr3t"), what="the webhook")
    [record] = wait_for(lambda: records(trail), what="the audit record")
    assert record["action"] == "notify" and record["outcome"] == "success" and record["project_id"] == "proj-a"
    assert record["initiator"]["id"] == "nephoscope"
    target = record["target"]
    assert {key: target[key] for key in ("id", "name", "type", "address")} == {
        "id": method.id, "name": "ops hook", "type": "service/oss/monitoring/notification-method",
        "address": receiver.url + "/hook"}
    assert target["addresses"] == [{"url": receiver.url + "/hook", "name": "ops hook"}]  # CADF's own
    assert "s3cr3t" not in str(record["event"])
    details = record["details"]
    assert details["alarm_id"] == alarm.alarm_id and details["alarm_name"] == "cpu high"
    assert (details["old_state"], details["new_state"], details["method_type"]) == ("OK", "ALARM", "WEBHOOK")
    assert details["attempts"] == 1 and record["reason"]["code"] == "delivered"
    [delivery] = run.service.deliveries.list("proj-a", None, 0, 10)
    assert details["delivery_id"] == delivery.id
    run.stop()
    assert trail.verify().intact


def test_a_dead_letter_is_recorded_once_after_its_last_attempt(running, tmp_path: Path) -> None:
    failing = Receiver(always_fail=True).start()
    try:
        trail = AuditTrail.open(tmp_path / "data")
        run = running(make_config(max_attempts=3), audit=trail)
        method = run.method("proj-b", "WEBHOOK", failing.url + "/down")
        run.service.outbox.enqueue(transition(tenant="proj-b"), [method.id])
        wait_for(lambda: run.service.stats().dead_letters == 1, timeout=20, what="the dead letter")
        [record] = records(trail)
        assert len(failing.at("/down")) == 3, "three attempts, one record: the failed attempts are not recorded"
        assert record["outcome"] == "failure" and record["reason"]["code"] == "dead-letter"
        assert "after 3 attempt(s)" in record["reason"]["text"] and "500" in record["reason"]["text"]
        assert record["target"]["id"] == method.id and record["project_id"] == "proj-b"
    finally:
        failing.stop()


def test_deliveries_go_on_when_the_audit_trail_cannot_be_written(running, receiver: Receiver, tmp_path: Path) -> None:
    AuditTrail.open(tmp_path / "data").close()  # the file exists; opened read-only below, appends fail
    trail = AuditTrail(SqliteAuditStorage(tmp_path / "data", read_only=True))
    run = running(audit=trail)
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/still")
    run.service.outbox.enqueue(transition(), [method.id])
    wait_for(lambda: run.service.stats().delivered == 1, what="the delivery despite the audit trail")
    assert receiver.bodies("/still")


@given(st.sampled_from(["WEBHOOK", "SLACK", "PAGERDUTY"]), st.text(min_size=20, max_size=40,
                                                               alphabet="abcdefghijklmnopqrstuvwxyz0123456789"))
def test_secrets_in_addresses_are_cut(method_type: str, secret: str) -> None:
    for address in (f"https://user:{secret}@hooks.example.org/services/T0/B0/{secret}?token={secret}",
                    f"http://heat:8004/v1/signal/{secret}", secret):
        redacted = redacted_address(method_type, address)
        assert secret not in redacted and secret[:4] in redacted
    assert redacted_address("EMAIL", "ops@example.org") == "ops@example.org"
    assert redacted_address("WEBHOOK", "http://h.example:8080/a/b?x=1") == "http://h.example:8080/a/b"
    assert redacted_address("WEBHOOK", "http://h:notaport/x") == "http://h:notaport/x"


@given(st.sampled_from(["WEBHOOK", "SLACK", "PAGERDUTY", "EMAIL", "whatever"]), st.text())
def test_any_address_is_redacted_without_error(method_type: str, address: str) -> None:
    assert isinstance(redacted_address(method_type, address), str)
