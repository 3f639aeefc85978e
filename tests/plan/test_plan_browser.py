"""The planner's pages in a real browser (Debian Chromium): a scenario on its map, evaluated
from the page with the wait shown, its changes drawn by ECharts and said in Chinese, the
scenarios compared; the estate review's findings in words.  No request leaves localhost."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from shequ.context import Context
from shequ.plan.scenarios import ChangeInput, create_scenario
from shequ.registry import queries
from shequ.services.accounts.passwords import hash_password
from shequ.services.accounts.users import create_user
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.axe import assert_no_serious_axe_violations

from .county import COUNTY, seed_county, village_codes, without_facility

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long test password 123"
# Codes that must never reach a reader: snake_case codes, "tier:…", funding codes.
CODE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b|tier:")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """The test county served with one planner, one hand-made scenario and one made as a
    p-median would be (SQLite): their ids."""
    ctx = Context.open(Settings(data_dir=tmp_path / "data", environment="test"))
    seed_county(ctx.sessions)
    with ctx.sessions.begin() as session:
        create_user(session, username="planner", password_hash=hash_password(PASSWORD),
                    role="county_planner", jurisdiction_code=COUNTY)
        village = queries.division(session, without_facility()[0])
        code, longitude, latitude = village.code, village.longitude, village.latitude
        scenario = create_scenario(
            session, name="一处新中心", division_code=COUNTY, description=None,
            changes=[ChangeInput(action="new", type_code="comprehensive_service_facility",
                                 division_code=code, name="新建综合服务站",
                                 longitude=longitude, latitude=latitude, cost_cny=900000,
                                 funding_source="special_bonds")],
            catalog_types=list(ctx.catalog.facility_types))
        scenario_id = scenario.id
        # p-median with an unserved distance of 420 m: one site between villages 1 and 6
        # (tests/plan/test_planning_service.py works its coverage out by hand)
        modelled = create_scenario(
            session, name="中位选址", division_code=COUNTY, description=None,
            changes=[ChangeInput(action="new", type_code="comprehensive_service_facility",
                                 division_code=village_codes()[0], name="两村之间",
                                 longitude=120.0, latitude=30.002, cost_cny=900000)],
            catalog_types=list(ctx.catalog.facility_types))
        modelled.model = "pmedian"
        modelled.parameters = json.dumps({"area": "rural",
                                          "summary": {"unserved_distance": 420.0}})
        session.flush()
        pmedian_id = modelled.id
    with running_server(ctx) as url:
        yield url, scenario_id, pmedian_id
    ctx.close()


def _main_text(page: Any) -> str:
    return str(page.locator("main").inner_text())


def test_a_planner_evaluates_a_scenario_and_reads_it_in_chinese(
        chromium: Any, served: tuple[str, int, int]) -> None:
    url, scenario_id, _ = served
    outside: list[str] = []
    page = chromium.new_page(locale="zh-CN")
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    target = f"/plan?scenario={scenario_id}"
    page.goto(f"{url}/login?next={quote(target)}")
    page.fill("input[name=username]", "planner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{target}")
    # The map loads from the API; while it does, the page says so.
    page.wait_for_selector("#counts .stat >> nth=2")
    assert page.get_by_test_id("map-status").inner_text() == ""
    assert page.locator("#map").get_attribute("aria-busy") is None
    assert "尚未评估" in page.get_by_test_id("headlines").inner_text()
    assert "地方政府专项债券" in page.get_by_test_id("cost").inner_text()
    assert "新建 1 处" in _main_text(page)

    help_text = page.get_by_test_id("evaluate-help").inner_text()
    assert "数秒" in help_text and "正在处理" in help_text
    # Whether the form marked itself busy as it was sent (kept across the navigation).
    page.evaluate("""document.addEventListener("submit", (event) => sessionStorage.setItem(
        "busy", event.target.getAttribute("aria-busy")))""")
    with page.expect_navigation(url=f"**/plan?scenario={scenario_id}&job=*", timeout=60000):
        page.click("[data-testid=evaluate-button]")
    assert page.evaluate("sessionStorage.getItem('busy')") == "true"
    # The evaluation is a job: the page follows it and is drawn again when it is done.
    page.wait_for_selector("[data-testid=job-status][data-status=done]", timeout=120000)
    assert page.get_by_test_id("job-status").inner_text() == "已完成"
    headlines = page.get_by_test_id("headlines").inner_text()
    assert "→" in headlines and "Test county" in headlines
    page.wait_for_selector("#scenario-before-after svg")
    assert page.locator("#scenario-before-after").get_attribute("data-chart-drawn") == (
        "comparison")
    text = _main_text(page)
    assert CODE.findall(text) == []
    assert "县级" in text  # levels in words
    assert_no_serious_axe_violations(page)

    page.goto(f"{url}/plan")
    page.wait_for_selector("#scenario-comparison svg")
    assert "各方案带来的指标变化" in _main_text(page)
    assert_no_serious_axe_violations(page)
    page.close()
    assert outside == []


def test_the_estate_review_names_what_is_missing_in_words(
        chromium: Any, served: tuple[str, int, int]) -> None:
    url, _, _ = served
    page = chromium.new_page(locale="zh-CN")
    page.goto(f"{url}/plan/estate")
    for name, value in (("households", "1000"), ("residents", "2600"),
                        ("total_floor_area_m2", "100000"), ("commercial_floor_area_m2", "9000"),
                        ("service_floor_area_m2", "250"), ("activity_area_m2", "150"),
                        ("longitude", "120.0"), ("latitude", "30.0")):
        page.fill(f"#{name}", value)
    with page.expect_navigation():
        page.click("[data-testid=estate-review]")
    assert "不通过" in page.get_by_test_id("verdict").inner_text()
    findings = page.get_by_test_id("findings").inner_text()
    assert "差 50.0 平方米" in findings and "十分钟生活圈" in findings
    assert CODE.findall(_main_text(page)) == []
    assert_no_serious_axe_violations(page)

    page.fill("#households", "-3")
    with page.expect_navigation():
        page.click("[data-testid=estate-review]")
    assert page.locator("#households-error").inner_text() == "户数不能为负数，收到“-3”"
    assert page.input_value("#households") == "-3"
    page.close()


def test_a_p_median_map_colours_its_dots_by_the_rule_of_its_lines(
        chromium: Any, served: tuple[str, int, int]) -> None:
    """Within the 420 m of the p-median scenario, 28 villages are covered before it,
    village 6 is newly covered by the one site (its only line) and village 21 stays
    uncovered: the dots, the line, the site's row and the counts say the same."""
    url, _, scenario_id = served
    page = chromium.new_page(locale="zh-CN")
    target = f"/plan?scenario={scenario_id}"
    page.goto(f"{url}/login?next={quote(target)}")
    page.fill("input[name=username]", "planner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{target}")
    page.wait_for_selector("#counts .stat >> nth=2")
    values = [v.inner_text() for v in page.locator("#counts .stat .value").all()]
    assert values == ["28", "1", "1"]
    dots = page.locator("#map path.leaflet-interactive")
    strokes = [d.get_attribute("stroke") for d in dots.all()]
    assert (strokes.count("#2f855a"), strokes.count("#1d6fb8"),
            strokes.count("#c53030")) == (28, 1, 1)
    assert page.locator("path.coverage-line").count() == 1
    row = page.locator("[data-testid=site-coverage] tbody tr")
    assert row.count() == 1
    assert row.first.locator("td").nth(1).inner_text() == "1"
    newly = page.locator("#counts .stat .label").nth(1).inner_text()
    residents = row.first.locator("td").nth(2).inner_text()
    assert newly == f"新覆盖 · 常住人口 {residents}"
    assert "420 米直线距离内最近的设施" in page.get_by_test_id("coverage-rule").inner_text()
    page.close()
