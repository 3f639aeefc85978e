"""The registry's HTTP API on the demo county: divisions, facilities, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.app import create_app
from shequ.context import Context
from shequ.registry.geodesy import great_circle_m as haversine_m
from shequ.registry.models import Facility
from shequ.settings import Settings


@pytest.fixture
def client(demo_settings: Settings) -> Iterator[tuple[TestClient, Context]]:
    ctx = Context.open(demo_settings)
    with TestClient(create_app(ctx)) as test_client:
        yield test_client, ctx
    ctx.close()


def test_provinces_children_and_tree(client: tuple[TestClient, Context]) -> None:
    http, _ = client
    assert [d["name"] for d in http.get("/api/v1/divisions").json()] == ["河北省"]
    townships = http.get("/api/v1/divisions/130123/children").json()
    assert len(townships) == 10
    assert townships[0] == {**townships[0], "code": "130123001000", "level": 4,
                            "kind": "street", "parent_code": "130123000000"}
    tree = http.get("/api/v1/divisions/130123/tree", params={"depth": 2}).json()
    assert sum(len(t["children"]) for t in tree["children"]) == 187


def test_search_by_name_and_by_code_prefix(client: tuple[TestClient, Context]) -> None:
    http, _ = client
    by_name = http.get("/api/v1/divisions", params={"q": "正定"}).json()
    assert [d["code"] for d in by_name][:2] == ["130123000000", "130123100000"]
    by_code = http.get("/api/v1/divisions", params={"q": "1301231002", "level": 5}).json()
    assert by_code and all(d["code"].startswith("1301231002") for d in by_code)


def test_as_of_a_date_before_the_hierarchy_existed_finds_nothing(
        client: tuple[TestClient, Context]) -> None:
    http, _ = client
    old = http.get("/api/v1/divisions/130123", params={"as_of": "2019-06-30"})
    assert old.status_code == 404
    assert "in force on 2019-06-30" in old.json()["detail"]
    assert http.get("/api/v1/divisions/130123", params={"as_of": "2024-06-30"}).status_code == 200


def test_ancestors_run_from_the_province(client: tuple[TestClient, Context]) -> None:
    http, _ = client
    chain = http.get("/api/v1/divisions/130123001001/ancestors").json()
    assert [d["level"] for d in chain] == [1, 2, 3, 4, 5]


def test_facilities_by_division_and_type(client: tuple[TestClient, Context]) -> None:
    http, ctx = client
    found = http.get("/api/v1/facilities", params={
        "division": "130123001", "type": "comprehensive_service_facility"}).json()
    with ctx.sessions() as session:
        expected = session.scalars(select(Facility.id).where(
            Facility.division_code.startswith("130123001"),
            Facility.type_code == "comprehensive_service_facility").order_by(Facility.id)).all()
    assert [f["id"] for f in found] == list(expected) and expected


def test_facilities_near_a_point_match_a_brute_force_search(
        client: tuple[TestClient, Context]) -> None:
    http, ctx = client
    lon, lat, radius = 114.5709, 38.1464, 800.0
    found = http.get("/api/v1/facilities/near", params={
        "lon": lon, "lat": lat, "radius": radius, "limit": 1000}).json()
    with ctx.sessions() as session:
        truth = sorted((haversine_m(lon, lat, f.longitude, f.latitude), f.id)
                       for f in session.scalars(select(Facility))
                       if f.longitude is not None and f.latitude is not None
                       and haversine_m(lon, lat, f.longitude, f.latitude) <= radius)
    assert [f["id"] for f in found] == [i for _, i in truth]
    assert found[0]["distance_m"] == pytest.approx(truth[0][0])


@pytest.mark.parametrize(("path", "params", "status", "text"), [
    ("/api/v1/divisions/999999", {}, 404, "no division with code 999999000000"),
    ("/api/v1/divisions/12ab", {}, 422, "not a division code"),
    ("/api/v1/facilities", {"type": "spa"}, 422, "unknown facility type 'spa'"),
    ("/api/v1/facilities", {"status": "open"}, 422, "unknown status 'open'"),
    ("/api/v1/facilities/99999999", {}, 404, "no facility with id 99999999"),
])
def test_errors_say_what_is_wrong(client: tuple[TestClient, Context], path: str,
                                  params: dict[str, str], status: int, text: str) -> None:
    http, _ = client
    response = http.get(path, params=params)
    assert response.status_code == status
    assert text in response.json()["detail"]


def test_region_summary_counts_the_demo(client: tuple[TestClient, Context]) -> None:
    http, _ = client
    summary = http.get("/api/v1/region").json()
    assert summary["region_name"] == "正定县" and summary["synthetic"] is True
    assert summary["divisions_by_level"] == {"3": 1, "4": 10, "5": 187}
    assert summary["facilities_by_type"]["comprehensive_service_facility"] >= 33


def test_home_page_in_chinese_and_english(client: tuple[TestClient, Context]) -> None:
    http, _ = client
    zh = http.get("/")
    assert zh.status_code == 200 and "正定县" in zh.text and "合成数据" in zh.text
    assert 'lang="zh-CN"' in zh.text
    en = http.get("/", params={"lang": "en"})
    assert 'lang="en"' in en.text and "synthetic" in en.text and "Facilities by type" in en.text
    assert en.cookies.get("lang") == "en"
    assert "cdn" not in zh.text.lower() and "https://" not in zh.text


def test_openapi_document_lists_the_registry_endpoints(client: tuple[TestClient, Context]
                                                       ) -> None:
    http, _ = client
    paths = http.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/divisions", "/api/v1/divisions/{code}/tree",
                 "/api/v1/facilities/near", "/api/v1/region"):
        assert path in paths


def test_as_of_defaults_to_today_in_china() -> None:
    from shequ.registry.queries import today

    china = dt.timezone(dt.timedelta(hours=8))
    assert today() == dt.datetime.now(china).date()
