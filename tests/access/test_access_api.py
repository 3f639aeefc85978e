"""The access API and page on the demo county (a real migrated SQLite file, then a
PostgreSQL database made for the module)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from shequ.access.store import compute_region_access
from shequ.app import create_app
from shequ.context import Context
from shequ.settings import Settings
from tests.conftest import scratch_postgres_database


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Context, TestClient]]:
    from shequ.ingest.build import build_demo

    folder = tmp_path_factory.mktemp("access-api")
    with _database(request.param, folder) as url:
        ctx = Context.open(Settings(data_dir=folder / "data", database_url=url,
                                    environment="test"))
        build_demo(ctx)
        with TestClient(create_app(ctx)) as client:
            yield ctx, client
        ctx.close()


@contextmanager
def _database(backend: str, folder: Path) -> Iterator[str]:
    """A SQLite file in ``folder``, or a PostgreSQL database made for the module (the
    demo county is built once for all its tests, so it cannot share the session's)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/shequ.sqlite3"
        return
    with scratch_postgres_database("shequ_access") as url:
        yield url


def planner(ctx: Context, username: str, county: str) -> dict[str, str]:
    """The bearer header of a new county planner (password hash made once, not checked)."""
    from shequ.services.accounts import create_user
    from shequ.services.accounts.models import SessionKind
    from shequ.services.accounts.sessions import start_session

    digest = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
    with ctx.sessions() as session, session.begin():
        user = create_user(session, username=username, role="county_planner",
                           jurisdiction_code=county, password_hash=digest)
        token = start_session(session, ctx.settings.secret_key, user,
                              kind=SessionKind.BEARER)[1]
    return {"Authorization": f"Bearer {token}"}


def test_point_query_agrees_with_the_evaluator(demo: tuple[Context, TestClient]) -> None:
    ctx, client = demo
    result = compute_region_access(ctx)
    row = result.communities.filter(pl.col("tier") == "15min").row(0, named=True)
    with ctx.sessions() as session:
        from shequ.access.store import load_region

        region = load_region(session)
    place = region.communities.filter(pl.col("division_code") == row["division_code"])
    answer = client.get("/api/v1/access/point", params={
        "lon": place["longitude"][0], "lat": place["latitude"][0], "tier": "15min"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["snapped"] is True
    assert body["synthetic_network"] is True
    (tier,) = body["tiers"]
    assert sorted(m["type"] for m in tier["missing"]) == sorted(row["missing"] + row["partial"])
    assert sorted(r["type"] for r in tier["reached"]) == sorted(row["reached"])
    distances = [f["distance_m"] for f in body["facilities"]]
    assert distances == sorted(distances)
    assert all(d <= 1000 for d in distances)


def test_point_far_from_streets_is_reported(demo: tuple[Context, TestClient]) -> None:
    _, client = demo
    body = client.get("/api/v1/access/point", params={"lon": 0.0, "lat": 0.0}).json()
    assert body["snapped"] is False
    assert body["snap_distance_m"] > 1_000_000
    assert body["facilities"] == []


def test_bad_tier_is_a_422_with_the_known_tiers(demo: tuple[Context, TestClient]) -> None:
    _, client = demo
    answer = client.get("/api/v1/access/point", params={"lon": 114.57, "lat": 38.14,
                                                         "tier": "20min"})
    assert answer.status_code == 422
    assert "15min" in answer.text


def test_communities_computed_then_stored(demo: tuple[Context, TestClient]) -> None:
    ctx, client = demo
    before = client.get("/api/v1/access/communities", params={"tier": "15min"}).json()
    assert before["stored"] is False
    assert client.post("/api/v1/access/compute").status_code == 401
    elsewhere = planner(ctx, "planner_elsewhere", "130102000000")
    nothing = client.post("/api/v1/access/compute", headers=elsewhere)
    assert nothing.status_code == 200 and nothing.json()["rows"] == 0  # not their county
    assert client.get("/api/v1/access/communities").json()["stored"] is False
    zhengding = planner(ctx, "planner_zd", "130123000000")
    stored = client.post("/api/v1/access/compute", headers=zhengding)
    assert stored.status_code == 200, stored.text
    from sqlalchemy import select

    from shequ.services.accounts.models import AuditLog

    with ctx.sessions() as session:
        logged = [(r.username, r.action, r.detail) for r in session.scalars(
            select(AuditLog).where(AuditLog.entity == "community_access"))]
    assert [(name, action) for name, action, _ in logged] == [
        ("planner_elsewhere", "compute"), ("planner_zd", "compute")]
    detail = logged[1][2]
    assert detail is not None and '"prefix": "130123"' in detail
    assert stored.json()["rows"] > 0
    after = client.get("/api/v1/access/communities", params={"tier": "15min"}).json()
    assert after["stored"] is True and after["computed_at"] is not None
    key = {(c["division_code"], tuple(c["missing"])) for c in after["communities"]}
    assert key == {(c["division_code"], tuple(c["missing"])) for c in before["communities"]}
    assert any(c["missing"] for c in after["communities"])
    assert all(c["name"] for c in after["communities"])
    this_year = after["period"]
    assert stored.json()["period"] == this_year >= 2026
    # an earlier year, stored beside it: before the demo's 2020 village stations
    early = client.post("/api/v1/access/compute", params={"period": 2019},
                        headers=zhengding)
    assert early.json()["period"] == 2019
    village = {"tier": "village"}
    old = client.get("/api/v1/access/communities", params={**village, "period": 2019}).json()
    new = client.get("/api/v1/access/communities", params=village).json()
    assert (old["period"], new["period"]) == (2019, this_year)
    def reached(body: dict[str, Any]) -> int:
        return sum("comprehensive_service_facility" in c["reached"]
                   for c in body["communities"])
    assert reached(old) < reached(new)
    bad = client.get("/api/v1/access/communities", params={"period": 1800})
    assert bad.status_code == 422
    page = client.get("/access", params={"tier": "village", "period": 2019, "lang": "en"})
    assert '<option value="2019" selected>2019</option>' in page.text
    assert "Walked with the facilities of 2019" in page.text


def test_page_shows_uncovered_residents(demo: tuple[Context, TestClient]) -> None:
    _, client = demo
    page = client.get("/access", params={"tier": "15min", "lang": "en"})
    assert page.status_code == 200
    assert 'data-testid="uncovered-table"' in page.text
    assert "/static/vendor/leaflet/leaflet.js" in page.text
    assert "Uncovered communities" in page.text
    assert "居民委员会" in page.text or "村" in page.text  # community names are listed
    zh = client.get("/access", params={"tier": "village", "lang": "zh-CN"})
    assert "未覆盖的社区" in zh.text


def test_isochrones_geojson(demo: tuple[Context, TestClient]) -> None:
    ctx, client = demo
    with ctx.sessions() as session:
        from shequ.access.store import load_region

        first = int(load_region(session).facilities["id"][0])
    body = client.get("/api/v1/access/isochrones", params={
        "facility_id": first, "distance_m": [300, 1000]}).json()
    assert body["type"] == "FeatureCollection"
    assert [f["properties"]["distance_m"] for f in body["features"]] == [300.0, 1000.0]
    assert body["features"][0]["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    missing = client.get("/api/v1/access/isochrones", params={"facility_id": 999999999})
    assert missing.status_code == 404
