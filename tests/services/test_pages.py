"""Pages without a browser, on SQLite and PostgreSQL: sign-in redirects, the queue's
assign form, errors shown on the page, both languages — and every page of the app, as
every kind of user, answering without a server error."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.responses import HTMLResponse

from shequ.app import create_app
from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.registry.queries import set_meta

from .conftest import PASSWORD, Seeded, seed, services_settings

# One user of each kind the pages tell apart (None: an anonymous visitor).
ROLES = (None, "resident1", "worker_dfx", "officer_dhm", "planner_dc", "admin")
# Values of path parameters by name: a seeded community, or the first record of a table.
REGION = "110101000000"  # 东城区: two streets of the seeded region
PATH_VALUES = {"code": "110101001001", "table": "facilities", "period": "2024"}


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    """The app over the seeded region on ``db_url`` (SQLite, then PostgreSQL)."""
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
        set_meta(session, region_code=REGION)
        session.commit()
    engine.dispose()
    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as http:
        yield http, ctx, seeded
    ctx.close()


@pytest.fixture
def client(served: tuple[TestClient, Context, Seeded]) -> TestClient:
    """An HTTP client of the app on the seeded region (both back-ends)."""
    return served[0]


@pytest.fixture
def seeded(served: tuple[TestClient, Context, Seeded]) -> Seeded:
    """Ids of the seeded region on this test's back-end."""
    return served[2]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _login(client: TestClient, username: str) -> None:
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def test_pages_need_sign_in_and_speak_both_languages(client: TestClient) -> None:
    response = client.get("/services/requests/new", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/services/requests/new"
    assert "<h1>找服务</h1>" in client.get("/services").text
    assert "<h1>Find a service</h1>" in client.get("/services?lang=en").text


def test_home_page_counts_the_region(client: TestClient) -> None:
    # The region (东城区) by township: communities, residents (none recorded) and
    # facilities, grouped by the codes' first nine digits — 东华门街道 has two
    # communities and four of the six seeded facilities, 景山街道 one and one.
    page = client.get("/?lang=en")
    assert page.status_code == 200, page.text
    for township, counts in (("东华门街道", ["2", "0", "4"]), ("景山街道", ["1", "0", "1"])):
        row = page.text.split(township, 1)[1].split("</tr>", 1)[0]
        assert re.findall(r'<td class="num">([\d,]+)</td>', row) == counts


def test_worker_assigns_from_the_queue_and_sees_refusals(
        client: TestClient, seeded: Seeded, auth: Callable[[str], dict[str, str]]) -> None:
    created = client.post("/api/v1/service-requests", headers=auth("resident1"), json={
        "service_code": "public_repair", "division_code": "110101001001",
        "attributes": {"fixture": "path"}}).json()
    _login(client, "officer_dhm")
    queue = client.get("/services/queue")
    assert f'data-testid="queue-row-{created["id"]}"' in queue.text
    assert "worker_dfx" in queue.text and "worker_yz" not in queue.text.split(
        f'queue-row-{created["id"]}')[1].split("</tr>")[0]
    refused = client.post(f"/services/requests/{created['id']}/act", data={
        "action": "resolve", "csrf_token": _csrf(queue.text), "back": "queue"})
    # Drawn again with the refusal in the reader's language, nothing changed.
    assert refused.status_code == 409
    assert "该诉求当前的状态不允许这一操作。" in refused.text
    assigned = client.post(f"/services/requests/{created['id']}/act", data={
        "action": "assign", "assignee_id": str(seeded.users["worker_dfx"]),
        "csrf_token": _csrf(queue.text)}, follow_redirects=False)
    assert assigned.status_code == 303
    detail = client.get(f"/api/v1/service-requests/{created['id']}",
                        headers=auth("worker_dfx")).json()
    assert (detail["status"], detail["assigned_to_id"]) == ("assigned",
                                                            seeded.users["worker_dfx"])


def test_request_form_stores_the_request(client: TestClient) -> None:
    _login(client, "resident1")
    form = client.get("/services/requests/new")
    posted = client.post("/services/requests", data={
        "csrf_token": _csrf(form.text), "service_code": "public_repair",
        "latitude": "39.9152", "longitude": "116.4052", "description": "路灯不亮",
        "attr.public_repair.fixture": "streetlight"}, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    request_id = int(posted.headers["location"].split("/")[-1].split("?")[0])
    followed = client.get(f"/services/requests/{request_id}")
    assert followed.status_code == 200 and "路灯不亮" in followed.text
    assert 'data-testid="responsible">多福巷社区</span>' in followed.text


def _page_paths(client: TestClient) -> list[str]:
    """Every GET route of the app that answers HTML, its path parameters filled in."""
    paths = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if not (isinstance(route, APIRoute) and "GET" in (context.methods or ())):
            continue
        response_class: Any = context.response_class
        html = (not context.include_in_schema or (
            isinstance(response_class, type) and issubclass(response_class, HTMLResponse)))
        if not html:
            continue
        values = {}
        for param in route.dependant.path_params:
            kind = param.field_info.annotation
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                values[param.name] = str(next(iter(kind)).value)
            else:
                values[param.name] = PATH_VALUES.get(param.name, "1")
        paths.append(str(context.path_format).format(**values))
    return sorted(set(paths))


@pytest.mark.slow
def test_every_page_answers_every_kind_of_user(client: TestClient) -> None:
    paths = _page_paths(client)
    # The pages of every domain are found, not only a few (a guard on the enumeration).
    for known in ("/", "/services", "/indicators", "/access", "/plan", "/upkeep", "/work",
                  "/bookings", "/care", "/volunteers", "/reviews", "/login"):
        assert known in paths
    failures = []
    for role in ROLES:
        client.cookies.clear()
        if role is not None:
            _login(client, role)
        for path in paths:
            response = client.get(path, follow_redirects=False)
            if response.status_code >= 500:
                failures.append(f"{role or 'anonymous'} GET {path}: {response.status_code}")
    assert failures == []
