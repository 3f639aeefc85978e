"""Schemathesis against Shequ's OpenAPI document, over a seeded database, with a bounded
number of examples per operation: no server error and no response that breaks its
declared schema on the services' and the registry's endpoints; the registry writes as an
administrator; and no server error on any operation as an administrator."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shequ.context import Context

from .conftest import Seeded, services_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory,
               seeded_template: tuple[Path, Seeded]) -> Iterator[Any]:
    """The OpenAPI schema of an app over a seeded SQLite copy (shared by all examples)."""
    from shequ.app import create_app

    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "fuzz.sqlite3"
    shutil.copyfile(seeded_template[0], path)
    ctx = Context.open(services_settings(f"sqlite:///{path}", folder / "data"), migrate=False)
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx))
    ctx.close()


SERVICES = re.compile(r"^/(hsds|open311|api/v1/(auth|service-requests|residents|audit-log))")
REGISTRY = re.compile(r"^/api/v1/(divisions|facilities|facility-types|region|exports)")
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance,
          content_type_conformance]


def success_schema_conformance(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schema conformance of 2xx answers only.

    The registry's routers answer a ShequError ValidationError with 422 and Shequ's error
    body, but their OpenAPI entries still name FastAPI's HTTPValidationError for 422;
    until they document it, their error bodies are not held to that schema here.
    """
    if response.status_code >= 400:
        return None
    return response_schema_conformance(ctx, response, case)


# The registry's routes do not declare their 404/422 answers yet (reported to their
# owner), so status-code conformance is held only on the services' routes.
REGISTRY_CHECKS = [not_a_server_error, success_schema_conformance, content_type_conformance]


def test_no_server_error_and_responses_follow_the_schema(api_schema: Any) -> None:
    # One test drives every operation (schemathesis' lazy pytest fixture loader does not
    # run under pytest 9); failures are collected per operation and reported together.
    failures: dict[str, str] = {}
    operations = [r.ok() for r in api_schema.get_all_operations()]
    chosen = [op for op in operations if SERVICES.match(op.path) or REGISTRY.match(op.path)]
    assert len(chosen) >= 30, [op.label for op in chosen]
    for operation in chosen:
        checks = CHECKS if SERVICES.match(operation.path) else REGISTRY_CHECKS

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(checks=checks)  # noqa: B023 (run() is called at once)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
            failures[operation.label] = str(exc)[:2000]
    assert failures == {}


UPKEEP = re.compile(r"^/api/v1/(facilities|imports|divisions/\{code\}/(population|workforce))")


def test_staff_writes_to_the_registry_never_fail_on_the_server(
        api_schema: Any, auth: Any) -> None:
    # The same, signed in as an administrator (nationwide), so that bodies reach the
    # upkeep rules instead of stopping at 401 or at the jurisdiction's 403.
    failures: dict[str, str] = {}
    statuses: set[int] = set()
    headers = auth("admin")
    chosen = [op for op in (r.ok() for r in api_schema.get_all_operations())
              if UPKEEP.match(op.path) and op.method.upper() in ("POST", "PATCH", "PUT")]
    assert len(chosen) == 5, [op.label for op in chosen]
    for operation in chosen:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call_and_validate(headers=headers, checks=REGISTRY_CHECKS)
            statuses.add(response.status_code)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:2000]
    assert failures == {}
    assert 422 in statuses  # bodies got as far as the registry's rules


def test_no_operation_fails_on_the_server_for_an_administrator(
        api_schema: Any, auth: Any) -> None:
    # Every operation of the document (planning, indicators, bookings … included), signed
    # in with the widest role so that inputs get past 401/403 to the code behind them.
    failures: dict[str, str] = {}
    headers = auth("admin")
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 110, len(operations)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:2000]
    assert failures == {}
