"""The maps with the place in them, in a real browser: the townships' shapes as
choropleths with legends on the home, indicators and access pages; on the indicators'
child map the villages coloured by their status and sized by their residents; on /access
the tier's walking catchments and a community's panel; the streets when zoomed in.

The demo county holds no boundaries, so this test stores synthetic township shapes (each
township's communities' hull, widened) in its own copy of the demo before serving it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from shapely.geometry import MultiPoint

from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.registry.boundaries import as_multipolygon, store_boundaries
from shequ.registry.models import Division, DivisionBoundary
from shequ.settings import Settings
from shequ.web.indicators import STATUS_COLOURS
from tests.conftest import running_server
from tests.web.axe import assert_no_serious_axe_violations

pytestmark = pytest.mark.browser

COUNTY = "130123000000"


@pytest.fixture(scope="module")
def shaped_server(tmp_path_factory: pytest.TempPathFactory, demo_template: Any
                  ) -> Iterator[tuple[str, int, str, pl.DataFrame]]:
    """The demo with a synthetic shape for each township, served; (url, townships, the
    township whose villages hold no shape, the run's statuses)."""
    import shutil

    from sqlalchemy import delete, select

    folder = tmp_path_factory.mktemp("maps-demo")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    with ctx.sessions() as session, session.begin():
        units = session.scalars(select(Division).where(
            Division.code.startswith(COUNTY[:6]), Division.level.in_((4, 5)))).all()
        towns = [u for u in units if u.level == 4 and u.valid_to is None]
        pairs = []
        for town in towns:
            points = [(float(u.longitude), float(u.latitude)) for u in units
                      if u.level == 5 and u.code.startswith(town.code[:9])
                      and u.longitude is not None and u.latitude is not None]
            if points:
                pairs.append((town, as_multipolygon(MultiPoint(points).convex_hull.buffer(0.004))))
        store_boundaries(session, pairs, source="test: communities' hulls", synthetic=True)
        # one township's villages without shapes: the map falls back to circles there
        bare = max(towns, key=lambda t: sum(u.code.startswith(t.code[:9]) for u in units))
        session.execute(delete(DivisionBoundary).where(
            DivisionBoundary.code.startswith(bare.code[:9]), DivisionBoundary.code != bare.code))
    run = compute_for_registry(ctx)  # the indicators the indicator map shows
    with running_server(ctx) as url:
        yield url, len(pairs), bare.code, run.status
    ctx.close()


def _radius(path_d: str) -> float:
    """A Leaflet circle marker's radius from its SVG path ("M x,y a r,r 0 1,0 …")."""
    found = re.search(r"a([\d.]+),([\d.]+)", path_d)
    assert found, path_d
    return float(found[1])


def test_home_map_draws_township_shapes_classed_with_legends(
        chromium: Any, shaped_server: tuple[str, int, str, pl.DataFrame]) -> None:
    url, townships, _, _ = shaped_server
    page = chromium.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(url + "/")
    page.wait_for_selector("#map[data-choropleth]")
    assert int(page.locator("#map").get_attribute("data-choropleth") or 0) == townships
    assert page.locator("#map path.choropleth-shape").count() == townships
    legends = page.locator("#map .map-legend")
    assert legends.count() == 2  # facility kinds, facilities per township
    assert "设施类别" in legends.nth(0).inner_text() or "设施类别" in legends.nth(1).inner_text()
    classes = page.locator("#map .map-legend").filter(has_text="每个乡镇的设施数")
    # quantile classes, light to dark, each a range of counts
    rows = classes.locator(".map-legend-row").all_inner_texts()
    assert 2 <= len(rows) <= 5
    assert all(re.fullmatch(r"\d+ – \d+", row.strip()) for row in rows), rows
    fills = {page.locator("#map path.choropleth-shape").nth(i).get_attribute("fill")
             for i in range(townships)}
    swatches = set(classes.locator(".map-legend-swatch").evaluate_all(
        "els => els.map(e => e.dataset.colour)"))
    assert fills <= swatches and len(fills) >= 2
    assert_no_serious_axe_violations(page)
    assert failed == []
    page.close()


def test_indicator_map_colours_failing_villages_and_sizes_by_residents(
        chromium: Any, shaped_server: tuple[str, int, str, pl.DataFrame]) -> None:
    url, townships, bare, status = shaped_server
    page = chromium.new_page()
    # the county: its townships as shapes in their status colours, with the legend
    page.goto(f"{url}/indicators?division={COUNTY}&indicator=N2")
    page.wait_for_selector("#indicator-map[data-choropleth]")
    assert int(page.locator("#indicator-map").get_attribute("data-choropleth") or 0) == townships
    points = json.loads(page.locator("#indicator-points").inner_text())
    shapes = page.locator("#indicator-map path.choropleth-shape")
    assert {shapes.nth(i).get_attribute("fill") for i in range(shapes.count())} <= {
        p["colour"] for p in points}
    assert page.locator("#indicator-map .map-legend").count() == 1

    # a township whose villages hold no shapes: circles, colour = status, area ∝ residents
    page.goto(f"{url}/indicators?division={bare}&indicator=N2")
    page.wait_for_selector("#indicator-map[data-ready]")
    villages = json.loads(page.locator("#indicator-points").inner_text())
    assert len(villages) >= 5
    assert page.locator("#indicator-map").get_attribute("data-choropleth") is None
    most = max(v["residents"] for v in villages)
    circles = page.locator("#indicator-map path.leaflet-interactive")
    assert circles.count() == len(villages)
    radii = sorted(_radius(circles.nth(i).get_attribute("d") or "")
                   for i in range(circles.count()))
    expected = sorted(4 + 14 * math.sqrt(v["residents"] / most) for v in villages)
    assert radii == pytest.approx(expected, abs=0.51)  # Leaflet draws whole pixels
    legend = page.locator("#indicator-map .map-legend").inner_text()
    assert "常住人口" in legend

    # villages that fail their target are drawn in the failing colour (shapes or circles)
    villages_failing = status.filter(
        (pl.col("division_code").str.slice(9) != "000")
        & pl.col("status").is_in(["behind", "at_risk"]))
    assert villages_failing.height > 0
    pick = villages_failing.group_by("indicator", pl.col("division_code").str.slice(0, 9)
                                     .alias("town")).len().sort("len", descending=True).row(0)
    indicator, town = pick[0], pick[1] + "000"
    page.goto(f"{url}/indicators?division={town}&indicator={indicator}")
    page.wait_for_selector("#indicator-map[data-ready]")
    villages = json.loads(page.locator("#indicator-points").inner_text())
    failing = [v for v in villages if v["state"] in {"behind", "at_risk"}]
    assert failing
    if town == bare:
        drawn = {v["code"]: v["colour"] for v in villages}
        fills = page.locator("#indicator-map path.leaflet-interactive").evaluate_all(
            "els => els.map(e => e.getAttribute('fill'))")
        assert sorted(fills) == sorted(drawn.values())
    else:
        page.wait_for_selector("#indicator-map[data-choropleth]")
        for village in failing:
            shape = page.locator(f"#indicator-map path[data-code='{village['code']}']")
            assert shape.get_attribute("fill") == STATUS_COLOURS[village["state"]]
    legend = page.locator("#indicator-map .map-legend").inner_text()
    for village in failing:
        assert village["status"] in legend
    page.close()


def test_access_map_draws_catchments_shapes_and_a_community_panel(
        chromium: Any, shaped_server: tuple[str, int, str, pl.DataFrame]) -> None:
    url, townships, _, _ = shaped_server
    page = chromium.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(url + "/access?tier=15min&lang=en")
    page.wait_for_selector("#access-map[data-catchments]")
    page.wait_for_selector("#access-map[data-choropleth]")
    assert int(page.locator("#access-map").get_attribute("data-choropleth") or 0) == townships
    required = json.loads(page.locator("#access-tier").inner_text())["required"]
    catchments = int(page.locator("#access-map").get_attribute("data-catchments") or 0)
    assert 1 <= catchments <= len(required)
    assert page.locator("#access-map path.catchment").count() == catchments
    legends = page.locator("#access-map .map-legend").all_inner_texts()
    assert any("walking catchment" in text for text in legends)
    assert any("All residents covered" in text for text in legends)

    # a community with a gap: its panel names what it reaches and what it lacks
    data = json.loads(page.locator("#access-data").inner_text())
    assert any(p["missing"] for p in data["points"])
    names = {r["code"]: r["name"] for r in required}
    page.locator("#access-map path.community.coverage-some, "
                 "#access-map path.community.coverage-none").first.dispatch_event("click")
    panel = page.get_by_test_id("community-panel")
    panel.wait_for(state="visible")
    code = panel.get_attribute("data-code")
    shown = next(p for p in data["points"] if p["code"] == code)
    text = panel.inner_text()
    assert "Reaches" in text and "Lacks" in text and "Indicators" in text
    for missing in shown["missing"]:
        assert f"✗ {names.get(missing, missing)}" in text
    page.wait_for_selector("[data-testid=panel-indicators][data-count]")
    assert int(page.get_by_test_id("panel-indicators").get_attribute("data-count") or 0) >= 1
    # … and what the community's point reaches on foot, as a click anywhere asks
    page.wait_for_selector("#point-result[data-answered]", timeout=60_000)

    # zoomed in, the registry's streets are drawn
    for _ in range(6):
        page.locator("#access-map .leaflet-control-zoom-in").click()
        page.wait_for_timeout(300)
    page.wait_for_selector("#access-map[data-streets]", timeout=15000)
    assert int(page.locator("#access-map").get_attribute("data-streets") or 0) > 0
    assert page.locator("#access-map path.street-line").count() >= 1
    assert_no_serious_axe_violations(page)
    assert failed == []
    page.close()
