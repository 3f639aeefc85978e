"""In a real browser (Debian Chromium): a community worker records the year's population
and staffing, is refused an impossible floor area with the reason and nothing changed,
corrects it, adds a facility and uploads a file.  No request leaves localhost."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from shequ.registry import queries
from shequ.registry.models import Facility, Workforce
from tests.web.axe import assert_no_serious_axe_violations

from .conftest import LiveServer
from .test_browser import _context, _login

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_worker_keeps_the_community_current(browser: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    context = _context(browser, live_server, outside)
    page = context.new_page()
    _login(page, live_server, "worker_dfx", "/upkeep")
    assert page.get_by_test_id("community-name").inner_text().startswith("多福巷社区")
    # No population, no workforce, two facilities without floor area.
    assert page.get_by_test_id("gap-count-110101001001").inner_text() == "4"

    year = str(queries.today().year)  # the latest figures count as current
    page.fill("[data-testid=period]", year)
    for name, value in (("residents", "5200"), ("households", "2100"),
                        ("age_60_plus", "1300"), ("age_80_plus", "210")):
        page.fill(f"[data-testid=pop-{name}]", value)
    with page.expect_navigation(url="**/upkeep?*"):
        page.click("[data-testid=save-population]")
    assert page.get_by_test_id("message").inner_text() == "人口数据已保存。"
    assert page.get_by_test_id(f"residents-{year}").inner_text() == "5200"

    page.fill("[data-testid=staff-period]", year)
    page.fill("[data-testid=hc-community_worker-none]", "9")
    page.fill("[data-testid=hc-community_worker-social_worker]", "2")
    with page.expect_navigation(url="**/upkeep?*"):
        page.click("[data-testid=save-workforce]")
    assert page.get_by_test_id("message").inner_text() == "工作力量已保存。"
    assert page.input_value("[data-testid=hc-community_worker-social_worker]") == "2"

    fid = live_server.seeded.facilities["多福巷社区综合服务站"]
    page.fill(f"[data-testid=floor-{fid}]", "420")
    page.fill(f"[data-testid=activity-{fid}]", "500")
    with page.expect_navigation(url=f"**/upkeep/facilities/{fid}#*") as refused:
        page.click(f"[data-testid=save-{fid}]")
    assert refused.value is not None and refused.value.status == 422
    # The reason, in Chinese, beside the activity area; what was typed is still there.
    assert page.locator(f"#f{fid}-activity_area_m2-error").inner_text() == (
        "活动用房面积 500 m² 大于建筑面积 420 m²（活动用房是建筑面积中供居民活动的部分）")
    assert page.get_attribute(f"#f{fid}-activity_area_m2", "aria-invalid") == "true"
    assert page.input_value(f"[data-testid=floor-{fid}]") == "420"
    assert page.input_value(f"[data-testid=activity-{fid}]") == "500"
    assert_no_serious_axe_violations(page)
    with live_server.ctx.sessions() as session:  # nothing was stored
        refused_row = session.get(Facility, fid)
        assert refused_row is not None and refused_row.floor_area_m2 is None
    # The boxes are labelled, as a screen reader reads them.
    page.get_by_label("多福巷社区综合服务站 · 建筑面积（m²）").fill("420")
    page.get_by_label("多福巷社区综合服务站 · 活动用房面积（m²）").fill("300")
    with page.expect_navigation(url="**/upkeep?*"):
        page.click(f"[data-testid=save-{fid}]")
    assert page.get_by_test_id("message").inner_text() == "设施信息已保存。"
    assert page.locator("[data-testid=field-error]").count() == 0
    assert page.input_value(f"[data-testid=floor-{fid}]") == "420"

    page.select_option("[data-testid=new-type]", "community_canteen")
    page.fill("[data-testid=new-name]", "多福巷长者食堂")
    page.fill("[data-testid=new-floor]", "120")
    with page.expect_navigation(url="**/upkeep?*"):
        page.click("[data-testid=add-button]")
    assert page.get_by_test_id("message").inner_text() == "设施已新增。"
    assert "多福巷长者食堂" in page.get_by_test_id("facilities").inner_html()

    page.select_option("[data-testid=import-table]", "population")
    page.set_input_files("[data-testid=import-file]", files=[{
        "name": "多福巷人口.csv", "mimeType": "text/csv",
        "buffer": b"division_code,period,residents,households\n110101001001,2024,5150,2080\n"}])
    with page.expect_navigation(url="**/upkeep?*"):
        page.click("[data-testid=import-button]")
    assert page.get_by_test_id("message").inner_text() == "文件已导入。"
    assert page.get_by_test_id("import-report").inner_text() == "共 1 行：新增 1 行，更新 0 行。"
    assert page.get_by_test_id("residents-2024").inner_text() == "5150"

    link = page.get_by_test_id("download-facilities-110101001001").get_attribute("href")
    download = page.request.get(f"{live_server.url}{link}")
    assert download.status == 200 and "多福巷长者食堂" in download.text()

    # Left: the day-care centre's floor area and the new canteen's opening hours.
    assert page.get_by_test_id("gap-count-110101001001").inner_text() == "2"

    with live_server.ctx.sessions() as session:
        stored = session.get(Facility, fid)
        assert stored is not None
        assert (stored.floor_area_m2, stored.activity_area_m2) == (420.0, 300.0)
        added = session.scalars(select(Facility).where(Facility.name == "多福巷长者食堂")).one()
        assert (added.division_code, added.status) == ("110101001001", "in_service")
        staffing = session.scalars(select(Workforce).where(
            Workforce.division_code == "110101001001").order_by(Workforce.certification))
        assert [(w.period, w.certification, w.headcount) for w in staffing] == [
            (int(year), "none", 9), (int(year), "social_worker", 2)]
    context.close()
    assert outside == []


def test_residents_may_not_open_the_page(browser: Any, live_server: LiveServer) -> None:
    context = _context(browser, live_server, [])
    page = context.new_page()
    _login(page, live_server, "resident1", "/services")
    for path in ("/upkeep", "/work"):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 403
        # The refusal is a page in the reader's language, with a way on.
        assert page.get_by_test_id("error-page").is_visible()
        assert page.locator("h1").inner_text() == "没有权限"
        assert page.get_by_test_id("ways-on").is_visible()
    context.close()
