"""The planner's page in a real browser on the demo county: targets, map, drill-down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.settings import Settings
from tests.conftest import running_server

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
    page.locator(f'[data-testid="children-table"] tr[data-code="{town}"] a').click()
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
    assert page.get_by_test_id("crumb").last.inner_text() == "正定县"
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
