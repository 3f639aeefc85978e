"""The planner's life-circle page in a real browser: coloured residents, the point query
and the wait for its first answer, the division's breadcrumbs and those below it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.axe import assert_no_serious_axe_violations

pytestmark = pytest.mark.browser

COUNTY = "130123000000"  # the demo county (正定县)

# Every text the point panel shows and every time it is marked busy, in order.
WATCH_PANEL = """
window.__panel = [];
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("point-result");
  if (!box) return;
  new MutationObserver(() => window.__panel.push(
    [box.getAttribute("aria-busy"), box.innerText])).observe(
    box, {attributes: true, childList: true, subtree: true, characterData: true});
});
"""


# The centre of every community circle inside the window: its code, what element lies on
# top there (its community's code when it is the circle itself) and whether a legend's
# card covers the point.
CENTRES = """
() => {
  const legends = Array.from(document.querySelectorAll('#access-map .map-legend'))
    .map((l) => l.getBoundingClientRect());
  return Array.from(document.querySelectorAll('#access-map path.community')).map((c) => {
    const b = c.getBoundingClientRect();
    const x = b.left + b.width / 2, y = b.top + b.height / 2;
    const top = document.elementFromPoint(x, y);
    return { code: c.dataset.code, x: x, y: y,
             top: top && top.classList.contains('community') ? top.dataset.code
                  : (top ? top.tagName + '.' + (top.getAttribute('class') || '') : null),
             under_legend: legends.some((r) => x >= r.left && x <= r.right
                                                && y >= r.top && y <= r.bottom) };
  }).filter((c) => c.y < window.innerHeight && c.x < window.innerWidth);
}
"""


def test_map_shows_communities_and_answers_a_click(chromium: Any, demo_server: str) -> None:
    page = chromium.new_page()
    page.add_init_script(WATCH_PANEL)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    # the first answer walks the county's life circles (nothing stored): minutes when loaded
    page.goto(demo_server + "/access?tier=15min&lang=en", timeout=180_000)
    assert page.get_by_test_id("breadcrumbs").locator("li").all_inner_texts() == [
        "China", "河北省", "石家庄市", "正定县"]
    page.wait_for_selector("#access-map[data-loaded]")
    loaded = int(page.locator("#access-map").get_attribute("data-loaded") or 0)
    rows = page.locator("[data-testid=uncovered-table] tbody tr").count()
    assert loaded > 0 and rows > 0
    assert page.locator("#access-map path.community").count() == loaded
    assert "residents walk to every required facility" in page.get_by_test_id(
        "summary").inner_text()
    # click a community: the panel lists the 15-minute tier's reached and missing types.
    # Everything is drawn first (catchments, shapes, their legends), then a real pointer
    # click lands at the centre of a circle that a legend lies over: legends let clicks
    # through, and nothing else swallows one at any circle's centre.
    page.wait_for_selector("#access-map[data-catchments][data-choropleth]", timeout=180_000)
    page.locator("#access-map").scroll_into_view_if_needed()
    centres = page.evaluate(CENTRES)
    assert len(centres) == loaded
    assert [c for c in centres if c["top"] != c["code"]] == []
    under = [c for c in centres if c["under_legend"]]
    assert under, "no community lies under a legend: the click below proves nothing"
    page.mouse.click(under[0]["x"], under[0]["y"])
    page.wait_for_selector(f"#community-panel[data-code='{under[0]['code']}']")
    assert page.locator("#community-panel").is_visible()
    # The answer may sit in the community panel's folded part: present, not necessarily
    # visible.
    page.wait_for_selector("#point-result[data-answered]", state="attached", timeout=60_000)
    text = page.locator("#point-result").inner_text()
    assert "15-minute life circle (1000 m)" in text
    assert "✓" in text or "✗" in text
    # while the answer was coming the panel said so at once and was marked busy
    seen = page.evaluate("window.__panel")
    asking = ("Finding what is within a walk of this point… the first question loads the "
              "street network and takes a few seconds.")
    assert [None, asking] in seen or ["true", asking] in seen
    assert any(busy == "true" for busy, _ in seen)
    assert page.locator("#point-result").get_attribute("aria-busy") is None
    assert_no_serious_axe_violations(page)
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


def test_a_township_below_shows_its_own_communities_in_chinese(chromium: Any,
                                                                demo_server: str) -> None:
    page = chromium.new_page()
    page.goto(demo_server + f"/access?division={COUNTY}&tier=village&lang=zh-CN")
    link = page.get_by_test_id("children").get_by_role("link", name="镇").first  # has villages
    town, code = link.inner_text(), link.get_attribute("data-code") or ""
    link.click()
    page.wait_for_load_state()
    assert page.get_by_test_id("division-name").get_attribute("data-code") == code
    assert page.get_by_test_id("breadcrumbs").locator("li").all_inner_texts() == [
        "全国", "河北省", "石家庄市", "正定县", town]
    assert page.locator("[data-testid=tier-select] option:checked").inner_text() == (
        "村/组层级（1200 米）")
    codes = page.locator("[data-testid=uncovered-table] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.code)")
    assert codes and all(c.startswith(code[:9]) for c in codes)
    page.wait_for_selector("#access-map[data-loaded]")
    text = page.locator("body").inner_text()
    for raw in ("15min", "10min", "village", "township", "level_", "_"):
        assert raw not in text
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == "放大"
    page.close()


def test_an_unknown_division_is_the_not_found_page(chromium: Any, demo_server: str) -> None:
    page = chromium.new_page()
    answer = page.goto(demo_server + "/access?division=130123999999&lang=en")
    assert answer is not None and answer.status == 404
    assert page.get_by_test_id("error-detail").inner_text().startswith(
        "There is no division in force with the code 130123999999.")
    page.close()


@pytest.fixture
def planner_server(tmp_path: Path, demo_template: Path) -> Iterator[str]:
    """The demo county with its demo accounts, served (it is written to)."""
    from shequ.context import Context
    from shequ.services.accounts.demo import ensure_demo_accounts
    from shequ.settings import Settings
    from tests.conftest import running_server

    shutil.copytree(demo_template, tmp_path / "demo")
    ctx = Context.open(Settings(data_dir=tmp_path / "demo", environment="test"))
    with ctx.sessions.begin() as session:
        ensure_demo_accounts(session, county_code=COUNTY, environment="test")
    with running_server(ctx) as url:
        yield url
    ctx.close()


def test_a_planner_recomputes_and_watches_the_job(chromium: Any, planner_server: str
                                                  ) -> None:
    """As demo_planner: the recompute button starts the life circles as a job, the page
    shows its bar, then draws itself again with the figures stored."""
    from shequ.services.accounts.users import DEMO_PASSWORD

    page = chromium.new_page(locale="zh-CN")
    page.goto(f"{planner_server}/login?next=/access", timeout=180_000)
    page.fill("input[name=username]", "demo_planner")
    page.fill("input[name=password]", DEMO_PASSWORD)
    with page.expect_navigation(timeout=180_000):
        page.click("button[type=submit]")
    assert page.get_by_test_id("stored").inner_text().startswith("尚未保存结果")
    with page.expect_navigation(url="**/access?*job=*", timeout=180_000):
        page.click("[data-testid=recompute-button]")
    page.wait_for_selector("[data-testid=job]")
    assert page.locator("[data-testid=job-progress]").count() == 1
    page.wait_for_selector("[data-testid=job-status][data-status=done]", timeout=300_000)
    assert page.get_by_test_id("job-status").inner_text() == "已完成"
    assert page.get_by_test_id("stored").inner_text().startswith("按 ")
    assert "已保存，供指标使用" in page.get_by_test_id("stored").inner_text()
    page.wait_for_selector("#access-map[data-loaded]")
    assert_no_serious_axe_violations(page)
    page.close()
