"""The planner's life-circle page in a real browser: coloured residents, the point query."""

from __future__ import annotations

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
