"""The two busiest public routes over HTTP on both back-ends: a directory search near a
point and an Open311 submission, against hand-computed answers.

Each back-end takes its own statements here (an array parameter for a page's rows and
autocommit reads on PostgreSQL, a list of parameters on SQLite), so both are driven.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.services.accounts import AuditLog
from shequ.services.requests import ServiceRequest

from .conftest import FACILITIES, Seeded, seed, services_settings


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    from shequ.api.app import create_app

    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, seeded
    ctx.close()


def _great_circle_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    # Independent oracle: the spherical law of cosines on the mean Earth radius.
    p1, p2, dl = map(math.radians, (lat1, lat2, lon2 - lon1))
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6_371_008.8 * math.acos(min(1.0, c))


def test_search_near_a_point(served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, _ = served
    lon, lat, radius = 116.4080, 39.9190, 2000.0
    expected = sorted((_great_circle_m(lon, lat, f[3], f[4]), f[0]) for f in FACILITIES
                      if _great_circle_m(lon, lat, f[3], f[4]) <= radius)
    assert len(expected) == 5  # all but 西交民巷, about 3.2 km away
    for per_page, page in ((100, 1), (2, 2)):
        response = client.get(f"/hsds/services?latitude={lat}&longitude={lon}"
                              f"&radius={radius}&per_page={per_page}&page={page}")
        assert response.status_code == 200, response.text
        body = response.json()
        chosen = expected[(page - 1) * per_page:page * per_page]
        assert [s["name"] for s in body["contents"]] == [name for _, name in chosen]
        assert [s["distance_m"] for s in body["contents"]] == pytest.approx(
            [d for d, _ in chosen], abs=0.1)
        assert body["total_items"] == 5
    assert client.get("/hsds/services?latitude=39.9&longitude=116.4&radius=-1"
                      ).status_code == 422


def test_open311_submission(served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    form = {"api_key": seeded.api_key, "service_code": "public_repair",
            "attribute[fixture]": "streetlight", "lat": "39.9156", "long": "116.4054"}
    first = client.post("/open311/v2/requests.json", data=form)
    assert first.status_code == 200, first.text
    (created,) = first.json()
    assert created["service_notice"] is None
    second = client.post("/open311/v2/requests.json?lang=en",
                         data={**form, "lat": "39.9157", "long": "116.4055"}).json()[0]
    assert second["service_notice"] == (
        f"open requests of the same kind nearby: {created['service_request_id']}")
    assert client.post("/open311/v2/requests.json",
                       data={**form, "api_key": "sq_wrong"}).status_code == 403
    with ctx.sessions() as session:
        stored = session.get(ServiceRequest, int(created["service_request_id"]))
        assert stored is not None
        assert (stored.division_code, stored.responsible_code, stored.token) == (
            "110101001001", "110101001001", created["token"])
        audit_rows = session.scalars(select(AuditLog).where(
            AuditLog.entity == "service_request").order_by(AuditLog.id)).all()
        assert [a.entity_id for a in audit_rows] == [created["service_request_id"],
                                                     second["service_request_id"]]
        assert json.loads(audit_rows[0].detail or "")["api_key_id"] == stored.api_key_id
