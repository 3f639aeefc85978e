"""The home page in a real browser: the region, its facility map, the language switch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.axe import assert_no_serious_axe_violations

pytestmark = pytest.mark.browser


def test_home_page_shows_the_demo_county_and_its_map(chromium: Any, demo_server: str) -> None:
    page = chromium.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(demo_server + "/")
    assert page.get_by_test_id("region-name").inner_text().startswith("正定县")
    assert page.get_by_test_id("count-communities").inner_text() == "187"
    page.wait_for_selector("#map[data-loaded]")
    markers = page.locator("#map path.leaflet-interactive").count()
    loaded = int(page.locator("#map").get_attribute("data-loaded") or 0)
    assert loaded >= 1000 and markers >= loaded
    # a facility's popup names its status in the page's language, never its code
    page.locator("#map path.leaflet-interactive[stroke='#b42318']").first.click(force=True)
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert popup.splitlines()[-1] in {"规划中", "在建", "已验收", "在用", "已关闭"}
    assert page.locator("#map").get_attribute("aria-busy") is None
    assert_no_serious_axe_violations(page)
    assert failed == []  # nothing is fetched from outside: it all comes from Shequ
    page.close()


def test_the_language_switch_turns_the_page_english_and_back(chromium: Any, demo_server: str
                                                             ) -> None:
    page = chromium.new_page()
    page.goto(demo_server + "/")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Facilities by type").is_visible()
    page.goto(demo_server + "/")  # the cookie keeps the choice
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="中文").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.close()
