"""In a real browser (Debian Chromium): a resident finds a service and reports a problem
there, a community worker accepts and closes it from the queue, and the resident sees it
closed and rates it; a resident reports a problem by clicking the map and attaching a PNG
photo, and the worker sees its thumbnail, as Open311 clients see its media_url; the
directory filters and orders by a click on its map.  No request leaves localhost."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.web.axe import assert_no_serious_axe_violations

from .conftest import PASSWORD, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _context(browser: Any, server: LiveServer, outside: list[str], **options: Any) -> Any:
    context = browser.new_context(locale="zh-CN", **options)

    def guard(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    context.set_default_timeout(15_000)
    return context


def _login(page: Any, server: LiveServer, username: str, next_path: str) -> None:
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}{next_path}*")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _loaded(image: Any) -> bool:
    return bool(image.evaluate("(img) => img.complete && img.naturalWidth > 0"))


def test_resident_request_is_closed_by_a_worker(browser: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    resident_ctx = _context(browser, live_server, outside)
    resident = resident_ctx.new_page()
    _login(resident, live_server, "resident1", "/services")

    # The directory lists the services; the station's "report" link chooses it.
    item = resident.locator("li[data-testid=result]", has_text="多福巷社区综合服务站")
    item.get_by_test_id("ask").click()
    resident.wait_for_url("**/services/requests/new*")
    assert resident.locator("#facility_id option:checked").inner_text() == "多福巷社区综合服务站"

    resident.select_option("[data-testid=kind]", "public_repair")
    resident.select_option("[data-testid=attr-public_repair-fixture]", "streetlight")
    resident.fill("[data-testid=description]", "服务站门口路灯不亮")
    with resident.expect_navigation(url="**/services/requests/*"):
        resident.click("[data-testid=submit-request]")
    request_id = resident.get_by_test_id("request-id").inner_text()
    assert resident.get_by_test_id("status").get_attribute("data-status") == "submitted"
    assert resident.get_by_test_id("responsible").inner_text() == "多福巷社区"

    # The community worker of 多福巷 works it from the queue (earliest deadline first).
    worker_ctx = _context(browser, live_server, outside)
    worker = worker_ctx.new_page()
    _login(worker, live_server, "worker_dfx", "/services/queue")
    row = worker.get_by_test_id(f"queue-row-{request_id}")
    assert "服务站门口路灯不亮" in row.inner_text()
    worker.select_option(f"[data-testid=action-{request_id}]", "accept")
    with worker.expect_navigation(url="**/services/queue?*"):
        worker.click(f"[data-testid=do-{request_id}]")
    assert worker.get_by_test_id("message").inner_text() == "已保存。"
    worker.select_option(f"[data-testid=action-{request_id}]", "close")
    worker.fill(f"[data-testid=note-{request_id}]", "已更换灯泡")
    with worker.expect_navigation(url="**/services/queue?*"):
        worker.click(f"[data-testid=do-{request_id}]")
    assert worker.get_by_test_id(f"queue-row-{request_id}").count() == 0

    # The resident sees it closed, with the worker's note, and rates it.
    resident.reload()
    assert resident.get_by_test_id("status").get_attribute("data-status") == "closed"
    assert resident.get_by_test_id("status-notes").inner_text() == "已更换灯泡"
    resident.select_option("[data-testid=rating-select]", "5")
    resident.click("[data-testid=rate-button]")
    resident.wait_for_selector("[data-testid=rating]")
    assert "5 / 5" in resident.get_by_test_id("rating").inner_text()
    assert resident.get_by_test_id("message").inner_text() == "感谢您的评价"

    resident_ctx.close()
    worker_ctx.close()
    assert outside == []


def test_a_problem_placed_on_the_map_with_a_photo_reaches_the_worker_and_open311(
        browser: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    resident_ctx = _context(browser, live_server, outside)
    resident = resident_ctx.new_page()
    _login(resident, live_server, "resident1", "/services/requests/new")
    assert_no_serious_axe_violations(resident)
    assert resident.get_by_test_id("latitude").input_value() == ""

    # A click in the middle of the map drops the pin there: the middle of the seeded
    # facilities, nearest to 多福巷社区, whose worker handles a repair.
    resident.select_option("[data-testid=kind]", "public_repair")
    resident.click("#report-map")
    resident.wait_for_selector("#handling[data-loaded]")
    lat = float(resident.get_by_test_id("latitude").input_value())
    lon = float(resident.get_by_test_id("longitude").input_value())
    assert abs(lat - 39.9181) < 0.001 and abs(lon - 116.4049) < 0.001
    handling = resident.locator("#handling-lines").inner_text()
    assert handling.startswith(
        "标注的位置离多福巷社区最近，“公共空间维修”由社区一级承办：多福巷社区。")
    assert "逾期未办结的，转由东华门街道督办。" in handling
    # The facilities nearest the pin are offered, none chosen.
    assert resident.locator("#facility_id option").count() >= 2
    assert resident.locator("#facility_id").input_value() == ""

    resident.select_option("[data-testid=attr-public_repair-fixture]", "path")
    resident.fill("[data-testid=description]", "人行道地砖翘起")
    resident.set_input_files("[data-testid=photos]", files=[
        {"name": "path.png", "mimeType": "image/png", "buffer": _png()}])
    with resident.expect_navigation(url="**/services/requests/*"):
        resident.click("[data-testid=submit-request]")
    request_id = resident.get_by_test_id("request-id").inner_text()
    assert resident.get_by_test_id("message").inner_text() == "诉求已提交，承办单位会按时限办理。"
    mine = resident.locator("img[data-testid=thumbnail]")
    assert mine.count() == 1 and _loaded(mine.first)

    # The worker of 多福巷 sees the thumbnail in the queue; it links to the whole photo.
    worker_ctx = _context(browser, live_server, outside)
    worker = worker_ctx.new_page()
    _login(worker, live_server, "worker_dfx", "/services/queue")
    thumbnail = worker.get_by_test_id(f"queue-row-{request_id}").locator(
        "img[data-testid=thumbnail]")
    assert thumbnail.count() == 1 and _loaded(thumbnail)
    full = worker.get_by_test_id(f"queue-row-{request_id}").locator(
        "a[data-testid=photo-link]").get_attribute("href")
    assert full is not None and re.fullmatch(
        rf"{re.escape(live_server.url)}/media/requests/[A-Za-z0-9_-]{{32}}\.jpg", full)

    # Open311 gives the photo as the request's media_url, and the georeport client reads it.
    record = httpx.get(f"{live_server.url}/open311/v2/requests/{request_id}.json").json()[0]
    assert record["media_url"] == full
    from georeport import GeoReport

    client = GeoReport(f"{live_server.url}/open311/v2", output_format="json")
    one: Any = client.get_service_request(request_id)
    assert one["media_url"] == full
    photo = httpx.get(full)
    assert photo.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(photo.content)).size == (64, 48)

    resident_ctx.close()
    worker_ctx.close()
    assert outside == []


def test_the_directory_orders_by_a_click_and_filters_in_english(
        browser: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    context = _context(browser, live_server, outside)
    page = context.new_page()
    page.goto(f"{live_server.url}/services?lang=en")
    assert page.locator("h1").inner_text() == "Find a service"
    page.wait_for_selector("#services-map[data-loaded]")
    assert page.locator("#services-map").get_attribute("data-loaded") == "5"
    assert page.get_by_test_id("result-count").inner_text() == "1–5 of 5"
    assert_no_serious_axe_violations(page)

    # A click on the map orders the list from there: distances appear, nearest first.
    with page.expect_navigation(url="**/services?*lat=*"):
        page.click("#services-map")
    distances = page.locator("[data-testid=distance]").all_inner_texts()
    assert len(distances) == 5
    metres = [float(re.sub(r"[^\d.]", "", d)) * (1000 if "km" in d else 1) for d in distances]
    assert metres == sorted(metres)
    assert page.get_by_test_id("clear-point").is_visible()

    # Open now and a kind, kept with the point.
    page.check("[data-testid=open-now]")
    page.select_option("[data-testid=category]", "comprehensive_service_facility")
    with page.expect_navigation():
        page.click("[data-testid=search-button]")
    badges = page.locator("li[data-testid=result] .badge").all_inner_texts()
    assert all(text == "Open" for text in badges)
    names = page.locator("[data-testid=result-name]").all_inner_texts()
    # 西交民巷's station is open round the clock; 多福巷's only on weekdays by day.
    assert "西交民巷社区综合服务站" in names
    assert "lat=" in page.url
    context.close()
    assert outside == []


def test_use_my_location_orders_the_directory_and_places_the_report(
        browser: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    context = _context(browser, live_server, outside, permissions=["geolocation"],
                       geolocation={"latitude": 39.9301, "longitude": 116.4121})
    page = context.new_page()
    # The browser stands at 隆福寺图书分馆: it comes first, 0 m away.
    page.goto(f"{live_server.url}/services")
    with page.expect_navigation(url="**/services?*lat=39.93010*"):
        page.click("[data-testid=use-my-location]")
    assert page.locator("[data-testid=result-name]").first.inner_text() == "隆福寺图书分馆"
    assert page.locator("[data-testid=distance]").first.inner_text() == "· 0 米"

    # On the report form the same button drops the pin there: 隆福寺社区 handles it.
    _login(page, live_server, "resident1", "/services/requests/new")
    page.select_option("[data-testid=kind]", "public_repair")
    page.click("[data-testid=use-my-location]")
    page.wait_for_selector("#handling[data-loaded]")
    assert page.get_by_test_id("latitude").input_value() == "39.930100"
    assert page.locator("#handling-lines").inner_text().startswith("标注的位置离隆福寺社区最近")
    context.close()
    assert outside == []
