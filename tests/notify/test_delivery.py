"""Notification delivery against real receivers: an HTTP server and an SMTP server (aiosmtpd).

The ``NotificationService`` runs its worker on an event loop in a background thread, as
in the server; the tests enqueue alarm transitions and watch what the receivers get:
the exact webhook, Slack and PagerDuty bodies, an email, retries with growing backoff,
one delivery per transition and method, dead letters, periodic re-sends, and deliveries
that survive a restart of the outbox on the same SQLite file.
"""

from __future__ import annotations

import email
import time
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from nephoscope.notify import NotificationService
from tests.conftest import free_port, wait_for
from tests.support.outbox import make_config, transition
from tests.support.receivers import Receiver

pytestmark = pytest.mark.timeout(60)


# Receivers -----------------------------------------------------------------------------------------

class Mailbox:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


def statuses(service: NotificationService, tenant: str = "proj-a") -> dict[int, str]:
    return {d.id: d.status for d in service.deliveries.list(tenant, None, 0, 1000)}


# Bodies ------------------------------------------------------------------------------------------------

def test_webhook_body_is_monascas_plus_idempotency_key(running, receiver: Receiver) -> None:
    run = running()
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/hook")
    event = transition()
    run.service.outbox.enqueue(event, [method.id])
    wait_for(lambda: receiver.bodies("/hook"), what="the webhook")
    [got] = receiver.at("/hook")
    [delivery] = run.service.deliveries.list("proj-a", None, 0, 10)
    assert got.headers["content-type"] == "application/json"
    assert got.body == {
        "alarm_id": event.alarm_id, "alarm_definition_id": "def-1", "alarm_name": "cpu high",
        "alarm_description": "CPU above 90%", "alarm_timestamp": 1_424_451_007, "state": "ALARM", "old_state": "OK",
        "message": event.reason, "tenant_id": "proj-a",
        "metrics": [{"name": "cpu.percent", "dimensions": {"hostname": "h1", "service": "compute"}}],
        "idempotency_key": delivery.idempotency_key,
    }
    assert len(delivery.idempotency_key) == 64
    wait_for(lambda: statuses(run.service) == {delivery.id: "delivered"}, what="delivered status")
    assert run.service.stats().delivered == 1


def test_slack_and_pagerduty_bodies(running, receiver: Receiver) -> None:
    run = running(make_config(pagerduty_url=receiver.url + "/pd/v2/enqueue"))
    slack = run.method("proj-a", "SLACK", receiver.url + "/slack")
    pagerduty = run.method("proj-a", "PAGERDUTY", "routing-key-123")
    alarm = transition()
    run.service.outbox.enqueue(alarm, [slack.id, pagerduty.id])
    wait_for(lambda: receiver.bodies("/slack") and receiver.bodies("/pd/v2/enqueue"), what="slack and pagerduty")
    [text] = receiver.bodies("/slack")
    assert set(text) == {"text"}
    for part in ("ALARM", "HIGH", '"cpu high"', "was OK", alarm.reason, "cpu.percent{hostname=h1, service=compute}",
                 alarm.link):
        assert part in text["text"]
    [event] = receiver.bodies("/pd/v2/enqueue")
    assert event["routing_key"] == "routing-key-123"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == alarm.alarm_id
    assert event["payload"]["summary"] == 'ALARM HIGH "cpu high" for hostname: h1'
    assert event["payload"]["source"] == "h1"
    assert event["payload"]["severity"] == "error"
    assert event["payload"]["custom_details"]["old_state"] == "OK"
    assert event["payload"]["custom_details"]["message"] == alarm.reason

    resolved = transition(alarm_id=alarm.alarm_id, new_state="OK", old_state="ALARM", timestamp_ms=1_424_451_099_000,
                          severity="LOW")
    run.service.outbox.enqueue(resolved, [pagerduty.id])
    wait_for(lambda: len(receiver.bodies("/pd/v2/enqueue")) == 2, what="the resolve event")
    assert receiver.bodies("/pd/v2/enqueue")[1]["event_action"] == "resolve"
    assert receiver.bodies("/pd/v2/enqueue")[1]["dedup_key"] == alarm.alarm_id


def test_email_through_a_real_smtp_server(running, smtp) -> None:
    controller, mailbox = smtp
    run = running(make_config(smtp_host="127.0.0.1", smtp_port=controller.port, smtp_from="alerts@cloud.example"))
    method = run.method("proj-a", "EMAIL", "oncall@example.org")
    alarm = transition()
    run.service.outbox.enqueue(alarm, [method.id])
    wait_for(lambda: mailbox.messages, what="the email")
    recipients, message = mailbox.messages[0]
    assert recipients == ["oncall@example.org"]
    assert message["Subject"] == 'ALARM HIGH "cpu high" for hostname: h1'
    assert message["From"] == "alerts@cloud.example"
    assert message["To"] == "oncall@example.org"
    text = message.get_payload(decode=True).decode()
    assert alarm.reason in text and alarm.alarm_id in text and "cpu.percent{hostname=h1, service=compute}" in text
    [delivery] = run.service.deliveries.list("proj-a", None, 0, 10)
    assert "".join(message["X-Nephoscope-Idempotency-Key"].split()) == delivery.idempotency_key  # may be folded
    wait_for(lambda: statuses(run.service) == {delivery.id: "delivered"}, what="delivered status")


def test_email_to_a_closed_port_is_retried_then_dead(running) -> None:
    run = running(make_config(smtp_host="127.0.0.1", smtp_port=free_port(), max_attempts=2, smtp_timeout=2))
    method = run.method("proj-a", "EMAIL", "oncall@example.org")
    run.service.outbox.enqueue(transition(), [method.id])
    wait_for(lambda: list(statuses(run.service).values()) == ["dead"], what="a dead letter")
    [dead] = run.service.deliveries.list("proj-a", "dead", 0, 10)
    assert dead.attempts == 2 and "SMTP" in dead.last_error


# Retries, idempotency, dead letters ----------------------------------------------------------------------

def test_retries_back_off_exponentially_with_the_same_key(running, receiver: Receiver) -> None:
    receiver.fail_first = 3
    run = running(make_config(backoff_base=0.2, jitter=0.2, max_attempts=5))
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/flaky")
    run.service.outbox.enqueue(transition(), [method.id])
    wait_for(lambda: list(statuses(run.service).values()) == ["delivered"], what="delivery after retries")
    attempts = receiver.at("/flaky")
    assert len(attempts) == 4
    gaps = [b.at - a.at for a, b in zip(attempts, attempts[1:])]
    # base * 2**(n-1), shortened by at most 20 % jitter, plus a little scheduling latency.
    for gap, expected in zip(gaps, (0.2, 0.4, 0.8)):
        assert expected * 0.8 - 0.02 <= gap <= expected + 0.4, gaps
    assert gaps[0] < gaps[1] < gaps[2]
    assert len({a.body["idempotency_key"] for a in attempts}) == 1
    [delivery] = run.service.deliveries.list("proj-a", "delivered", 0, 10)
    assert delivery.attempts == 4
    stats = run.service.stats()
    assert (stats.delivered, stats.failed_attempts, stats.dead_letters, stats.queue_depth) == (1, 3, 0, 0)


def test_a_slow_endpoint_times_out_and_is_retried(running, receiver: Receiver) -> None:
    receiver.delay_first = 1.5
    run = running(make_config(webhook_timeout=0.4))
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/slow")
    run.service.outbox.enqueue(transition(), [method.id])
    wait_for(lambda: list(statuses(run.service).values()) == ["delivered"], what="delivery after a timeout")
    [delivery] = run.service.deliveries.list("proj-a", None, 0, 10)
    assert delivery.attempts == 2
    assert run.service.stats().failed_attempts == 1


def test_one_delivery_per_transition_and_method(running, receiver: Receiver) -> None:
    run = running()
    first = run.method("proj-a", "WEBHOOK", receiver.url + "/one")
    second = run.method("proj-a", "WEBHOOK", receiver.url + "/two")
    other_project = run.method("proj-b", "WEBHOOK", receiver.url + "/b")
    alarm = transition()
    created = run.service.outbox.enqueue(alarm, [first.id, second.id, first.id, "no-such-method", other_project.id])
    assert len(created) == 2
    assert run.service.outbox.enqueue(alarm, [first.id, second.id]) == []
    same_again = transition(alarm_id=alarm.alarm_id)  # an identical record re-sent by the alarm engine
    assert run.service.outbox.enqueue(same_again, [second.id]) == []
    wait_for(lambda: len(receiver.received) >= 2, what="two deliveries")
    time.sleep(0.5)
    assert len(receiver.bodies("/one")) == 1 and len(receiver.bodies("/two")) == 1
    assert receiver.bodies("/b") == []
    assert receiver.bodies("/one")[0]["idempotency_key"] != receiver.bodies("/two")[0]["idempotency_key"]
    # A new transition of the same alarm is a new delivery.
    run.service.outbox.enqueue(transition(alarm_id=alarm.alarm_id, new_state="OK", old_state="ALARM",
                                          timestamp_ms=alarm.timestamp_ms + 60_000), [first.id])
    wait_for(lambda: len(receiver.bodies("/one")) == 2, what="the OK transition")
    assert receiver.bodies("/one")[1]["state"] == "OK"


def test_dead_letter_after_max_attempts_then_manual_retry(running, receiver: Receiver) -> None:
    receiver.always_fail = True
    run = running(make_config(max_attempts=3))
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/down")
    [delivery_id] = run.service.outbox.enqueue(transition(), [method.id])
    wait_for(lambda: statuses(run.service) == {delivery_id: "dead"}, what="a dead letter")
    time.sleep(0.5)
    assert len(receiver.bodies("/down")) == 3
    [dead] = run.service.deliveries.list("proj-a", "dead", 0, 10)
    assert dead.attempts == 3 and "HTTP 500" in dead.last_error
    stats = run.service.stats()
    assert (stats.delivered, stats.failed_attempts, stats.dead_letters, stats.queue_depth) == (0, 3, 1, 0)
    assert run.service.deliveries.list("proj-b", "dead", 0, 10) == []
    assert not run.service.outbox.retry_dead("proj-b", delivery_id)  # another project's dead letter

    receiver.always_fail = False
    assert run.service.outbox.retry_dead("proj-a", delivery_id)
    wait_for(lambda: statuses(run.service) == {delivery_id: "delivered"}, what="delivery after retry")
    assert len(receiver.bodies("/down")) == 4


def test_the_next_attempt_waits_for_the_backoff(running, receiver: Receiver) -> None:
    receiver.always_fail = True
    run = running(make_config(backoff_base=5.0, backoff_max=10.0, max_attempts=3))
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/wait")
    [delivery_id] = run.service.outbox.enqueue(transition(), [method.id])
    wait_for(lambda: statuses(run.service) == {delivery_id: "failed"}, what="the first failure")
    time.sleep(1.0)
    assert len(receiver.bodies("/wait")) == 1
    [failed] = run.service.deliveries.list("proj-a", "failed", 0, 10)
    assert 4.0 - 0.01 <= failed.next_attempt_at - failed.updated_at <= 5.0 + 0.01  # 5 s less up to 20 % jitter
    assert run.service.stats().queue_depth == 1


# Restart --------------------------------------------------------------------------------------------

def test_pending_deliveries_survive_a_restart(running, receiver: Receiver) -> None:
    stopped = running(start_worker=False)  # the server went down before its worker sent anything
    method = stopped.method("proj-a", "WEBHOOK", receiver.url + "/later")
    first, second = transition(), transition()
    stopped.service.outbox.enqueue(first, [method.id])
    stopped.service.outbox.enqueue(second, [method.id])
    stopped.service.outbox.claim_due(1)  # ... or it crashed in the middle of sending one
    stopped.stop()
    assert receiver.received == []

    again = running()  # a new Outbox on the same SQLite file
    wait_for(lambda: len(receiver.bodies("/later")) == 2, what="both deliveries after the restart")
    assert {b["alarm_id"] for b in receiver.bodies("/later")} == {first.alarm_id, second.alarm_id}
    wait_for(lambda: set(statuses(again.service).values()) == {"delivered"}, what="delivered status")


def test_retry_state_survives_a_restart(running, receiver: Receiver) -> None:
    receiver.always_fail = True
    before = running(make_config(max_attempts=4, backoff_base=0.3))
    method = before.method("proj-a", "WEBHOOK", receiver.url + "/bounce")
    [delivery_id] = before.service.outbox.enqueue(transition(), [method.id])
    wait_for(lambda: len(receiver.bodies("/bounce")) >= 2, what="two failed attempts")
    before.stop()
    attempts_before = before.service.deliveries.get("proj-a", delivery_id).attempts
    assert attempts_before >= 2

    receiver.always_fail = False
    after = running(make_config(max_attempts=4, backoff_base=0.3))
    wait_for(lambda: statuses(after.service) == {delivery_id: "delivered"}, what="delivery after the restart")
    assert after.service.deliveries.get("proj-a", delivery_id).attempts == attempts_before + 1
    assert len(receiver.bodies("/bounce")) == attempts_before + 1


# Periodic re-sends ---------------------------------------------------------------------------------------

def test_periodic_resend_while_the_state_lasts(running, receiver: Receiver) -> None:
    run = running()
    periodic = run.method("proj-a", "WEBHOOK", receiver.url + "/every", period=1)
    once = run.method("proj-a", "WEBHOOK", receiver.url + "/once", period=0)
    alarm = transition()
    run.service.outbox.enqueue(alarm, [periodic.id, once.id])
    wait_for(lambda: len(receiver.bodies("/every")) >= 3, timeout=5, what="two re-sends")
    sends = receiver.at("/every")
    assert all(s.body["alarm_id"] == alarm.alarm_id and s.body["state"] == "ALARM" for s in sends)
    assert len({s.body["idempotency_key"] for s in sends}) == len(sends)  # each re-send is its own delivery
    assert 0.8 <= sends[1].at - sends[0].at <= 1.6
    assert len(receiver.bodies("/once")) == 1

    # The alarm goes back to OK: the engine enqueues the new transition (no action for OK here).
    run.service.outbox.enqueue(transition(alarm_id=alarm.alarm_id, new_state="OK", old_state="ALARM",
                                          timestamp_ms=alarm.timestamp_ms + 5000), [])
    count = len(receiver.bodies("/every"))
    time.sleep(1.6)
    assert len(receiver.bodies("/every")) <= count + 1  # at most one already claimed when it changed
    assert run.service.deliveries.periodic_count(alarm.alarm_id) == 0


def test_schedule_and_cancel_periodic_explicitly(running, receiver: Receiver) -> None:
    run = running()
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/tick", period=1)
    alarm = transition()
    assert not run.service.outbox.schedule_periodic(alarm, method.id, 60)  # not the method's period
    assert run.service.outbox.schedule_periodic(alarm, method.id, 1)
    wait_for(lambda: len(receiver.bodies("/tick")) >= 2, timeout=5, what="periodic sends")
    assert run.service.outbox.cancel_periodic(alarm.alarm_id) == 1
    time.sleep(0.3)
    count = len(receiver.bodies("/tick"))
    time.sleep(1.5)
    assert len(receiver.bodies("/tick")) == count


def test_periodic_stops_when_the_method_period_changes(running, receiver: Receiver) -> None:
    run = running()
    method = run.method("proj-a", "WEBHOOK", receiver.url + "/changed", period=1)
    alarm = transition()
    run.service.outbox.enqueue(alarm, [method.id])
    wait_for(lambda: receiver.bodies("/changed"), what="the first send")
    run.service.methods.update("proj-a", method.id, method.name, "WEBHOOK", method.address, 60)
    time.sleep(2.2)
    assert len(receiver.bodies("/changed")) <= 2
    assert run.service.deliveries.periodic_count(alarm.alarm_id) == 0
