"""Events through the server: POST /v1/events with nova's published samples, tenant-scoped
queries and paging, the catalog at /v1/events/types, and failure summaries of error events."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from nephoscope.events.failures import failure_of
from tests.conftest import ServerProcess
from tests.support.notifications import PROJECT, load_samples, notification


@pytest.fixture(scope="module")
def samples() -> dict[str, dict]:
    return {name.removesuffix(".json"): sample for name, sample in load_samples().items()}


def test_post_query_page_and_types(shared_server: ServerProcess, samples: dict[str, dict]) -> None:
    user = shared_server.client(shared_server.create_key(PROJECT, "monasca-user"))
    bodies = [notification(sample) for sample in samples.values()]
    answer = user.post("/v1/events", json=bodies)
    assert answer.status_code == 200, answer.text
    assert answer.json()["new"] == len(bodies)
    again = user.post("/v1/events", json=bodies[:5]).json()
    assert (again["new"], again["duplicates"]) == (0, 5), "each message_id is stored once"

    created = user.get("/v1/events", params={"event_type": "instance.create.*"}).json()["elements"]
    assert {e["event_type"] for e in created} == {"instance.create.start", "instance.create.end",
                                                   "instance.create.error"}
    assert all(e["project_id"] == PROJECT and e["resource_id"] for e in created)
    seen, params = [], {"limit": 7}
    while True:
        page = user.get("/v1/events", params=params).json()
        seen += [e["message_id"] for e in page["elements"]]
        following = [link for link in page["links"] if link["rel"] == "next"]
        if not following:
            break
        params = {"limit": 7, "offset": following[0]["href"].split("offset=")[1].replace("%3A", ":")}
    assert sorted(seen) == sorted(b["message_id"] for b in bodies)

    other = shared_server.client(shared_server.create_key("another-project", "monasca-user"))
    assert other.get("/v1/events").json()["elements"] == []
    refused = other.post("/v1/events", json=[notification(samples["instance-create-end"])])
    assert refused.status_code == 403 and "another project" in refused.json()["description"]
    assert refused.json()["rule"] == "api:delegate"

    types = user.get("/v1/events/types").json()
    services = {t["service"] for t in types["elements"]}
    assert {"nova", "cinder", "neutron", "glance", "heat", "keystone"} <= services
    assert all(t["description"] and "resource_id" in t["traits"] for t in types["elements"]
               if t["service"] == "nova" and t["pattern"].startswith("instance."))
    assert types["unknown"] == [], "unknown types are for admins"
    admin = shared_server.client()
    unknown = dict(notification(samples["instance-create-end"]), event_type="acme.widget.frobbed")
    admin.post("/v1/events", json=[unknown])
    listed = admin.get("/v1/events/types").json()["unknown"]
    assert [(u["event_type"], u["count"]) for u in listed] == [("acme.widget.frobbed", 1)]


def test_error_events_become_plain_failure_summaries(shared_server: ServerProcess, samples: dict[str, dict]) -> None:
    user = shared_server.client(shared_server.create_key(PROJECT, "monasca-user"))
    error = notification(samples["instance-create-error"], request_id="req-create-9")
    user.post("/v1/events", json=[error])
    failures = user.get("/v1/failures").json()["elements"]
    mine = [f for f in failures if f["request_id"] == "req-create-9"]
    assert len(mine) == 1
    failure = mine[0]
    assert failure["exception"] == "FlavorDiskTooSmall" and failure["resource_type"] == "instance"
    assert failure["summary"].startswith("Creating instance ") and "disk is smaller than the image" in failure["summary"]
    by_resource = user.get(f"/v1/resources/{failure['resource_id']}/failures").json()["elements"]
    assert any(f["request_id"] == "req-create-9" for f in by_resource)
    user.post("/v1/events", json=[notification(samples["instance-create-error"], request_id="req-create-9")])
    again = [f for f in user.get("/v1/failures").json()["elements"] if f["request_id"] == "req-create-9"]
    assert len(again) == 1, "one record per resource failure"
    other = shared_server.client(shared_server.create_key("another-project", "monasca-user"))
    assert other.get("/v1/failures").json()["elements"] == []
    assert other.get(f"/v1/resources/{failure['resource_id']}/failures").json()["elements"] == []


def test_every_nova_error_sample_gets_a_summary(samples: dict[str, dict]) -> None:
    from nephoscope.events.catalog import Catalog
    from nephoscope.events.envelope import parse_notification

    catalog = Catalog.load()
    for name, sample in samples.items():
        event = catalog.to_event(parse_notification(notification(sample)))
        failure = failure_of(event)
        if sample["priority"] == "ERROR":
            assert failure is not None and failure.summary.endswith("."), name
        elif name.endswith("-start") or name.endswith("-end"):
            assert failure is None, name


def test_bad_posts_name_the_item(shared_server: ServerProcess) -> None:
    user = shared_server.client(shared_server.create_key(PROJECT, "monasca-user"))
    assert user.post("/v1/events", content=b"{nope").status_code == 400
    assert user.post("/v1/events", json=[]).json()["field"] == "notifications"
    answer = user.post("/v1/events", json=[{"event_type": "x"}, {"oslo.version": "2.0", "oslo.message": 7}])
    assert answer.status_code == 422 and answer.json()["field"].startswith("notifications[")


def test_the_documented_catalog_is_the_one_the_pipeline_uses() -> None:
    """docs/event-catalog.md is rendered from the definitions; regenerate it when they change:
    .venv/bin/python -c "from nephoscope.events.catalog import Catalog, render_markdown;
    open('docs/event-catalog.md', 'w').write(render_markdown(Catalog.load()))" """
    from nephoscope.events.catalog import Catalog, render_markdown
    from tests.conftest import ROOT

    assert (ROOT / "docs" / "event-catalog.md").read_text() == render_markdown(Catalog.load())


def test_failures_page_and_whoami(shared_server: ServerProcess, samples: dict[str, dict]) -> None:
    project = f"paging-{uuid.uuid4().hex[:6]}"
    user = shared_server.client(shared_server.create_key(project, "monasca-user"))
    error = samples["instance-create-error"]
    posted = []
    for number in range(5):
        body = notification(error, project=project, request_id=f"req-page-{number}")
        body["payload"] = json.loads(json.dumps(body["payload"]))
        body["payload"]["nova_object.data"]["uuid"] = f"00000000-0000-4000-8000-{number:012d}"
        body["payload"]["nova_object.data"]["tenant_id"] = project
        body["message_id"] = str(uuid.uuid4())
        posted.append(body)
    assert user.post("/v1/events", json=posted).status_code == 200
    seen, params = [], {"limit": 2}
    while True:
        page = user.get("/v1/failures", params=params).json()
        seen += [f["resource_id"] for f in page["elements"]]
        following = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not following:
            break
        params["offset"] = httpx.URL(following[0]).params["offset"]
    assert sorted(seen) == sorted(f"00000000-0000-4000-8000-{n:012d}" for n in range(5))
    assert user.get("/v1/failures", params={"tenant_id": project}).json()["elements"]
    me = user.get("/v1/whoami").json()
    assert {key: me[key] for key in ("project", "roles", "admin", "delegate", "issuer")} == {
        "project": project, "roles": ["monasca-user"], "admin": False, "delegate": False, "issuer": "key"}
    assert me["key_id"] and me["user"] is None and me["expires_at"] is None  # keys name no user and never expire
    assert shared_server.client(shared_server.admin_token).get("/v1/whoami").json()["admin"] is True
    assert httpx.get(f"{shared_server.url}/v1/whoami").status_code == 401
