"""The planner's pages in a real browser (Debian Chromium): a scenario on its map, evaluated
from the page with the wait shown, its changes drawn by ECharts and said in Chinese, the
scenarios compared; the estate review's findings in words.  No request leaves localhost."""

from __future__ import annotations

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

from .county import COUNTY, seed_county, without_facility

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long test password 123"
# Codes that must never reach a reader: snake_case codes, "tier:…", funding codes.
CODE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b|tier:")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The test county served with one planner and one hand-made scenario (SQLite)."""
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
    with running_server(ctx) as url:
        yield url, scenario_id
    ctx.close()


def _main_text(page: Any) -> str:
    return str(page.locator("main").inner_text())


def test_a_planner_evaluates_a_scenario_and_reads_it_in_chinese(
        chromium: Any, served: tuple[str, int]) -> None:
    url, scenario_id = served
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
        chromium: Any, served: tuple[str, int]) -> None:
    url, _ = served
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
