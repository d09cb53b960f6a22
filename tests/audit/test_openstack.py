"""OpenStack's own CADF notifications in the audit view, produced by the real libraries: keystone's
``identity.*`` events built with pycadf as keystone builds them and sent by oslo.messaging's
Notifier, and keystonemiddleware's audit middleware wrapped around a small WSGI app, driven with
webob — both through the real RabbitMQ into a server consuming it, then read at ``/v1/audit``
beside Nephoscope's own records."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import webob
from pycadf import cadftaxonomy, cadftype, eventfactory, host, reason, resource

from tests.conftest import ServerProcess, wait_for
from tests.support.rabbitmq import Notifiers, amqp_url, list_bindings

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("broker")]

PROJECT = "5b1c0e2f0c4a4d7e9a3b6c8d1e2f3a4b"
ADMIN_PROJECT = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"
USER = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
ALICE = "1a2b3c4d5e6f708192a3b4c5d6e7f809"
TOKEN = "gAAAAABl-a-fernet-token-that-must-not-appear"
AUDIT_MAP = """[DEFAULT]
target_endpoint_type = None
[path_keywords]
servers = server
[service_endpoints]
compute = service/compute
"""
CATALOG = [{"type": "compute", "name": "nova", "id": "c0ffee00c0ffee00c0ffee00c0ffee00",
            "endpoints": [{"publicURL": "http://nova.example:8774/v2.1", "adminURL": "http://nova.example:8774/v2.1",
                           "internalURL": "http://nova.example:8774/v2.1", "region": "RegionOne",
                           "id": "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0"}]}]


@pytest.fixture
def consuming(tmp_path: Path, vhost: str) -> ServerProcess:
    process = ServerProcess(tmp_path / "data", extra_env={
        "NEPHOSCOPE_RABBITMQ_ENABLED": "true", "NEPHOSCOPE_RABBITMQ_URLS": amqp_url(vhost),
        "NEPHOSCOPE_RABBITMQ_EXCHANGES": "keystone,openstack", "NEPHOSCOPE_RABBITMQ_WORKERS": "1",
        "NEPHOSCOPE_RABBITMQ_BATCH_SECONDS": "0.05"}).start()
    wait_for(lambda: {"keystone", "openstack"} <= {source for source, destination, _ in list_bindings(vhost)
                                                  if destination.startswith("nephoscope.")}, 30, "the bindings")
    yield process
    process.stop()


def keystone_events() -> list[tuple[str, dict]]:
    """What keystone sends with notification_format = cadf (keystone.notifications._send_audit_notification)."""
    factory = eventfactory.EventFactory()
    failed_login = factory.new_event(
        eventType=cadftype.EVENTTYPE_ACTIVITY, outcome=cadftaxonomy.OUTCOME_FAILURE,
        action=cadftaxonomy.ACTION_AUTHENTICATE,
        initiator=resource.Resource(typeURI=cadftaxonomy.ACCOUNT_USER, id=USER,
                                    host=host.Host(address="198.51.100.7", agent="python-keystoneclient")),
        target=resource.Resource(typeURI=cadftaxonomy.ACCOUNT_USER, id="d4f2c6e8a0b24c6e8a0b2c4d6e8f0a1b"),
        observer=resource.Resource(typeURI=cadftaxonomy.SERVICE_SECURITY, id="openstack:b7a0c2d4"),
        reason=reason.Reason(reasonType="HTTP", reasonCode="401"))
    initiator = resource.Resource(typeURI=cadftaxonomy.ACCOUNT_USER, id=USER,
                                  host=host.Host(address="198.51.100.8", agent="openstacksdk"))
    initiator.user_id, initiator.project_id = USER, ADMIN_PROJECT
    created = factory.new_event(
        eventType=cadftype.EVENTTYPE_ACTIVITY, outcome=cadftaxonomy.OUTCOME_SUCCESS, action="created.project",
        initiator=initiator, target=resource.Resource(typeURI=cadftaxonomy.SECURITY_PROJECT, id=PROJECT),
        observer=resource.Resource(typeURI=cadftaxonomy.SERVICE_SECURITY, id="openstack:b7a0c2d4"))
    return [("identity.authenticate", failed_login.as_dict()), ("identity.project.created", created.as_dict())]


def publish_keystone(vhost: str) -> list[dict]:
    notifiers = Notifiers(vhost)
    sent = []
    try:
        notifier = notifiers.get("keystone", "messagingv2").prepare(publisher_id="identity.keystone-1")
        for event_type, payload in keystone_events():
            notifier.info({}, event_type, payload)
            sent.append(payload)
    finally:
        notifiers.close()
    return sent


def through_audit_middleware(vhost: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests to a nova-like API behind keystonemiddleware's audit filter: a GET answered 200,
    a DELETE refused with 403."""
    from keystonemiddleware import audit

    def api(environ: dict, start_response) -> list[bytes]:  # noqa: ANN001 - WSGI
        refused = environ["REQUEST_METHOD"] == "DELETE"
        start_response("403 Forbidden" if refused else "200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    audit_map = tmp_path / "api_audit_map.conf"
    audit_map.write_text(AUDIT_MAP)
    monkeypatch.setattr(sys, "argv", ["nova-api"])  # the publisher id is the program's name
    middleware = audit.AuditMiddleware(api, audit_map_file=str(audit_map), driver="messagingv2",
                                       topics="notifications", transport_url=f"rabbit://guest:guest@127.0.0.1:5672/{vhost}")
    for method, status in (("GET", 200), ("DELETE", 403)):
        request = webob.Request.blank(f"http://nova.example:8774/v2.1/servers/{'ab12' * 8}", method=method, environ={
            "REMOTE_ADDR": "203.0.113.5", "HTTP_X_USER_ID": ALICE, "HTTP_X_USER_NAME": "alice",
            "HTTP_X_PROJECT_ID": PROJECT, "HTTP_X_AUTH_TOKEN": TOKEN, "HTTP_X_IDENTITY_STATUS": "Confirmed",
            "HTTP_X_SERVICE_CATALOG": json.dumps(CATALOG), "HTTP_USER_AGENT": "python-novaclient"})
        assert request.get_response(middleware).status_int == status


def openstack(client, **params: object) -> list[dict]:  # noqa: ANN001 - httpx.Client
    answer = client.get("/v1/audit", params={"source": "openstack", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["elements"]


def test_keystone_and_audit_middleware_notifications_appear_beside_our_records(
        consuming: ServerProcess, vhost: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = consuming.client()
    assert admin.post("/v2.0/alarm-definitions", json={"name": "ours", "expression": "avg(x) > 1"}).status_code == 201
    sent = publish_keystone(vhost)
    through_audit_middleware(vhost, tmp_path, monkeypatch)
    found = wait_for(lambda: len(openstack(admin)) >= 4 and openstack(admin), 30, "the four CADF notifications")
    assert {e["event_type"] for e in found} == {"identity.authenticate", "identity.project.created",
                                                "audit.http.response"}, "the pending requests stay in /v1/events"
    login = next(e for e in found if e["event_type"] == "identity.authenticate")
    assert login["id"] == sent[0]["id"] and login["outcome"] == "denied" and login["action"] == "authenticate"
    assert login["service"] == "keystone" and login["publisher"] == "identity.keystone-1"
    assert login["channel"] == "rabbitmq:keystone" and login["sequence"] is None and login["hash"] is None
    assert login["initiator"]["id"] == USER and login["initiator"]["address"] == "198.51.100.7"
    assert login["reason"] == {"type": "HTTP", "code": "401", "rule": "", "text": "",
                               "reasonType": "HTTP", "reasonCode": "401"}  # plain names, and CADF's
    created = next(e for e in found if e["event_type"] == "identity.project.created")
    assert created["outcome"] == "success" and created["target"] == {
        "id": PROJECT, "name": "", "type": "data/security/project", "address": "", "typeURI": "data/security/project"}
    responses = {e["action"]: e for e in found if e["event_type"] == "audit.http.response"}
    assert set(responses) == {"read", "delete"}
    refused, read = responses["delete"], responses["read"]
    assert refused["outcome"] == "denied" and refused["reason"]["code"] == "403"
    assert read["outcome"] == "success" and read["reason"]["code"] == "200"
    initiator = refused["initiator"]
    assert {key: initiator[key] for key in ("id", "name", "project_id", "address", "agent", "type")} == {
        "id": ALICE, "name": "alice", "project_id": PROJECT, "address": "203.0.113.5", "agent": "python-novaclient",
        "type": "service/security/account/user"}
    assert initiator["credential"]["identity_status"] == "Confirmed"  # keystonemiddleware's own fields too
    assert refused["project_id"] == PROJECT and refused["publisher"] == "nova-api"
    assert refused["target"]["type"].startswith("service/compute") and refused["target"]["name"] == "nova"
    assert refused["source"] == "openstack" and refused["service"] == "keystonemiddleware"
    assert TOKEN not in json.dumps(found)
    # both sources in one view, newest first, each element once across pages
    everything = admin.get("/v1/audit").json()["elements"]
    assert {e["source"] for e in everything} == {"nephoscope", "openstack"}
    pages, answer = [], admin.get("/v1/audit", params={"limit": 2})
    while True:
        pages += answer.json()["elements"]
        link = [x["href"] for x in answer.json()["links"] if x["rel"] == "next"]
        if not link:
            break
        answer = admin.get(link[0])
    assert [(e["source"], e["id"], e["sequence"]) for e in pages] == [
        (e["source"], e["id"], e["sequence"]) for e in everything]
    assert [e["timestamp"] for e in pages] == sorted((e["timestamp"] for e in pages), reverse=True)
    admin.close()


def test_filters_and_scope_apply_to_openstack_records(consuming: ServerProcess, vhost: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    publish_keystone(vhost)
    through_audit_middleware(vhost, tmp_path, monkeypatch)
    admin = consuming.client()
    wait_for(lambda: len(openstack(admin)) >= 4, 30, "the notifications")
    assert [e["action"] for e in openstack(admin, outcome="denied")] in (["delete", "authenticate"],
                                                                         ["authenticate", "delete"])
    assert {e["initiator"]["id"] for e in openstack(admin, initiator="alice")} == {ALICE}
    assert [e["event_type"] for e in openstack(admin, initiator="198.51.100.7")] == ["identity.authenticate"]
    assert [e["action"] for e in openstack(admin, action="created.*")] == ["created.project"]
    assert [e["event_type"] for e in openstack(admin, target="project")] == ["identity.project.created"]
    assert openstack(admin, target=PROJECT)[0]["target"]["id"] == PROJECT
    later = openstack(admin, start_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)))
    assert later == []
    # a project reads what its own users did (the failed login has no project; the project's creation
    # belongs to the admin project that made it)
    with consuming.client(consuming.create_key(PROJECT, "monasca-read-only-user")) as member:
        mine = openstack(member)
        assert [e["event_type"] for e in mine] == ["audit.http.response"] * 2
        assert all(e["project_id"] == PROJECT for e in mine)
    with consuming.client(consuming.create_key(ADMIN_PROJECT, "monasca-user")) as operator:
        assert [e["event_type"] for e in openstack(operator)] == ["identity.project.created"]
    with consuming.client(consuming.create_key("elsewhere", "monasca-user")) as stranger:
        assert openstack(stranger) == []
    admin.close()
