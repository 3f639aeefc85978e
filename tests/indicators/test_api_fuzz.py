"""Schemathesis fuzzing of the indicator endpoints on the fixture: no input makes the
server answer 5xx (derandomised, so CI sees the same cases every run)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import openapi
from schemathesis.generation import GenerationMode

from shequ.app import create_app
from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.settings import Settings
from tests.fuzzing import operations_under, request_kwargs
from tests.indicators import fixture as f

PATHS = ("/api/v1/indicators", "/api/v1/analytics", "/api/v1/dataValueSets")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
           ) -> Iterator[TestClient]:
    import shutil

    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copyfile(sqlite_template, folder / "shequ.sqlite3")
    ctx = Context.open(Settings(data_dir=folder, environment="test"), migrate=False)
    with ctx.sessions() as session, session.begin():
        f.store(session)
    compute_for_registry(ctx, as_of=dt.date(2024, 12, 31))
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    ctx.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_on_indicator_endpoints(mode: GenerationMode, client: TestClient
                                                ) -> None:
    schema = openapi.from_asgi("/openapi.json", client.app)
    operations = operations_under(schema, PATHS)
    assert len(operations) >= 7
    failures: list[str] = []
    for operation in operations:
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = client.request(case.method, case.formatted_path,
                                      **request_kwargs(case))
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} "
                                f"{case.body!r}: {response.status_code}")

        try:
            run()
        except Unsatisfiable:  # an operation without inputs has no invalid variant
            assert mode is GenerationMode.NEGATIVE
    assert failures == []
