"""GET /api/v1/divisions/{code}/boundary and …/children/boundaries on both back-ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from shequ.app import create_app
from shequ.context import Context
from shequ.settings import Settings

from .boundary_fixtures import EAST_TOWN, ON, WEST_TOWN, load_hierarchy


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    ctx = Context.open(settings)
    with ctx.sessions.begin() as session:
        load_hierarchy(session)
    with TestClient(create_app(ctx)) as client:
        yield client
    ctx.close()


def test_a_division_boundary_is_a_geojson_feature(http: TestClient) -> None:
    answer = http.get(f"/api/v1/divisions/{WEST_TOWN}/boundary",
                      params={"as_of": ON.isoformat()})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    body = answer.json()
    assert body["properties"] == {
        "code": WEST_TOWN, "name": "西镇", "level": 4, "parent_code": "130123000000",
        "code_source": "nbs-range", "code_authority": "derived", "scale": "full",
        "synthetic": False, "source": "hand-drawn test boundaries"}
    assert body["geometry"]["type"] == "MultiPolygon"
    assert shapely.equals(shape(body["geometry"]), shapely.box(114.50, 38.00, 114.52, 38.02))
    county = http.get("/api/v1/divisions/130123/boundary",
                      params={"as_of": ON.isoformat(), "scale": "coarse"}).json()
    assert county["properties"]["code_authority"] == "official"
    assert county["properties"]["scale"] == "coarse"


def test_children_boundaries_name_each_child_for_a_choropleth(http: TestClient) -> None:
    body = http.get("/api/v1/divisions/130123/children/boundaries",
                    params={"as_of": ON.isoformat()}).json()
    assert body["type"] == "FeatureCollection"
    assert [(f["properties"]["code"], f["properties"]["name"],
             f["properties"]["code_authority"]) for f in body["features"]] == [
        (WEST_TOWN, "西镇", "derived"), (EAST_TOWN, "东镇", "derived")]
    assert body["without_boundary"] == []
    villages = http.get(f"/api/v1/divisions/{EAST_TOWN}/children/boundaries",
                        params={"as_of": ON.isoformat(), "scale": "fine"}).json()
    assert [f["properties"]["name"] for f in villages["features"]] == ["东南村", "东北村"]


def test_a_division_not_in_force_or_an_unknown_scale_is_refused(
        http: TestClient) -> None:
    answer = http.get("/api/v1/divisions/130123/boundary",
                      params={"as_of": "2019-01-01"})
    assert answer.status_code == 404
    bad_scale = http.get(f"/api/v1/divisions/{WEST_TOWN}/boundary",
                         params={"as_of": ON.isoformat(), "scale": "huge"})
    assert bad_scale.status_code == 422


def test_division_answers_say_whether_the_code_is_official(http: TestClient) -> None:
    county = http.get("/api/v1/divisions/130123", params={"as_of": ON.isoformat()}).json()
    town = http.get(f"/api/v1/divisions/{WEST_TOWN}", params={"as_of": ON.isoformat()}).json()
    assert (county["code_authority"], town["code_authority"]) == ("official", "derived")


def test_the_home_page_says_which_township_codes_are_derived(settings: Settings) -> None:
    from shequ.registry import queries

    ctx = Context.open(settings)
    with ctx.sessions.begin() as session:
        load_hierarchy(session, with_boundaries=False)
        queries.set_meta(session, region_code="130123000000", region_name="正定县")
    with TestClient(create_app(ctx)) as client:
        zh = client.get("/", params={"lang": "zh-CN"}).text
        en = client.get("/", params={"lang": "en"}).text
    ctx.close()
    assert zh.count('data-testid="code-authority">推算</small>') == 2
    assert en.count('data-testid="code-authority">derived</small>') == 2
