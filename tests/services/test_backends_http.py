"""The two busiest public routes over HTTP on both back-ends: a directory search near a
point and an Open311 submission, against hand-computed answers; and a real uvicorn
server that keeps answering while many signed-in requests are in flight at once.

Each back-end takes its own statements here (an array parameter for a page's rows and
autocommit reads on PostgreSQL, a list of parameters on SQLite), so both are driven.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.services.accounts import AuditLog
from shequ.services.requests import ServiceRequest

from .conftest import (
    FACILITIES,
    PASSWORD,
    SECRET,
    Seeded,
    free_port,
    seed,
    services_settings,
)


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    from shequ.app import create_app

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


@contextmanager
def uvicorn_server(database_url: str, data_dir: Path, *, pool_size: int) -> Iterator[str]:
    """``uvicorn`` serving ``database_url`` in a subprocess on a free loopback port, as
    ``shequ serve`` does; yields its base URL."""
    port = free_port()
    env = {**os.environ, "SHEQU_DATABASE_URL": database_url, "SHEQU_DATA_DIR": str(data_dir),
           "SHEQU_ENV": "test", "SHEQU_SECRET_KEY": SECRET,
           "SHEQU_DB_POOL_SIZE": str(pool_size)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "shequ.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/region", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the uvicorn server did not start")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


async def _burst_with_probe(base: str, token: str, n: int) -> tuple[list[int], list[int]]:
    """``n`` signed-in requests at once, and ``GET /api/v1/region`` every 100 ms until they
    are all answered: (their statuses, the probe's statuses)."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=n + 2, max_keepalive_connections=n + 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        paths = ["/api/v1/auth/me", "/api/v1/service-requests?mine=true"]
        burst = asyncio.gather(*(http.get(paths[i % 2], headers=headers) for i in range(n)))
        probes: list[int] = []
        while not burst.done():
            probes.append((await http.get("/api/v1/region", timeout=5)).status_code)
            await asyncio.sleep(0.1)
        return [r.status_code for r in await burst], probes


def test_many_signed_in_requests_at_once_all_answer(
        served: tuple[TestClient, Context, Seeded], db_url: str, tmp_path: Path) -> None:
    # Forty requests on a pool of four: most wait for a connection, none on the event
    # loop, so every one is answered and the probe answers meanwhile.
    with uvicorn_server(db_url, tmp_path / "live", pool_size=4) as base:
        signed_in = httpx.post(base + "/api/v1/auth/token",
                               data={"username": "resident1", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        # A thread of its own: a browser test earlier in this worker may have left an
        # event loop running in the main thread, where asyncio.run() is refused.
        with ThreadPoolExecutor(1) as pool:
            statuses, probes = pool.submit(asyncio.run, _burst_with_probe(
                base, signed_in.json()["access_token"], 40)).result()
    assert statuses == [200] * 40
    assert probes and set(probes) == {200}
