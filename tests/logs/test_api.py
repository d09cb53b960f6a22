"""The log API against a real server: Monasca's POST /v3.0/logs (and /v2.0/logs) exactly as
monasca-log-api answers it, the native POST /v1/logs, search with facets and paging, templates,
the hygiene report, the metrics derived from log lines, tenant scope and the user-visible policy,
and durability (a 204 survives kill -9). The lines are written by oslo.log itself."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import ServerProcess, wait_for
from tests.support.log_samples import OsloOutput, request_context

PROJECT_A, PROJECT_B = "proj-a", "proj-b"


def oslo_lines(project: str, request_id: str, instance: str) -> list[str]:
    output = OsloOutput("nova.compute.manager")
    context = request_context(request_id=request_id, project=project)
    output.log.info("Claim successful on node %s", "compute-1", context=context, instance={"uuid": instance})
    output.log.info("Took %.2f seconds to spawn the instance on the hypervisor.", 12.5, context=context,
                    instance={"uuid": instance})
    try:
        raise RuntimeError("libvirt went away")
    except RuntimeError:
        output.log.exception("Instance failed to spawn", context=context, instance={"uuid": instance})
    cache = OsloOutput("nova.virt.libvirt.imagecache")
    cache.log.warning("Unknown base file: /var/lib/nova/instances/_base/%s", uuid.uuid4().hex)
    return output.lines + cache.lines


def monasca(client: httpx.Client, body: object, **kwargs) -> httpx.Response:
    return client.post("/v3.0/logs", json=body, **kwargs)


def search(client: httpx.Client, **params) -> dict:
    response = client.get("/v1/logs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def keys(shared_server: ServerProcess) -> dict[str, httpx.Client]:
    return {"admin": shared_server.client(shared_server.admin_token),
            "a": shared_server.client(shared_server.create_key(PROJECT_A, "monasca-user")),
            "b": shared_server.client(shared_server.create_key(PROJECT_B, "monasca-user")),
            "agent": shared_server.client(shared_server.create_key("operators", "monasca-agent"))}


def test_monasca_logs_are_parsed_templated_classified_and_searchable(keys: dict[str, httpx.Client]) -> None:
    request_id = f"req-{uuid.uuid4()}"
    instance = str(uuid.uuid4())
    lines = oslo_lines(PROJECT_A, request_id, instance)
    body = {"dimensions": {"hostname": "compute-1", "service": "nova", "component": "nova-compute"},
            "logs": [{"message": line, "dimensions": {"path": "/var/log/nova/nova-compute.log"}} for line in lines]}
    assert monasca(keys["agent"], body).status_code == 204
    found = search(keys["admin"], request_id=request_id, tenant_id="*")
    records = found["elements"]
    # the traceback's lines are one record; the image-cache warning has no request id
    assert [r["message"] for r in records][::-1] == [
        "Claim successful on node compute-1", "Took 12.50 seconds to spawn the instance on the hypervisor.",
        "Instance failed to spawn"]
    failed = records[0]
    assert failed["category"] == "error" and failed["exception_type"] == "RuntimeError"
    assert "libvirt went away" in failed["traceback"] and failed["lines"] > 1
    assert {r["host"] for r in records} == {"compute-1"} and {r["instance_id"] for r in records} == {instance}
    assert {r["project"] for r in records} == {PROJECT_A} and {r["service"] for r in records} == {"nova"}
    took = records[1]
    assert took["template"].startswith("Took <*>") and "12.50" not in took["template"]
    assert took["template"].endswith("to spawn the instance on the hypervisor.")
    facets = found["facets"]
    assert {f["value"]: f["count"] for f in facets["category"]}["error"] == 1
    # full text and template filters
    by_text = search(keys["admin"], q="UNKNOWN BASE FILE", tenant_id="*", service="nova")["elements"]
    assert by_text and all("Unknown base file" in r["message"] for r in by_text)
    assert by_text[0]["category"] == "noise"
    same = search(keys["admin"], template_id=took["template_id"], tenant_id="*")["elements"]
    assert all(r["template"] == took["template"] for r in same)
    templates = keys["admin"].get("/v1/logs/templates", params={"tenant_id": "*"}).json()["elements"]
    assert took["template_id"] in {t["template_id"] for t in templates}


def test_a_project_sees_only_its_own_lines_and_only_user_visible_ones(keys: dict[str, httpx.Client]) -> None:
    request_id = f"req-{uuid.uuid4()}"
    lines = oslo_lines(PROJECT_A, request_id, str(uuid.uuid4()))
    assert keys["agent"].post("/v1/logs", json={"source": {"service": "nova", "host": "compute-2"},
                                                 "lines": lines}).status_code == 204
    own = search(keys["a"], request_id=request_id)["elements"]
    assert len(own) == 3 and {r["project"] for r in own} == {PROJECT_A}
    assert search(keys["b"], request_id=request_id)["elements"] == []
    # operator-only categories stay hidden from the project, visible to the admin
    hidden = search(keys["admin"], tenant_id="*", category="noise", host="compute-2")["elements"]
    assert hidden and search(keys["a"], category="noise", host="compute-2")["elements"] == []
    # refused as Monasca refuses a missing role: 403, titled Forbidden, naming the rule
    for denied, rule in ((keys["a"].get("/v1/logs", params={"tenant_id": "*"}), "api:tenants:all"),
                         (keys["b"].get("/v1/logs", params={"tenant_id": PROJECT_A}), "api:delegate")):
        assert denied.status_code == 403 and denied.json()["title"] == "Forbidden"
        assert denied.json()["rule"] == rule


def test_paging_covers_every_record_once(keys: dict[str, httpx.Client]) -> None:
    host = f"pager-{uuid.uuid4().hex[:6]}"
    lines = [f"2026-01-01 00:00:{second:02d}.000 1 INFO nova.api [-] line {number}"
             for number, second in enumerate([1, 1, 1, 2, 2, 3, 4, 4, 4, 4, 5])]
    assert keys["agent"].post("/v1/logs", content="\n".join(lines), params={"host": host, "service": "nova"},
                              headers={"Content-Type": "text/plain"}).status_code == 204
    seen, params = [], {"tenant_id": "*", "host": host, "limit": 3, "facets": "false"}
    while True:
        page = search(keys["admin"], **params)
        seen += [r["message"] for r in page["elements"]]
        following = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not following:
            break
        params["offset"] = httpx.URL(following[0]).params["offset"]
    assert sorted(seen) == sorted(f"line {n}" for n in range(len(lines))) and len(seen) == len(set(seen))


@pytest.mark.parametrize(("headers", "content", "status", "words"), [
    ({}, b'{"logs": []}', 400, "Content-Type"),
    ({"Content-Type": "text/html"}, b'{"logs": []}', 415, "Content-Type"),
    ({"Content-Type": "application/json"}, b"{not json", 400, "JSON"),
    ({"Content-Type": "application/json"}, b'{"dimensions": {}}', 422, "Logs not found"),
    ({"Content-Type": "application/json"}, b'{"logs": {}}', 422, "list"),
    ({"Content-Type": "application/json"}, b'{"dimensions": {"_x": "y"}, "logs": [{"message": "m"}]}', 422, "_x"),
    ({"Content-Type": "application/json"}, b'{"dimensions": {"a": ""}, "logs": [{"message": "m"}]}', 422, "value"),
])
def test_bad_monasca_bodies_say_what_is_wrong(keys: dict[str, httpx.Client], headers: dict, content: bytes,
                                              status: int, words: str) -> None:
    response = keys["agent"].post("/v3.0/logs", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert words.lower() in response.text.lower()


def test_a_bad_log_is_dropped_alone(keys: dict[str, httpx.Client]) -> None:
    marker = uuid.uuid4().hex
    body = {"logs": [{"message": f"kept {marker} one"}, {"dimensions": {"a": "b"}},
                     {"message": f"dropped {marker}", "dimensions": {"bad=name": "x"}},
                     {"message": f"kept {marker} two"}]}
    response = monasca(keys["agent"], body)
    assert response.status_code == 204 and response.headers["X-Nephoscope-Dropped-Logs"] == "2"
    found = search(keys["admin"], q=marker, tenant_id="*")["elements"]
    assert sorted(r["message"] for r in found) == [f"kept {marker} one", f"kept {marker} two"]
    assert {r["format"] for r in found} == {"unparsed"}  # kept as such, never dropped


def test_v2_logs_and_delegation(keys: dict[str, httpx.Client], shared_server: ServerProcess) -> None:
    marker = uuid.uuid4().hex
    line = f"2026-01-01 00:00:00.000 7 INFO glance.api [-] delegated {marker}"
    assert keys["agent"].post("/v2.0/logs", json={"logs": [{"message": line}]},
                              params={"project_id": PROJECT_B}).status_code == 403
    delegate = shared_server.client(shared_server.create_key("operators", "monasca-delegate"))
    assert delegate.post("/v2.0/logs", json={"logs": [{"message": line}]},
                         params={"project_id": PROJECT_B}).status_code == 204
    assert [r["message"] for r in search(keys["b"], q=marker)["elements"]] == [f"delegated {marker}"]


def test_hygiene_and_metrics_from_log_lines(keys: dict[str, httpx.Client]) -> None:
    request_id = f"req-{uuid.uuid4()}"
    lines = oslo_lines(PROJECT_A, request_id, str(uuid.uuid4()))
    wsgi = OsloOutput("nova.osapi_compute.wsgi.server")
    wsgi.log.info('10.0.0.1 "GET /v2.1/servers/detail HTTP/1.1" status: 200 len: 1893 time: 0.2477829',
                  context=request_context(request_id=request_id, project=PROJECT_A))
    lines += wsgi.lines
    body = {"dimensions": {"hostname": "compute-9", "service": "nova"}, "logs": [{"message": m} for m in lines]}
    assert monasca(keys["agent"], body).status_code == 204
    report = keys["admin"].get("/v1/logs/hygiene", params={"tenant_id": "*"}).json()["elements"]
    nova = next(row for row in report if row["service"] == "nova")
    assert nova["records"] >= 4 and nova["by_category"]["error"] >= 1 and nova["by_category"]["noise"] >= 1
    assert 0 < nova["noise_share"] < 1 and nova["top_templates"]
    # the counts became metrics owned like the lines: the project's own error line is its metric
    metrics = wait_for(lambda: keys["a"].get("/v2.0/metrics", params={
        "name": "log.records", "dimensions": "category:error,hostname:compute-9"}).json()["elements"], 10,
        "log.records for the error line")
    assert metrics[0]["dimensions"]["service"] == "nova"
    assert keys["b"].get("/v2.0/metrics", params={"name": "log.records", "dimensions": "hostname:compute-9"}
                         ).json()["elements"] == []
    # ... and the sender's for the lines that name no project (the image-cache warning)
    assert keys["admin"].get("/v2.0/metrics", params={"name": "log.records", "dimensions": "hostname:compute-9",
                                                      "tenant_id": "operators"}).json()["elements"]
    requests = keys["a"].get("/v2.0/metrics", params={"dimensions": "hostname:compute-9"}).json()["elements"]
    assert any(m["name"].startswith("log.http.") for m in requests)


def test_acknowledged_logs_survive_kill_9(tmp_path) -> None:  # noqa: ANN001
    server = ServerProcess(tmp_path / "data").start()
    try:
        client = server.client(server.admin_token)
        marker = uuid.uuid4().hex
        lines = [f"2026-01-01 00:00:00.{n:03d} 9 INFO nova.api [-] durable {marker} {n}" for n in range(500)]
        assert client.post("/v3.0/logs", json={"logs": [{"message": m} for m in lines]}).status_code == 204
        server.kill9()
        server.start()
        client = server.client(server.admin_token)
        found = client.get("/v1/logs", params={"q": marker, "limit": 1000, "facets": "false"}).json()["elements"]
        assert len(found) == 500
    finally:
        server.stop()


def test_syslog_over_tcp_and_udp_from_rsyslog_style_senders(tmp_path) -> None:  # noqa: ANN001
    import socket

    from tests.conftest import free_port

    tcp_port, udp_port = free_port(), free_port()
    server = ServerProcess(tmp_path / "data", extra_env={
        "NEPHOSCOPE_LOGS_SYSLOG_TCP_PORT": str(tcp_port), "NEPHOSCOPE_LOGS_SYSLOG_UDP_PORT": str(udp_port)}).start()
    try:
        marker = uuid.uuid4().hex
        oslo = f"2026-01-01 10:00:00.123 4242 ERROR nova.compute.manager [req-{uuid.uuid4()} u1 p1 - - -] boom {marker}"
        rfc5424 = f"<11>1 2026-01-01T10:00:00.123Z compute-7 nova-compute 4242 - - {oslo}"
        rfc3164 = f"<14>Jan  1 10:00:01 compute-8 neutron-server[77]: INFO neutron.wsgi [-] ok {marker}"
        framed = rfc5424.encode()
        with socket.create_connection(("127.0.0.1", tcp_port)) as connection:
            # one octet-counted frame (RFC 6587), then one newline-framed message
            connection.sendall(f"{len(framed)} ".encode() + framed + rfc3164.encode() + b"\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
            datagram.sendto(f"<13>Jan  1 10:00:02 ctl-1 glance-api: udp {marker}".encode(), ("127.0.0.1", udp_port))
        client = server.client(server.admin_token)
        found = wait_for(lambda: (r := client.get("/v1/logs", params={"q": marker, "facets": "false", "tenant_id": "*"}).json()[
            "elements"]) and len(r) == 3 and r, 10, "three syslog messages")
        by_host = {r["host"]: r for r in found}
        assert set(by_host) == {"compute-7", "compute-8", "ctl-1"}
        assert by_host["compute-7"]["level"] == "ERROR" and by_host["compute-7"]["logger"] == "nova.compute.manager"
        assert by_host["compute-7"]["category"] == "error" and by_host["compute-8"]["service"] == "neutron"
    finally:
        server.stop()


def test_the_agent_tails_and_ships_to_the_server(tmp_path, shared_server: ServerProcess) -> None:  # noqa: ANN001
    from nephoscope.agent.runner import Agent
    from tests.support.agent import agent_config

    log_file = tmp_path / "cinder" / "cinder-volume.log"
    log_file.parent.mkdir()
    token = shared_server.create_key("operators", "monasca-agent")
    config = agent_config(tmp_path, shared_server.url)
    config.push.token = token
    config.logs.paths = [str(tmp_path / "cinder" / "*.log")]
    request_id = f"req-{uuid.uuid4()}"
    output = OsloOutput("cinder.volume.manager")
    context = request_context(request_id=request_id, project=PROJECT_A)
    output.log.info("Volume %s: creating", uuid.uuid4(), context=context)
    try:
        raise OSError("No space left on device")
    except OSError:
        output.log.exception("Volume creation failed", context=context)
    agent = Agent(config, collectors=[])
    try:
        agent.start()
        log_file.write_text("\n".join(output.lines) + "\n")
        admin = shared_server.client(shared_server.admin_token)
        found = wait_for(lambda: (r := admin.get("/v1/logs", params={"request_id": request_id, "tenant_id": "*",
                                                                    "facets": "false"}).json()["elements"])
                         and len(r) == 2 and r, 30, "the tailed lines on the server")
    finally:
        agent.stop()
    failed = found[0]
    assert failed["message"] == "Volume creation failed" and failed["exception_type"] == "OSError"
    assert failed["component"] == "cinder-volume" and failed["service"] == "cinder" and failed["host"] == "edge-1"


def test_templates_merged_after_their_lines_were_stored_are_listed_and_found_as_one(
        keys: dict[str, httpx.Client]) -> None:
    """A word argument becomes a parameter at its fifth word: the first four words' lines were
    stored with their own ids, and the listing, the facets and a search by the id fold them in."""
    out = OsloOutput("nova.scheduler.filters.merge_probe")
    words = ["ComputeFilter", "RamFilter", "DiskFilter", "JsonFilter", "MetricsFilter", "TypeAffinityFilter"]
    for word in words:  # one line per POST: each founds its template before the next arrives
        out.stream.truncate(0)
        out.stream.seek(0)
        out.log.info("Probe filter %s removed %d hosts for this merge test", word, 2)
        body = {"source": {"service": "nova", "component": "nova-scheduler", "host": "ctl-9"}, "lines": out.lines}
        assert keys["agent"].post("/v1/logs", json=body).status_code in (200, 202, 204)
    listed = [t for t in keys["admin"].get("/v1/logs/templates", params={"tenant_id": "*"}).json()["elements"]
              if "Probe filter" in t["template"]]
    assert len(listed) == 1 and listed[0]["count"] == len(words), listed
    assert listed[0]["template"] == "Probe filter <*> removed <*> hosts for this merge test"
    found = search(keys["admin"], template_id=listed[0]["template_id"], tenant_id="*")
    assert len(found["elements"]) == len(words)
    facet = [t for t in found["facets"]["template"] if "Probe filter" in t["template"]]
    assert len(facet) == 1 and facet[0]["count"] == len(words)
    report = keys["admin"].get("/v1/logs/hygiene", params={"tenant_id": "*", "service": "nova"}).json()
    tops = [t for s in report["elements"] for t in s["top_templates"] if "Probe filter" in (t["template"] or "")]
    assert [t["count"] for t in tops] == [len(words)], tops
