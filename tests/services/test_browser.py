"""In a real browser (Debian Chromium): a resident finds a service near them, submits a
request, a community worker accepts and closes it from the queue, and the resident sees
it closed and rates it.  No request leaves localhost."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import PASSWORD, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _context(browser: Any, server: LiveServer, outside: list[str]) -> Any:
    context = browser.new_context(locale="zh-CN")

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


def test_resident_request_is_closed_by_a_worker(browser: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    resident_ctx = _context(browser, live_server, outside)
    resident = resident_ctx.new_page()
    _login(resident, live_server, "resident1", "/services")

    # Find services near the default point: the list fills from the HSDS API.
    resident.wait_for_selector("#results[data-loaded]")
    item = resident.locator("li[data-testid=result]", has_text="多福巷社区综合服务站")
    item.get_by_test_id("ask").click()
    resident.wait_for_url("**/services/requests/new*")

    resident.select_option("[data-testid=kind]", "public_repair")
    resident.select_option("[data-testid=attr-public_repair-fixture]", "streetlight")
    resident.fill("[data-testid=description]", "服务站门口路灯不亮")
    with resident.expect_navigation(url="**/services/requests/*"):
        resident.click("[data-testid=submit-request]")
    request_id = resident.get_by_test_id("request-id").inner_text()
    assert resident.get_by_test_id("status").get_attribute("data-status") == "submitted"

    # The community worker of 多福巷 works it from the queue (earliest deadline first).
    worker_ctx = _context(browser, live_server, outside)
    worker = worker_ctx.new_page()
    _login(worker, live_server, "worker_dfx", "/services/queue")
    row = worker.get_by_test_id(f"queue-row-{request_id}")
    assert "服务站门口路灯不亮" in row.inner_text()
    worker.select_option(f"[data-testid=action-{request_id}]", "accept")
    with worker.expect_navigation(url="**/services/queue"):
        worker.click(f"[data-testid=do-{request_id}]")
    worker.select_option(f"[data-testid=action-{request_id}]", "close")
    worker.fill(f"[data-testid=note-{request_id}]", "已更换灯泡")
    with worker.expect_navigation(url="**/services/queue"):
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

    resident_ctx.close()
    worker_ctx.close()
    assert outside == []


def test_open_now_filter_and_english(browser: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    context = _context(browser, live_server, outside)
    page = context.new_page()
    page.goto(f"{live_server.url}/services?lang=en")
    page.wait_for_selector("#results[data-loaded]")
    assert page.locator("h1").inner_text() == "Services near me"
    everything = int(page.locator("#results").get_attribute("data-loaded"))
    assert everything >= 5
    page.evaluate("document.getElementById('results').removeAttribute('data-loaded')")
    page.check("[data-testid=open-now]")
    page.click("[data-testid=search-button]")
    page.wait_for_selector("#results[data-loaded]")
    badges = page.locator("li[data-testid=result] .badge").all_inner_texts()
    assert all(text == "Open" for text in badges)
    context.close()
    assert outside == []
