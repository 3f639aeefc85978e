"""The permission matrix: every role × every protected endpoint × inside and outside its
jurisdiction, plus the rule that no whole personal number reaches a role that may not
see it, and CSRF on page sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shequ.context import Context
from shequ.services.accounts import create_resident

from .conftest import IDENTITY_NUMBER, PASSWORD, PHONE, USERS, Seeded

ROLES = [*USERS, None]  # None: anonymous
INSIDE_STAFF = {"worker_dfx", "officer_dhm", "planner_dc", "planner_city", "planner_bj",
                "planner_cn", "admin"}  # staff whose jurisdiction covers 110101001001
OUTSIDE_STAFF = {"worker_xjmx", "planner_city", "planner_bj", "planner_cn", "admin"}
WHOLE_INSIDE = {"worker_dfx", "officer_dhm", "resident1"}


@pytest.fixture
def world(client: TestClient, ctx: Context, seeded: Seeded,
          auth: Callable[[str], dict[str, str]]) -> dict[str, Any]:
    """Requests and residents inside (多福巷) and outside (西交民巷) 东华门街道."""
    def submit(user: str, **body: Any) -> int:
        response = client.post("/api/v1/service-requests", headers=auth(user), json=body)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    inside = submit("resident1", service_code="public_repair", latitude=39.9156,
                    longitude=116.4054, attributes={"fixture": "path"},
                    contact_phone="13900001111")
    private = submit("resident1", service_code="elderly_help", division_code="110101001001",
                     attributes={"need": "meals"})
    outside = submit("resident2", service_code="public_repair", division_code="110102001001",
                     attributes={"fixture": "path"})
    with ctx.sessions() as session:
        other = create_resident(session, name="王五", division_code="110102001001",
                                identity_number="110102198001010017", phone="13700002222")
        session.commit()
        other_id = other.id
    return {"inside": inside, "private": private, "outside": outside,
            "resident_in": seeded.resident_id, "resident_out": other_id,
            "facility_in": seeded.facilities["多福巷社区综合服务站"],
            "facility_out": seeded.facilities["西交民巷社区综合服务站"]}


def _call(client: TestClient, auth: Callable[[str], dict[str, str]], user: str | None,
          method: str, path: str, body: Any = None) -> Any:
    headers = auth(user) if user else {}
    return client.request(method, path, headers=headers, json=body)


def _expect(user: str | None, allowed: set[str], *, denied: int = 403) -> int:
    if user is None:
        return 401
    return 200 if user in allowed else denied


CASES: list[tuple[str, str, str, Any, Callable[[str | None], int]]] = [
    # name, method, path template, body, expected status per user
    ("read resident inside", "GET", "/api/v1/residents/{resident_in}", None,
     lambda u: _expect(u, INSIDE_STAFF | {"resident1"})),
    ("read resident outside", "GET", "/api/v1/residents/{resident_out}", None,
     lambda u: _expect(u, OUTSIDE_STAFF)),
    ("list residents", "GET", "/api/v1/residents", None,
     lambda u: _expect(u, set(USERS) - {"resident1", "resident2"})),
    ("work request inside", "POST", "/api/v1/service-requests/{inside}/actions",
     {"action": "update", "note": "on it"},
     lambda u: _expect(u, {"worker_dfx", "officer_dhm", "admin"})),
    ("work request outside", "POST", "/api/v1/service-requests/{outside}/actions",
     {"action": "update", "note": "on it"},
     lambda u: _expect(u, {"worker_xjmx", "admin"})),
    ("read private request", "GET", "/api/v1/service-requests/{private}", None,
     lambda u: _expect(u, INSIDE_STAFF | {"resident1"}, denied=404)),
    ("open311 private request", "GET", "/open311/v2/requests/{private}.json", None,
     lambda u: 200 if u in INSIDE_STAFF | {"resident1"} else 404),
    ("open311 public request", "GET", "/open311/v2/requests/{outside}.json", None,
     lambda u: 200),
    ("read public request outside", "GET", "/api/v1/service-requests/{outside}", None,
     lambda u: _expect(u, set(USERS))),
    ("assignees inside", "GET", "/api/v1/service-requests/{inside}/assignees", None,
     lambda u: _expect(u, {"worker_dfx", "officer_dhm", "admin"})),
    ("queue", "GET", "/api/v1/service-requests?queue=true", None,
     lambda u: _expect(u, {"worker_dfx", "worker_yz", "officer_dhm", "admin", "worker_xjmx"})),
    ("add resident inside", "POST", "/api/v1/residents",
     {"name": "赵六", "division_code": "110101001001"},
     lambda u: 201 if u in {"worker_dfx", "officer_dhm"} else _expect(u, set())),
    ("add resident outside", "POST", "/api/v1/residents",
     {"name": "钱七", "division_code": "110102001001"},
     lambda u: 201 if u == "worker_xjmx" else _expect(u, set())),
    ("escalate", "POST", "/api/v1/service-requests/escalate", None,
     lambda u: _expect(u, {"admin"})),
    ("audit log", "GET", "/api/v1/audit-log", None, lambda u: _expect(u, {"admin"})),
    ("edit facility inside", "PATCH", "/api/v1/facilities/{facility_in}", {"capacity": 30},
     lambda u: _expect(u, INSIDE_STAFF)),
    ("edit facility outside", "PATCH", "/api/v1/facilities/{facility_out}", {"capacity": 30},
     lambda u: _expect(u, OUTSIDE_STAFF)),
    ("add facility inside", "POST", "/api/v1/facilities",
     {"type_code": "parcel_point", "division_code": "110101001001", "name": "快递驿站"},
     lambda u: 201 if u in INSIDE_STAFF else _expect(u, set())),
    ("record population inside", "PUT", "/api/v1/divisions/110101001001/population/2025",
     {"residents": 5200, "households": 2100}, lambda u: _expect(u, INSIDE_STAFF)),
    ("record population outside", "PUT", "/api/v1/divisions/110102001001/population/2025",
     {"residents": 4100, "households": 1700}, lambda u: _expect(u, OUTSIDE_STAFF)),
    ("record workforce inside", "PUT", "/api/v1/divisions/110101001001/workforce/2025",
     [{"role": "community_worker", "headcount": 8}], lambda u: _expect(u, INSIDE_STAFF)),
    ("record workforce outside", "PUT", "/api/v1/divisions/110102001001/workforce/2025",
     [{"role": "community_worker", "headcount": 6}], lambda u: _expect(u, OUTSIDE_STAFF)),
    ("read population", "GET", "/api/v1/divisions/110101001001/population", None,
     lambda u: 200),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_permission_matrix(case: tuple[str, str, str, Any, Callable[[str | None], int]],
                           client: TestClient, world: dict[str, Any],
                           auth: Callable[[str], dict[str, str]]) -> None:
    name, method, template, body, expected = case
    path = template.format(**world)
    got = {user: _call(client, auth, user, method, path, body).status_code for user in ROLES}
    want = {user: expected(user) for user in ROLES}
    assert got == want, name


def test_whole_numbers_only_for_roles_that_may_see_them(
        client: TestClient, world: dict[str, Any],
        auth: Callable[[str], dict[str, str]]) -> None:
    for user in USERS:
        response = client.get(f"/api/v1/residents/{world['resident_in']}", headers=auth(user))
        if response.status_code != 200:
            assert IDENTITY_NUMBER not in response.text and PHONE not in response.text
            continue
        body = response.json()
        if user in WHOLE_INSIDE:
            assert (body["identity_number"], body["phone"], body["whole"]) == (
                IDENTITY_NUMBER, PHONE, True), user
        else:
            assert (body["identity_number"], body["phone"], body["whole"]) == (
                "1101**********002X", "138****5678", False), user
        listed = client.get("/api/v1/residents", headers=auth(user))
        assert IDENTITY_NUMBER not in listed.text and PHONE not in listed.text
        detail = client.get(f"/api/v1/service-requests/{world['inside']}", headers=auth(user))
        phone = detail.json()["contact_phone"]
        assert phone == ("13900001111" if user in WHOLE_INSIDE else "139****1111"), user
    audit = client.get("/api/v1/audit-log?entity=resident&limit=1000",
                       headers=auth("admin")).json()
    whole_reads = {a["username"] for a in audit if a["action"] == "read_personal"}
    assert whole_reads == WHOLE_INSIDE


def test_queue_holds_only_requests_in_jurisdiction_by_deadline(
        client: TestClient, world: dict[str, Any],
        auth: Callable[[str], dict[str, str]]) -> None:
    queue = client.get("/api/v1/service-requests?queue=true", headers=auth("worker_dfx")).json()
    assert [r["id"] for r in queue] == [world["private"], world["inside"]]  # 24 h before 72 h
    outside = client.get("/api/v1/service-requests?queue=true",
                         headers=auth("worker_xjmx")).json()
    assert [r["id"] for r in outside] == [world["outside"]]


def test_page_session_writes_need_the_csrf_token(client: TestClient,
                                                 world: dict[str, Any]) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    bad = client.post("/login", data={"username": "worker_dfx", "password": PASSWORD,
                                      "csrf_token": "forged"}, follow_redirects=False)
    assert bad.status_code == 403
    wrong = client.post("/login", data={"username": "worker_dfx", "password": "nope-nope",
                                        "csrf_token": token}, follow_redirects=False)
    assert wrong.status_code == 401
    ok = client.post("/login", data={"username": "worker_dfx", "password": PASSWORD,
                                     "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303
    path = f"/api/v1/service-requests/{world['inside']}/actions"
    assert client.post(path, json={"action": "accept"}).status_code == 403
    me = client.get("/api/v1/auth/me")
    assert me.json()["username"] == "worker_dfx"
    queue_page = client.get("/services/queue")
    csrf = queue_page.text.split('name="csrf-token" content="')[1].split('"')[0]
    accepted = client.post(path, json={"action": "accept"}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


def test_token_endpoint(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token",
                           data={"username": "planner_dc", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["username"], me["role"], me["jurisdiction_code"]) == (
        "planner_dc", "county_planner", "110101000000")
    refused = client.post("/api/v1/auth/token",
                          data={"username": "planner_dc", "password": "not-it-at-all"})
    assert refused.status_code == 401


def test_bad_bearer_token_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_public_writes_are_rate_limited(client: TestClient) -> None:
    codes = [client.post("/login", data={"username": "x", "password": "y",
                                         "csrf_token": "z"}).status_code for _ in range(21)]
    assert codes == [403] * 20 + [429]


@pytest.mark.parametrize("path", [
    "/api/v1/facilities/99999999999", "/api/v1/facilities?offset=99999999999",
    "/api/v1/service-requests/99999999999", "/api/v1/residents/99999999999",
    "/api/v1/plan/scenarios/99999999999", "/services/requests/99999999999",
    f"/api/v1/plan/compare?ids={2**70}",
])
def test_an_id_beyond_32_bits_is_bad_input_not_a_server_error(
        path: str, client: TestClient, auth: Callable[[str], dict[str, str]]) -> None:
    response = client.get(path, headers=auth("admin"), follow_redirects=False)
    assert response.status_code == 422, response.text


def test_an_indicator_run_for_year_zero_is_bad_input(
        client: TestClient, auth: Callable[[str], dict[str, str]]) -> None:
    response = client.post("/api/v1/indicators/runs", headers=auth("admin"),
                           json={"periods": [0]})
    assert response.status_code == 422, response.text
