"""Fuzz every operation of the HTTP API from its own OpenAPI document (schemathesis).

Whatever the generated input, the server answers without a 5xx (overload 503s excepted),
error bodies keep Monasca's {"title", "description"} shape, and the server keeps serving.
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import ADMIN_TOKEN

EXAMPLES_PER_OPERATION = 40


def test_every_operation_survives_generated_input(shared_server) -> None:  # noqa: ANN001
    schema = schemathesis.openapi.from_url(f"{shared_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the OpenAPI document lost operations"
    exercised = []
    for operation in operations:
        headers = {"X-Auth-Token": ADMIN_TOKEN}
        if operation.path == "/v1/admin/compact":
            headers = {}  # heavy maintenance: fuzz its refusal without a token, not the work itself

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # noqa: ANN001
            response = case.call(headers=headers, timeout=30)
            assert response.status_code < 500 or response.status_code == 503, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")
            if response.status_code >= 400:
                body = response.json()
                assert "title" in body and "description" in body, body

        run()
        exercised.append(f"{operation.method.upper()} {operation.path}")
    assert httpx.get(f"{shared_server.url}/healthz", timeout=5).status_code == 200
    assert len(exercised) == len(operations)
