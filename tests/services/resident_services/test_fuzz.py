"""Schemathesis fuzzing of the resident-services endpoints: no input, from anonymous callers, a
resident or a community worker, makes the server answer 5xx.  Deterministic (derandomised)
so that CI sees the same cases every run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import openapi
from schemathesis.generation import GenerationMode

from tests.fuzzing import operations_under, request_kwargs

PREFIXES = ("/api/v1/bookings", "/api/v1/care", "/api/v1/volunteers", "/api/v1/reviews")
CALLERS = (None, "resident1", "worker_dfx")


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_on_resident_services_endpoints(mode: GenerationMode, client: TestClient,
                                            auth: Callable[[str], dict[str, str]]) -> None:
    schema = openapi.from_asgi("/openapi.json", client.app)
    operations = operations_under(schema, PREFIXES)
    assert len(operations) >= 30
    headers = {user: (auth(user) if user else {}) for user in CALLERS}
    failures: list[str] = []

    for operation in operations:
        @settings(max_examples=5, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode),
               caller=st.sampled_from(CALLERS))
        def run(case: Any, caller: str | None) -> None:
            response = client.request(case.method, case.formatted_path,
                                      **request_kwargs(case, headers[caller]))
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} "
                                f"{case.body!r} as {caller}: {response.status_code}")

        try:
            run()
        except Unsatisfiable:  # an operation without inputs has no invalid variant
            assert mode is GenerationMode.NEGATIVE
    assert failures == []
