"""A body over the limit gets a readable 413 from every ordinary HTTP client — python-requests,
urllib (which always asks the server to close the connection), keystoneauth (what the OpenStack
clients use) and curl (which waits for ``100 Continue``) — never a connection reset while the client
is still sending. Against a real server with a 1 MB limit and bodies many times larger."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
import requests

from tests.conftest import ServerProcess, missing

LIMIT = 1_000_000
BIG = 24_000_000  # far beyond the socket buffers: the client is still sending when the server decides
ENDPOINTS = ("/v2.0/metrics", "/v1/points", "/v1/events", "/v1/logs", "/v2.0/alarm-definitions")


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(tmp_path_factory.mktemp("large") / "data",
                            extra_env={"NEPHOSCOPE_LIMITS_MAX_BODY_BYTES": str(LIMIT)}).start()
    yield process
    process.stop()


def _body() -> bytes:
    item = b'{"name":"big.body","timestamp":1700000000000,"value":1.0},'
    return b"[" + item * (BIG // len(item)) + item[:-1] + b"]"


BODY = _body()
HEADERS = {"Content-Type": "application/json"}


def _readable(status: int, text: str) -> None:
    assert status == 413, text
    assert f"exceeds the limit of {LIMIT} bytes" in json.loads(text)["description"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_python_requests(limited: ServerProcess, path: str) -> None:
    with requests.Session() as session:
        session.headers["X-Auth-Token"] = limited.admin_token
        answer = session.post(limited.url + path, data=BODY, headers=HEADERS, timeout=60)
        _readable(answer.status_code, answer.text)
        # the connection is still good for the next request
        assert session.get(limited.url + "/v1/whoami", timeout=10).status_code == 200

        def chunks():  # no Content-Length: refused while streaming, heard all the same
            for start in range(0, len(BODY), 1 << 20):
                yield BODY[start:start + (1 << 20)]

        answer = session.post(limited.url + path, data=chunks(), headers=HEADERS, timeout=60)
        _readable(answer.status_code, answer.text)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_urllib(limited: ServerProcess, path: str) -> None:
    request = urllib.request.Request(limited.url + path, data=BODY, method="POST",
                                     headers={**HEADERS, "X-Auth-Token": limited.admin_token})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    _readable(refused.value.code, refused.value.read().decode())


def test_keystoneauth(limited: ServerProcess) -> None:
    from keystoneauth1 import exceptions, session, token_endpoint

    client = session.Session(auth=token_endpoint.Token(limited.url, limited.admin_token))
    for path in ENDPOINTS:
        with pytest.raises(exceptions.http.RequestEntityTooLarge) as refused:
            client.post(limited.url + path, data=BODY, headers=HEADERS)
        _readable(refused.value.http_status, refused.value.response.text)


def test_curl_expecting_100_continue_is_answered_before_it_sends(limited: ServerProcess, tmp_path) -> None:  # noqa: ANN001
    curl = shutil.which("curl")
    if curl is None:
        missing("curl is not installed", "apt-get install -y curl")
    path = tmp_path / "body.json"
    path.write_bytes(BODY)
    done = subprocess.run([curl, "-sS", "-o", "-", "-w", "\n%{http_code} %{size_upload}", "-H",
                           "Content-Type: application/json", "-H", f"X-Auth-Token: {limited.admin_token}",
                           "--data-binary", f"@{path}", limited.url + "/v2.0/metrics"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    body, _, figures = done.stdout.rpartition("\n")
    status, uploaded = figures.split()
    _readable(int(status), body)
    assert float(uploaded) < LIMIT  # it waited for 100 Continue, got the 413 instead, and sent nothing


def test_a_body_within_the_limit_is_still_read(limited: ServerProcess) -> None:
    small = b'[{"name":"small.body","timestamp":%d,"value":1.0}]' % 0
    answer = requests.post(limited.url + "/v2.0/metrics", data=small, timeout=10,
                           headers={**HEADERS, "X-Auth-Token": limited.admin_token})
    assert answer.status_code == 422  # read and judged (a timestamp of 0 is too old), not refused for its size
