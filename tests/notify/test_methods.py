"""Monasca v2.0 notification methods and the /v1 deliveries view, over real HTTP.

The server is ``create_app(config)`` plus the notification routers, served by uvicorn in a
thread on a free port (the ``notify_server`` fixture; the real server process will include
the routers itself). Covers CRUD, every validation rule (400 as Monasca's Python API),
409 on names, integer paging and sort_by, tenant isolation and the role table.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from nephoscope.api.app import create_app
from nephoscope.auth.keys import KeyStore
from nephoscope.config import Config
from nephoscope.notify import AlarmTransition, NotificationService, NotifySettings
from tests.conftest import ADMIN_TOKEN, free_port

pytestmark = pytest.mark.timeout(60)

A, B = "proj-a", "proj-b"
PATH = "/v2.0/notification-methods"


@dataclass
class NotifyServer:
    url: str
    app: FastAPI
    tokens: dict[str, str]

    def client(self, who: str | None = "a-user") -> httpx.Client:
        headers = {"X-Auth-Token": ADMIN_TOKEN if who == "admin" else self.tokens[who]} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def service(self) -> NotificationService:
        return self.app.state.services.notifications


def build_app(config: Config, notify: NotifySettings) -> FastAPI:
    """The real application, with delivery settings suited to tests (fast retries)."""
    return create_app(config, notify_config=notify)


@pytest.fixture(scope="module")
def notify_server(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("notify") / "data"
    config = Config()
    config.server.data_dir = str(data)
    config.auth.admin_token = ADMIN_TOKEN
    config.telemetry.enabled = False
    notify = NotifySettings(max_attempts=1, backoff_base=0.05, poll_interval=0.2, webhook_timeout=1.0)
    app = build_app(config, notify)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    keys = KeyStore(Path(data))
    roles = {"a-user": (A, "monasca-user"), "a-reader": (A, "monasca-read-only-user"),
             "a-agent": (A, "monasca-agent"), "b-user": (B, "monasca-user"),
             "delegate": ("proj-d", "monasca-delegate"), "page-user": ("proj-page", "monasca-user")}
    tokens = {label: keys.create(project, [role])[1] for label, (project, role) in roles.items()}
    yield NotifyServer(f"http://127.0.0.1:{port}", app, tokens)
    server.should_exit = True
    thread.join(30)


def create(server: NotifyServer, body: dict, who: str = "a-user", **params) -> httpx.Response:
    with server.client(who) as client:
        return client.post(PATH, json=body, params=params)


def webhook(name: str, **extra) -> dict:
    return {"name": name, "type": "WEBHOOK", "address": "http://hooks.example/x", **extra}


# CRUD ---------------------------------------------------------------------------------------------

def test_create_get_update_patch_delete(notify_server: NotifyServer) -> None:
    response = create(notify_server, {"name": "ops mail", "type": "email", "address": "ops@example.org"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "links", "name", "type", "address", "period"}
    assert created["type"] == "EMAIL" and created["period"] == 0
    method_id = created["id"]
    assert created["links"] == [{"rel": "self", "href": f"{notify_server.url}{PATH}/{method_id}"}]

    with notify_server.client() as client:
        assert client.get(f"{PATH}/{method_id}").json() == created
        replaced = client.put(f"{PATH}/{method_id}", json={"name": "ops hook", "type": "webhook",
                                                           "address": "https://hooks.example/ops", "period": "60"})
        assert replaced.status_code == 200, replaced.text
        assert {k: replaced.json()[k] for k in ("id", "name", "type", "address", "period")} == {
            "id": method_id, "name": "ops hook", "type": "WEBHOOK", "address": "https://hooks.example/ops",
            "period": 60}
        patched = client.patch(f"{PATH}/{method_id}", json={"address": "https://hooks.example/other"})
        assert patched.status_code == 200, patched.text
        assert (patched.json()["name"], patched.json()["type"], patched.json()["address"], patched.json()["period"]) \
            == ("ops hook", "WEBHOOK", "https://hooks.example/other", 60)
        assert client.patch(f"{PATH}/{method_id}", json={}).json()["address"] == "https://hooks.example/other"
        assert client.get(f"{PATH}/{method_id}").json()["address"] == "https://hooks.example/other"
        stored = notify_server.service.methods.get(A, method_id)
        assert stored is not None and stored.updated_at >= stored.created_at

        assert client.delete(f"{PATH}/{method_id}").status_code == 204
        missing = client.get(f"{PATH}/{method_id}")
        assert missing.status_code == 404 and set(missing.json()) == {"title", "description"}
        assert client.delete(f"{PATH}/{method_id}").status_code == 404
        assert client.put(f"{PATH}/{method_id}", json=webhook("x", period=0)).status_code == 404
        assert client.patch(f"{PATH}/{method_id}", json={"name": "x"}).status_code == 404


def test_types(notify_server: NotifyServer) -> None:
    with notify_server.client("a-reader") as client:
        body = client.get(f"{PATH}/types").json()
    assert body["elements"] == [{"type": "EMAIL"}, {"type": "PAGERDUTY"}, {"type": "WEBHOOK"}, {"type": "SLACK"}]
    assert body["links"][0]["rel"] == "self"


def test_every_type_is_accepted(notify_server: NotifyServer) -> None:
    for body in ({"name": "t-email", "type": "EMAIL", "address": "a@b"},
                 {"name": "t-pd", "type": "PagerDuty", "address": "0123456789abcdef"},
                 {"name": "t-slack", "type": "slack", "address": "https://hooks.slack.com/services/T/B/X"},
                 {"name": "t-hook", "type": "WEBHOOK", "address": "http://10.0.0.1:8080/alarm?x=1", "period": 60},
                 {"name": "n" * 250, "type": "WEBHOOK", "address": "http://h/" + "p" * 503}):
        response = create(notify_server, body)
        assert response.status_code == 201, (body, response.text)
        assert response.json()["type"] == body["type"].upper()


# Validation: 400 with Monasca's messages ----------------------------------------------------------------

INVALID = [
    ({"type": "EMAIL", "address": "a@b"}, "name"),
    ({"name": "v", "address": "a@b"}, "type"),
    ({"name": "v", "type": "EMAIL"}, "address"),
    ({"name": 5, "type": "EMAIL", "address": "a@b"}, "name"),
    ({"name": "", "type": "EMAIL", "address": "a@b"}, "name"),
    ({"name": "n" * 251, "type": "EMAIL", "address": "a@b"}, "name"),
    ({"name": "v", "type": "SMS", "address": "a@b"}, "Not a valid notification method type"),
    ({"name": "v", "type": 3, "address": "a@b"}, "type"),
    ({"name": "v", "type": "EMAIL", "address": "no-at-sign"}, "address"),
    ({"name": "v", "type": "EMAIL", "address": "a@" + "b" * 511}, "address"),
    ({"name": "v", "type": "EMAIL", "address": ""}, "address"),
    ({"name": "v", "type": "EMAIL", "address": ["a@b"]}, "address"),
    ({"name": "v", "type": "WEBHOOK", "address": "ftp://hooks.example/x"}, "address"),
    ({"name": "v", "type": "WEBHOOK", "address": "hooks.example/x"}, "address"),
    ({"name": "v", "type": "WEBHOOK", "address": "/relative/path"}, "address"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h:notaport/x"}, "address"),
    ({"name": "v", "type": "SLACK", "address": "not a url"}, "address"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h/x", "period": 30}, "period"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h/x", "period": "30"}, "period"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h/x", "period": "abc"}, "period"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h/x", "period": 60.5}, "period"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h/x", "period": True}, "period"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h/x", "period": -60}, "period"),
    ({"name": "v", "type": "WEBHOOK", "address": "http://h/x", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "mentions"), INVALID, ids=[f"{i}-{m}" for i, (_, m) in enumerate(INVALID)])
def test_invalid_bodies_answer_400(notify_server: NotifyServer, body: dict, mentions: str) -> None:
    response = create(notify_server, body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["title"] == "Bad Request"
    assert mentions in error["description"] or error.get("field") == mentions, error


def test_bad_json_content_type_and_shape(notify_server: NotifyServer) -> None:
    with notify_server.client() as client:
        assert client.post(PATH, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
        assert client.post(PATH, content=b'{"name": "x"}', headers={"Content-Type": "text/plain"}).status_code == 400
        assert client.post(PATH, json=[webhook("in-a-list")]).status_code == 400
        charset = client.post(PATH, content=b'{"name": "charset", "type": "EMAIL", "address": "a@b"}',
                              headers={"Content-Type": "application/json; charset=utf-8"})
        assert charset.status_code == 201, charset.text


def test_put_needs_every_field_and_patch_validates_the_merge(notify_server: NotifyServer) -> None:
    method_id = create(notify_server, webhook("put-rules", period=60)).json()["id"]
    with notify_server.client() as client:
        for missing in ("name", "type", "address", "period"):
            body = {k: v for k, v in webhook("put-rules", period=60).items() if k != missing}
            response = client.put(f"{PATH}/{method_id}", json=body)
            assert response.status_code == 400 and missing in response.text, (missing, response.text)
        assert client.patch(f"{PATH}/{method_id}", json={"type": "EMAIL"}).status_code == 400  # URL is no email
        assert client.patch(f"{PATH}/{method_id}", json={"period": 7}).status_code == 400
        assert client.patch(f"{PATH}/{method_id}", json={"type": "SMS"}).status_code == 400
        unchanged = client.get(f"{PATH}/{method_id}").json()
    assert (unchanged["type"], unchanged["period"]) == ("WEBHOOK", 60)


def test_names_are_unique_per_project(notify_server: NotifyServer) -> None:
    assert create(notify_server, webhook("dup")).status_code == 201
    taken = create(notify_server, webhook("dup"))
    assert taken.status_code == 409 and taken.json()["title"] == "Conflict"
    assert create(notify_server, webhook("dup"), who="b-user").status_code == 201  # another project may
    other_id = create(notify_server, webhook("dup-other")).json()["id"]
    with notify_server.client() as client:
        assert client.put(f"{PATH}/{other_id}", json=webhook("dup", period=0)).status_code == 409
        assert client.patch(f"{PATH}/{other_id}", json={"name": "dup"}).status_code == 409
        assert client.patch(f"{PATH}/{other_id}", json={"name": "dup-other"}).status_code == 200  # its own name


# Paging and sorting --------------------------------------------------------------------------------------

def test_paging_with_integer_offsets_and_sort_by(notify_server: NotifyServer) -> None:
    names = ["m-c", "m-a", "m-e", "m-b", "m-d"]
    for index, name in enumerate(names):
        kind = "EMAIL" if index % 2 else "WEBHOOK"
        address = f"{name}@example.org" if kind == "EMAIL" else f"http://hooks.example/{name}"
        assert create(notify_server, {"name": name, "type": kind, "address": address}, who="page-user").status_code \
            == 201
    with notify_server.client("page-user") as client:
        seen, url, params = [], PATH, {"limit": 2, "sort_by": "name desc"}
        for _ in range(10):
            page = client.get(url, params=params).json()
            assert set(page) == {"links", "elements"}
            seen += [m["name"] for m in page["elements"]]
            following = [link["href"] for link in page["links"] if link["rel"] == "next"]
            if not following:
                break
            assert "offset=" in following[0]
            url, params = following[0], None
        assert seen == sorted(names, reverse=True)
        second = client.get(PATH, params={"limit": 2, "offset": 2, "sort_by": "name"}).json()
        assert [m["name"] for m in second["elements"]] == ["m-c", "m-d"]
        assert "offset=4" in next(link["href"] for link in second["links"] if link["rel"] == "next")
        last = client.get(PATH, params={"limit": 2, "offset": 4, "sort_by": "name"}).json()
        assert [m["name"] for m in last["elements"]] == ["m-e"]
        assert [link["rel"] for link in last["links"]] == ["self"]
        by_type = client.get(PATH, params={"sort_by": "type asc,name desc"}).json()["elements"]
        assert [m["name"] for m in by_type] == ["m-b", "m-a", "m-e", "m-d", "m-c"]
        created_order = client.get(PATH, params={"sort_by": "created_at"}).json()["elements"]
        assert [m["name"] for m in created_order] == names
        newest_first = client.get(PATH, params={"sort_by": "created_at desc"}).json()["elements"]
        assert [m["name"] for m in newest_first] == names[::-1]
        ids = [m["id"] for m in client.get(PATH, params={"sort_by": "id"}).json()["elements"]]
        assert ids == sorted(ids)
        for bad in ({"sort_by": "colour"}, {"sort_by": "name sideways"}, {"sort_by": "name asc extra"},
                    {"offset": "abc"}, {"offset": "-1"}, {"limit": "two"}):
            response = client.get(PATH, params=bad)
            assert response.status_code == 422, (bad, response.text)


# Tenancy and roles ---------------------------------------------------------------------------------------

def test_projects_cannot_see_or_change_each_others_methods(notify_server: NotifyServer) -> None:
    a_method = create(notify_server, webhook("a-private", period=60)).json()
    with notify_server.client("b-user") as client:
        assert client.get(f"{PATH}/{a_method['id']}").status_code == 404
        assert client.put(f"{PATH}/{a_method['id']}", json=webhook("stolen", period=0)).status_code == 404
        assert client.patch(f"{PATH}/{a_method['id']}", json={"name": "stolen"}).status_code == 404
        assert client.delete(f"{PATH}/{a_method['id']}").status_code == 404
        assert a_method["id"] not in client.get(PATH).text
        assert client.get(PATH, params={"tenant_id": A}).status_code == 403
        assert create(notify_server, webhook("for-a"), who="b-user", tenant_id=A).status_code == 403
    with notify_server.client("a-user") as client:
        assert client.get(f"{PATH}/{a_method['id']}").json() == a_method
        listed = client.get(PATH).json()["elements"]
        assert a_method["id"] in {m["id"] for m in listed}
        assert "proj-b" not in client.get(PATH).text and all(m["name"] != "for-a" for m in listed)
    with notify_server.client("admin") as client:
        assert a_method["id"] not in client.get(PATH).text  # the admin's own project
        assert client.get(f"{PATH}/{a_method['id']}", params={"tenant_id": A}).status_code == 200
        assert a_method["id"] in client.get(PATH, params={"tenant_id": "*"}).text
        made = client.post(PATH, json=webhook("made-by-admin"), params={"tenant_id": B})
        assert made.status_code == 201
    with notify_server.client("b-user") as client:
        assert client.get(f"{PATH}/{made.json()['id']}").status_code == 200


def test_roles(notify_server: NotifyServer) -> None:
    method_id = create(notify_server, webhook("role-check")).json()["id"]
    with notify_server.client("a-reader") as client:
        assert client.get(PATH).status_code == 200
        assert client.get(f"{PATH}/{method_id}").status_code == 200
        for response in (client.post(PATH, json=webhook("ro")), client.put(f"{PATH}/{method_id}", json=webhook("ro")),
                         client.patch(f"{PATH}/{method_id}", json={"name": "ro"}),
                         client.delete(f"{PATH}/{method_id}")):
            assert response.status_code == 403 and response.json()["title"] == "Forbidden", response.text
            assert response.json()["rule"].startswith("api:notifications:")
            assert "www-authenticate" not in response.headers
    with notify_server.client("a-agent") as client:
        assert client.get(PATH).status_code == 403
        assert client.get(f"{PATH}/types").status_code == 403
        assert client.post(PATH, json=webhook("agent")).status_code == 403
    with notify_server.client("delegate") as client:
        assert client.get(PATH, params={"tenant_id": A}).status_code == 200
        assert client.post(PATH, json=webhook("delegated"), params={"tenant_id": A}).status_code == 403
    with notify_server.client(None) as client:
        assert client.get(PATH).status_code == 401
    with httpx.Client(base_url=notify_server.url, headers={"X-Auth-Token": "wrong"}) as client:
        assert client.get(PATH).status_code == 401
    with notify_server.client() as client:
        assert client.get(f"{PATH}/{method_id}").json()["name"] == "role-check"


# The deliveries view ------------------------------------------------------------------------------------

def _transition(tenant: str) -> AlarmTransition:
    return AlarmTransition(alarm_id=f"alarm-{tenant}-{time.time_ns()}", alarm_definition_id="d", alarm_name="disk",
                           alarm_description="", tenant_id=tenant, old_state="OK", new_state="ALARM", reason="full",
                           severity="LOW", link="", lifecycle_state="OPEN", timestamp_ms=int(time.time() * 1000),
                           metrics=[], sub_alarms=[])


def test_deliveries_are_listed_per_project(notify_server: NotifyServer) -> None:
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    a_id = create(notify_server, webhook("dead-end-a") | {"address": closed}).json()["id"]
    b_id = create(notify_server, webhook("dead-end-b") | {"address": closed}, who="b-user").json()["id"]
    outbox = notify_server.service.outbox
    [a_delivery] = outbox.enqueue(_transition(A), [a_id])
    [b_delivery] = outbox.enqueue(_transition(B), [b_id])
    deadline = time.monotonic() + 15
    with notify_server.client() as client:
        while True:
            dead = client.get("/v1/notifications/deliveries", params={"status": "dead"}).json()["elements"]
            if any(d["id"] == a_delivery for d in dead) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        [mine] = [d for d in dead if d["id"] == a_delivery]
        assert mine["method"]["id"] == a_id and mine["attempts"] == 1 and mine["last_error"]
        assert mine["alarm"]["new_state"] == "ALARM" and mine["tenant_id"] == A
        assert all(d["tenant_id"] == A for d in dead)
        assert client.get(f"/v1/notifications/deliveries/{b_delivery}").status_code == 404
        everything_of_a = client.get("/v1/notifications/deliveries").json()
        assert set(everything_of_a) == {"links", "elements"}
        assert {d["tenant_id"] for d in everything_of_a["elements"]} == {A}
        assert client.get("/v1/notifications/deliveries", params={"status": "lost"}).status_code == 422
        assert client.post(f"/v1/notifications/deliveries/{b_delivery}/retry").status_code == 404
        assert client.get("/v1/notifications/stats").status_code == 403  # admin only
    with notify_server.client("a-reader") as client:
        assert client.get(f"/v1/notifications/deliveries/{a_delivery}").status_code == 200
        assert client.post(f"/v1/notifications/deliveries/{a_delivery}/retry").status_code == 403
    with notify_server.client("b-user") as client:
        elements = client.get("/v1/notifications/deliveries").json()["elements"]
        assert a_delivery not in {d["id"] for d in elements}
    with notify_server.client("admin") as client:
        everything = client.get("/v1/notifications/deliveries", params={"tenant_id": "*"}).json()["elements"]
        assert {a_delivery, b_delivery} <= {d["id"] for d in everything}
        stats = client.get("/v1/notifications/stats").json()
        assert set(stats) == {"delivered", "failed_attempts", "dead_letters", "queue_depth"}
    with notify_server.client() as client:
        retried = client.post(f"/v1/notifications/deliveries/{a_delivery}/retry")
        assert retried.status_code == 200 and retried.json()["status"] in ("pending", "failed", "dead")
