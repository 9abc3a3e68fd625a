"""Property-based fuzzing of every operation in the server's OpenAPI document: schemathesis builds
hypothesis strategies of requests that fit the schema and of requests that break it; none may get
a 5xx answer, and the server must stay up.

Driven through ``APIOperation.as_strategy`` and plain hypothesis rather than schemathesis' pytest
plugin, which does not run on the pytest release used here.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.integration.serve.conftest import ADMIN_KEY

# 25 requests per operation and mode keep the whole fuzz within ~30 s on two shared cores.
EXAMPLES = 25


@pytest.fixture(scope="module")
def operations(api_server):
    document = api_server.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


def test_every_operation_is_fuzzed(operations):
    assert set(operations) == {"GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/models", "POST /v1/predict",
                               "POST /v1/generate", "POST /v1/completions", "POST /v1/admin/adapters",
                               "DELETE /v1/admin/adapters/{name}"}


# Requests that break the schema only exist for operations that take a body or path parameters.
TAKE_INPUT = ["POST /v1/predict", "POST /v1/generate", "POST /v1/completions", "POST /v1/admin/adapters",
              "DELETE /v1/admin/adapters/{name}"]
GENERATION = {"POST /v1/generate", "POST /v1/completions"}
CASES = [(name, GenerationMode.POSITIVE) for name in [*TAKE_INPUT, "GET /v1/models", "GET /readyz", "GET /metrics"]] + \
        [(name, GenerationMode.NEGATIVE) for name in TAKE_INPUT]


@pytest.mark.parametrize("name, mode", CASES)
def test_no_request_gets_a_server_error(api_server, operations, name, mode):
    operation = operations[name]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        # The admin key reaches every operation, admin ones included. The adapters it could unload
        # are named nowhere in the schema, so the fuzz does not guess them. Generation requests go
        # to the served causal LM, which random names would never reach.
        if name in GENERATION and isinstance(case.body, dict) and mode is GenerationMode.POSITIVE:
            case.body["model"] = "lm"
        response = case.call(base_url=api_server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        if response.status_code == 504 and isinstance(case.body, dict) and case.body.get("timeout_s") is not None:
            # The documented answer to a request whose own deadline (timeout_s) is shorter than its
            # work needs. Sent again without it, under the server's limits.timeout_s alone, the same
            # request must get an answer that is not a 5xx: only the client's deadline caused the 504.
            case.body = {key: value for key, value in case.body.items() if key != "timeout_s"}
            response = case.call(base_url=api_server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert response.status_code < 500, (case.method, case.path, case.body, response.text)

    check()
    assert api_server.alive() and api_server.get("/healthz").status_code == 200
