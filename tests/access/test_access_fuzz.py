"""Schemathesis against the access endpoints on the demo county: no server error, and
successful answers follow the declared schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from shequ.context import Context
from shequ.settings import Settings

pytestmark = pytest.mark.slow


def success_schema_conformance(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schema conformance of 2xx answers (errors carry Shequ's error body)."""
    if response.status_code >= 400:
        return None
    return response_schema_conformance(ctx, response, case)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from shequ.app import create_app
    from shequ.ingest.build import build_demo

    folder = tmp_path_factory.mktemp("access-fuzz")
    ctx = Context.open(Settings(data_dir=folder / "data",
                                database_url=f"sqlite:///{folder}/fuzz.sqlite3",
                                environment="test"))
    build_demo(ctx)
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx))
    ctx.close()


def test_access_endpoints_never_fail_with_a_server_error(api_schema: Any) -> None:
    failures: dict[str, str] = {}
    chosen = [op.ok() for op in api_schema.get_all_operations()
              if op.ok().path.startswith("/api/v1/access/")]
    assert {op.path for op in chosen} >= {"/api/v1/access/point", "/api/v1/access/communities",
                                          "/api/v1/access/isochrones"}
    for operation in chosen:
        examples = 3 if operation.path.endswith("/compute") else 15

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error, success_schema_conformance,
                                           content_type_conformance])

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
            failures[operation.label] = str(exc)[:2000]
    assert failures == {}
