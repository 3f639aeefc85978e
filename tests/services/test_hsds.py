"""The HSDS 3.0 directory: every response validates against the official schemas; ids are
uuid5 of registry ids; proximity, open-now, division and taxonomy filters return the
hand-computed sets; the directory follows the registry."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shequ.context import Context
from shequ.registry.models import Facility
from shequ.services.directory import DirectoryState
from shequ.services.directory.hsds import area_term_id

from .conftest import FACILITIES, Seeded
from .schemas import errors, page_validator

NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://shequ.org/hsds")
# 2026-11-30 is a Monday.
MONDAY_0900 = "2026-11-30T09:00:00+08:00"
MONDAY_1230 = "2026-11-30T12:30:00+08:00"


def _valid_page(body: dict[str, Any], item_schema: str) -> None:
    assert list(page_validator().iter_errors(body)) == []
    for item in body["contents"]:
        assert errors(item_schema, item) == [], item


def test_root_declares_version_and_profile(client: TestClient) -> None:
    body = client.get("/hsds/").json()
    assert body["version"] == "3.0"
    assert body["profile"].endswith("/hsds/profile")
    profile = client.get("/hsds/profile").json()
    assert "distance_m" in profile["schema_patches"]["service.json"]["properties"]


@pytest.mark.parametrize("query", ["", "?full=true", "?minimal=true",
                                   "?latitude=39.9155&longitude=116.4055&radius=3000&full=true",
                                   "?search=社区", "?page=2&per_page=2"])
def test_service_lists_validate(client: TestClient, query: str) -> None:
    response = client.get("/hsds/services" + query)
    assert response.status_code == 200
    _valid_page(response.json(), "service.json")


def test_bad_service_queries_are_422_naming_the_parameter(client: TestClient) -> None:
    response = client.get("/hsds/services?latitude=39.9&longitude=116.4&radius=0&per_page=x")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problems = {(d["source"], d["column"]): d["reason"] for d in response.json()["problems"]}
    assert set(problems) == {("query", "radius"), ("query", "per_page")}
    assert problems[("query", "radius")] == "Input should be greater than 0"
    assert "valid integer" in problems[("query", "per_page")]
    # The parameters stay documented for clients (and for the fuzz tests).
    operation = client.get("/openapi.json").json()["paths"]["/hsds/services"]["get"]
    documented = {p["name"]: p for p in operation["parameters"]}
    assert set(documented) >= {"latitude", "longitude", "radius", "open_now", "division",
                               "page", "per_page", "lang"}
    assert documented["radius"]["schema"]["anyOf"][0] == {
        "type": "number", "exclusiveMinimum": 0.0, "maximum": 50000.0}
    assert all(p["in"] == "query" and not p["required"] for p in documented.values())


def test_every_record_endpoint_validates(client: TestClient) -> None:
    lists = {"/hsds/services": "service.json", "/hsds/organizations": "organization.json",
             "/hsds/locations": "location.json",
             "/hsds/service_at_locations?full=true": "service_at_location.json",
             "/hsds/taxonomies": "taxonomy.json", "/hsds/taxonomy_terms?per_page=100":
             "taxonomy_term.json"}
    for path, schema in lists.items():
        body = client.get(path).json()
        _valid_page(body, schema)
        assert body["contents"], path
        base = path.split("?")[0]
        for item in body["contents"][:3]:
            one = client.get(f"{base}/{item['id']}")
            assert one.status_code == 200, (path, one.text)
            assert errors(schema, one.json()) == [], (path, one.json())
    assert client.get(f"/hsds/services/{uuid.uuid4()}").status_code == 404


def test_ids_are_uuid5_of_registry_ids(client: TestClient, seeded: Seeded) -> None:
    fid = seeded.facilities["隆福寺图书分馆"]
    service_id = str(uuid.uuid5(NS, f"service:{fid}"))
    body = client.get(f"/hsds/services/{service_id}").json()
    assert body["name"] == "隆福寺图书分馆"
    assert body["service_at_locations"][0]["location_id"] == str(uuid.uuid5(NS, f"location:{fid}"))
    org = client.get(f"/hsds/organizations/{body['organization_id']}").json()
    assert org["name"] == "隆福寺社区居民委员会"
    assert [s["id"] for s in org["services"]] == [service_id]


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    # Independent oracle: the spherical law of cosines on the mean Earth radius.
    p1, p2, dl = map(math.radians, (lat1, lat2, lon2 - lon1))
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6_371_008.8 * math.acos(min(1.0, c))


def test_proximity_search_is_nearest_first_within_radius(client: TestClient) -> None:
    lon, lat, radius = 116.4055, 39.9155, 1200.0
    body = client.get(f"/hsds/services?latitude={lat}&longitude={lon}&radius={radius}"
                      "&per_page=100").json()
    expected = sorted((_haversine(lon, lat, f[3], f[4]), f[0]) for f in FACILITIES
                      if _haversine(lon, lat, f[3], f[4]) <= radius)
    assert [s["name"] for s in body["contents"]] == [name for _, name in expected]
    assert [s["distance_m"] for s in body["contents"]] == pytest.approx(
        [d for d, _ in expected], abs=0.1)
    assert body["total_items"] == len(expected) == 4


def test_open_now_follows_opening_hours(client: TestClient) -> None:
    def open_names(at: str) -> set[str]:
        body = client.get("/hsds/services", params={"open_now": "true", "at": at,
                                                    "per_page": 100}).json()
        return {s["name"] for s in body["contents"]}

    assert open_names(MONDAY_0900) == {"多福巷社区综合服务站", "多福巷老年人日间照料中心",
                                       "银闸社区卫生服务站", "西交民巷社区综合服务站"}
    assert open_names(MONDAY_1230) == {"多福巷社区综合服务站", "多福巷老年人日间照料中心",
                                       "西交民巷社区综合服务站"}


def test_division_and_taxonomy_filters(client: TestClient) -> None:
    street = client.get("/hsds/services?division=110101001&per_page=100").json()
    assert {s["name"] for s in street["contents"]} == {
        "多福巷社区综合服务站", "多福巷老年人日间照料中心", "银闸社区卫生服务站", "银闸托育园"}
    elderly = client.get(f"/hsds/services?taxonomy_term_id={area_term_id('elderly')}").json()
    assert [s["name"] for s in elderly["contents"]] == ["多福巷老年人日间照料中心"]
    assert client.get("/hsds/services?taxonomy_term_id=nope").json()["total_items"] == 0
    planned = client.get("/hsds/services?search=托育").json()["contents"][0]
    assert planned["status"] == "inactive"


def test_simple_hours_become_weekly_schedules(client: TestClient, seeded: Seeded) -> None:
    fid = seeded.facilities["多福巷社区综合服务站"]
    body = client.get(f"/hsds/services/{uuid.uuid5(NS, f'service:{fid}')}").json()
    (schedule,) = body["schedules"]
    assert (schedule["freq"], schedule["byday"], schedule["opens_at"], schedule["closes_at"]
            ) == ("WEEKLY", "MO,TU,WE,TH,FR", "08:30", "17:30")
    assert body["phones"][0]["number"] == "010-65120000"
    address = body["service_at_locations"][0]["location"]["addresses"][0]
    assert (address["state_province"], address["city"]) == ("北京市", "东城区")


def test_directory_follows_the_registry(client: TestClient, ctx: Context) -> None:
    def fresh() -> None:
        # A new state makes the next request wait for the check (later checks run beside
        # requests, which would make this test race them).
        client.app.state.directory_state = DirectoryState(interval_s=0.0)  # type: ignore[attr-defined]

    fresh()
    assert client.get("/hsds/services").json()["total_items"] == 6
    with ctx.sessions() as session:
        new = Facility(type_code="library", division_code="110101002001", name="新图书馆",
                       longitude=116.41, latitude=39.93, status="in_service")
        session.add(new)
        session.commit()
        new_id = new.id
    fresh()
    body = client.get("/hsds/services?search=新图书馆").json()
    assert body["contents"][0]["id"] == str(uuid.uuid5(NS, f"service:{new_id}"))
    with ctx.sessions() as session:
        session.delete(session.get(Facility, new_id))
        session.commit()
    fresh()
    assert client.get("/hsds/services").json()["total_items"] == 6
