"""A serving process answers the common public reads once, then keeps its start-up
objects out of garbage collection."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shequ.app import create_app
from shequ.context import Context
from shequ.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process goes on collecting what it builds


def test_a_server_freezes_what_it_built_at_start_up(tmp_path: Path, sqlite_url: str,
                                                    unfrozen: None) -> None:
    settings = Settings(data_dir=tmp_path, database_url=sqlite_url, environment="development",
                        notify_in_server=False)
    ctx = Context.open(settings)
    try:
        assert gc.get_freeze_count() == 0
        with TestClient(create_app(ctx)) as client:
            # the modules, the app and its routes: far more than any request creates
            assert gc.get_freeze_count() > 100_000
            assert client.get("/api/v1/region").status_code == 200
    finally:
        ctx.close()


def test_test_settings_leave_garbage_collection_alone(tmp_path: Path, sqlite_url: str,
                                                      unfrozen: None) -> None:
    ctx = Context.open(Settings(data_dir=tmp_path, database_url=sqlite_url,
                                environment="test"))
    try:
        with TestClient(create_app(ctx)):
            assert gc.get_freeze_count() == 0
    finally:
        ctx.close()


def test_a_server_answers_the_common_public_reads_before_its_first_visitor(
        demo_settings: Settings, unfrozen: None) -> None:
    ctx = Context.open(demo_settings.with_(environment="development", notify_in_server=False))
    try:
        app = create_app(ctx)
        with TestClient(app):
            answered = app.state.warm_up.answered
    finally:
        ctx.close()
    # the demo county, walked down from its province: every read answered, but the
    # short boards (the test's copy of the demo stores no indicator run: 404)
    boards = answered.pop("/api/v1/indicators/short-boards?ou=130123000000&limit=20")
    assert boards == 404
    assert set(answered.values()) == {200}
    paths = {target.split("?")[0] for target in answered}
    assert {"/api/v1/region", "/open311/v2/requests.json", "/api/v1/divisions",
            "/api/v1/divisions/130000000000/children", "/api/v1/divisions/130123000000/children",
            "/api/v1/facilities",
            "/api/v1/facilities/near", "/hsds/services"} <= paths
