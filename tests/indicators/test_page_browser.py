"""The planner's page in a real browser on the demo county: targets, charts, map,
drill-down, the language switch, the not-found page, and axe."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.axe import assert_no_serious_axe_violations

pytestmark = pytest.mark.browser

COUNTY = "130123000000"  # the demo county (正定县)


@pytest.fixture(scope="module")
def demo_with_indicators(tmp_path_factory: pytest.TempPathFactory, demo_template: Any
                         ) -> Iterator[tuple[str, pl.DataFrame]]:
    import shutil

    folder = tmp_path_factory.mktemp("indicators-demo")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    run = compute_for_registry(ctx)
    with running_server(ctx) as url:
        yield url, run.status
    ctx.close()


def shown(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"


def test_county_page_shows_targets_map_and_drills_down(
        chromium: Any, demo_with_indicators: tuple[str, pl.DataFrame]) -> None:
    url, status = demo_with_indicators
    page = chromium.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{url}/indicators?indicator=N2")
    assert page.get_by_test_id("division-name").get_attribute("data-code") == COUNTY
    assert page.get_by_test_id("division-name").inner_text().startswith("正定县")

    # the rural coverage row shows the computed value, the national 80% and a status
    n2 = status.filter(pl.col("indicator") == "N2", pl.col("division_code") == COUNTY).row(
        0, named=True)
    row = page.locator('[data-testid="indicator-table"] tr[data-indicator="N2"]')
    assert row.get_by_test_id("value").inner_text() == shown(n2["value"])
    assert "80.00" in row.inner_text()
    assert n2["status"] in ("met", "on_track", "at_risk", "behind")

    # one circle per township on the map, drawn by the locally served Leaflet
    page.wait_for_selector("#indicator-map[data-ready]")
    townships = page.locator('[data-testid="children-table"] tbody tr').count()
    assert townships == 10
    assert page.locator("#indicator-map path.leaflet-interactive").count() == townships
    assert page.get_by_test_id("short-boards").locator("tbody tr").count() >= 1

    # drill down into the first town that has villages below the target
    behind = status.filter(pl.col("indicator") == "N2", pl.col("level") == 4,
                           pl.col("status") == "behind").sort("division_code")
    town = behind["division_code"][0]
    link = page.locator(f'[data-testid="children-table"] tr[data-code="{town}"] a')
    town_name = link.inner_text()
    link.click()
    page.wait_for_load_state()
    assert page.get_by_test_id("division-name").get_attribute("data-code") == town
    villages = status.filter(pl.col("indicator") == "N2", pl.col("level") == 5,
                             pl.col("division_code").str.starts_with(town[:9]))
    assert page.locator('[data-testid="children-table"] tbody tr').count() == len(
        status.filter(pl.col("indicator") == "N1", pl.col("level") == 5,
                      pl.col("division_code").str.starts_with(town[:9])))
    failing = villages.filter(pl.col("value") < 80)
    assert page.get_by_test_id("short-boards").locator("tbody tr").count() == min(
        20, len(failing))
    assert page.get_by_test_id("breadcrumbs").locator("li").all_inner_texts() == [
        "全国", "河北省", "石家庄市", "正定县", town_name]
    page.get_by_test_id("breadcrumbs").get_by_role("link", name="正定县").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("division-name").get_attribute("data-code") == COUNTY
    assert parse_qs(urlsplit(page.url).query)["indicator"] == ["N2"]
    assert failed == []
    page.close()


def test_english_page(chromium: Any, demo_with_indicators: tuple[str, pl.DataFrame]) -> None:
    url, _ = demo_with_indicators
    page = chromium.new_page()
    page.goto(f"{url}/indicators?division={COUNTY}&indicator=N4&lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Indicators against targets").is_visible()
    assert "Comprehensive service facility floor area per 100 households" in page.locator(
        '[data-testid="indicator-table"]').inner_text()
    page.close()


def test_charts_draw_and_the_page_passes_axe(
        chromium: Any, demo_with_indicators: tuple[str, pl.DataFrame]) -> None:
    url, status = demo_with_indicators
    page = chromium.new_page()
    page.goto(f"{url}/indicators?division={COUNTY}&indicator=N2")
    page.wait_for_selector("#indicator-trend[data-chart-drawn] svg")
    page.wait_for_selector("#indicator-ranking[data-chart-drawn] svg")
    page.wait_for_selector("#indicator-map[data-ready]")
    # the ranking draws a bar per township with a value, and the national 80% line
    towns = status.filter(pl.col("indicator") == "N2", pl.col("level") == 4,
                          pl.col("value").is_not_null())
    ranking = page.locator("#indicator-ranking")
    for name in page.locator('[data-testid="children-table"] [data-testid="drill"]'
                             ).all_inner_texts():
        assert ranking.get_by_text(name, exact=True).count() == 1
    assert ranking.get_by_text("目标 80").count() == 1
    # its table: the towns best first, then the streets, which have no villages
    values = sorted(towns["value"].to_list(), reverse=True)
    digits = 1 if values[0] >= 100 else 2
    shown_values = page.locator("#indicator-ranking-table tbody td").all_text_contents()
    assert shown_values == [f"{v:,.{digits}f}" for v in values] + ["—"] * (10 - len(towns))
    assert_no_serious_axe_violations(page)
    page.close()


def test_the_language_switch_keeps_the_division_and_the_indicator(
        chromium: Any, demo_with_indicators: tuple[str, pl.DataFrame]) -> None:
    url, _ = demo_with_indicators
    page = chromium.new_page()
    page.goto(f"{url}/indicators?division={COUNTY}&indicator=N4")
    page.get_by_test_id("language-switch").click()
    page.wait_for_load_state()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"division": [COUNTY], "indicator": ["N4"], "lang": ["en"]}
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_test_id("division-name").get_attribute("data-code") == COUNTY
    assert page.locator('tr[data-indicator="N4"]').get_attribute("class") == "chosen"
    assert "m² per 100 households" in page.locator('tr[data-indicator="N4"]').inner_text()
    assert page.get_by_test_id("breadcrumbs").locator("li").first.inner_text() == "China"
    page.get_by_test_id("language-switch").click()
    page.wait_for_load_state()
    assert parse_qs(urlsplit(page.url).query)["indicator"] == ["N4"]
    assert "平方米/百户" in page.locator('tr[data-indicator="N4"]').inner_text()
    page.close()


def test_an_unknown_division_is_the_not_found_page_in_both_languages(
        chromium: Any, demo_with_indicators: tuple[str, pl.DataFrame]) -> None:
    url, _ = demo_with_indicators
    page = chromium.new_page()
    answer = page.goto(f"{url}/indicators?division=130123999999&indicator=N2&lang=zh-CN")
    assert answer is not None and answer.status == 404
    assert page.get_by_test_id("error-page").get_attribute("data-code") == (
        "indicators.unknown_division")
    assert page.get_by_test_id("error-detail").inner_text() == (
        "没有代码为 130123999999 的现行区划。请从面包屑或下级区划中选择。")
    page.get_by_test_id("language-switch").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("error-detail").inner_text() == (
        "There is no division in force with the code 130123999999. Choose one from the "
        "breadcrumbs or the divisions below.")
    assert page.get_by_role("link", name="Go to the home page").is_visible()
    page.close()


# Codes a Chinese reader must never see: life-circle tiers, levels, snake_case keys.
RAW_CODES = re.compile(r"\b(?:15min|10min|5min|block|village|township|level_\d)\b"
                       r"|[a-z]+_[a-z_]+")


def test_the_chinese_page_shows_no_raw_codes(
        chromium: Any, demo_with_indicators: tuple[str, pl.DataFrame]) -> None:
    url, _ = demo_with_indicators
    page = chromium.new_page()
    for query in (f"division={COUNTY}&indicator=L1", "division=nation&indicator=N1",
                  f"division={COUNTY}&indicator=N7"):
        page.goto(f"{url}/indicators?{query}&lang=zh-CN")
        page.wait_for_selector("#indicator-trend-figure")
        text = page.locator("body").inner_text()
        assert RAW_CODES.findall(text) == [], query
        assert "县级" in text or "division=nation" in query
    page.goto(f"{url}/indicators?division={COUNTY}&lang=zh-CN")
    page.wait_for_selector("#indicator-map[data-ready]")
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == "放大"
    assert page.locator(".leaflet-control-zoom-out").get_attribute("aria-label") == "缩小"
    page.close()
