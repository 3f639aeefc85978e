"""The planner's life-circle page in a real browser: coloured residents, the point query."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_map_shows_communities_and_answers_a_click(chromium: Any, demo_server: str) -> None:
    page = chromium.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(demo_server + "/access?tier=15min&lang=en")
    page.wait_for_selector("#access-map[data-loaded]")
    loaded = int(page.locator("#access-map").get_attribute("data-loaded") or 0)
    rows = page.locator("[data-testid=uncovered-table] tbody tr").count()
    assert loaded > 0 and rows > 0
    assert page.locator("#access-map path.leaflet-interactive").count() == loaded
    assert "residents walk to every required facility" in page.get_by_test_id(
        "summary").inner_text()
    # click a community: the panel lists the 15-minute tier's reached and missing types
    page.locator("#access-map").scroll_into_view_if_needed()
    page.locator("#access-map path.leaflet-interactive").first.click(force=True)
    page.wait_for_selector("#point-result[data-answered]", timeout=15_000)
    text = page.locator("#point-result").inner_text()
    assert "15-minute life circle (1000 m)" in text
    assert "✓" in text or "✗" in text
    assert failed == []  # nothing is fetched from outside
    page.close()


@pytest.fixture
def two_years_server(tmp_path: Path, demo_template: Path) -> Iterator[str]:
    """The demo county with life circles stored for 2019 and 2024, served."""
    from shequ.access.store import compute_region_access
    from shequ.context import Context
    from shequ.settings import Settings
    from tests.conftest import running_server

    shutil.copytree(demo_template, tmp_path / "demo")
    ctx = Context.open(Settings(data_dir=tmp_path / "demo", environment="test"))
    for year in (2019, 2024):
        compute_region_access(ctx, period=year, store=True)
    with running_server(ctx) as url:
        yield url
    ctx.close()


def test_the_year_list_shows_each_years_coverage(chromium: Any, two_years_server: str
                                                 ) -> None:
    """2019, before the demo's second wave of village stations, covers fewer villagers
    than 2024; choosing a year reloads the page for it."""
    page = chromium.new_page()
    page.goto(two_years_server + "/access?tier=village&period=2019&lang=en")
    years = page.locator("[data-testid=year-select] option").all_inner_texts()
    assert {"2019", "2024"} <= set(years)
    assert "facilities of 2019" in page.get_by_test_id("stored").inner_text()
    covered_2019 = page.locator("[data-testid=summary]").inner_text()
    with page.expect_navigation(url="**period=2024*"):
        page.select_option("[data-testid=year-select]", "2024")
    assert "facilities of 2024" in page.get_by_test_id("stored").inner_text()

    def share(text: str) -> float:
        return float(text.rsplit("(", 1)[1].split("%", maxsplit=1)[0])

    assert share(covered_2019) < share(page.get_by_test_id("summary").inner_text())
    page.close()
