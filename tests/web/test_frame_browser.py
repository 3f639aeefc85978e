"""The frame in a real browser with the network cut off from everything but Shequ: the API
reference renders, an unknown page is a page with a way on, the language switch keeps
the page's query, and the layout passes axe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from shequ.context import Context
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.axe import assert_no_serious_axe_violations

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty registry served on localhost."""
    folder = tmp_path_factory.mktemp("frame")
    ctx = Context.open(Settings(data_dir=Path(folder), environment="test"))
    with running_server(ctx) as url:
        yield url
    ctx.close()


@pytest.fixture
def offline(chromium: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page whose every request to another host is cut off (and listed)."""
    context = chromium.new_context()
    elsewhere: list[str] = []

    def only_localhost(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_localhost)
    yield context.new_page(), elsewhere
    context.close()


def test_the_api_reference_renders_with_no_internet(offline: tuple[Any, list[str]],
                                                    server: str) -> None:
    page, elsewhere = offline
    page.goto(server + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Shequ" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".swagger-ui .opblock").count() > 50  # every operation listed
    assert page.locator("main > h1").inner_text() == "接口文档"
    assert elsewhere == []


def test_an_unknown_page_offers_a_way_on_and_passes_axe(offline: tuple[Any, list[str]],
                                                        server: str) -> None:
    page, elsewhere = offline
    answer = page.goto(server + "/nowhere?x=1")
    assert answer is not None and answer.status == 404
    assert page.get_by_test_id("error-detail").inner_text() == (
        "没有这个页面。请检查地址，或从首页继续。")
    assert_no_serious_axe_violations(page)
    page.get_by_test_id("language-switch").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/nowhere"
    assert urlsplit(page.url).query == "x=1&lang=en"
    assert page.get_by_test_id("error-detail").inner_text().startswith("There is no such page")
    page.get_by_role("link", name="Go to the home page").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/"
    assert elsewhere == []


def test_a_page_needing_sign_in_leads_there_and_the_form_keeps_the_username(
        offline: tuple[Any, list[str]], server: str) -> None:
    page, _ = offline
    page.goto(server + "/account/sessions")
    assert urlsplit(page.url).path == "/login"
    page.get_by_label("用户名").fill("nobody")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    assert page.get_by_label("用户名").input_value() == "nobody"
    assert page.get_by_test_id("error-summary").is_visible()
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    assert_no_serious_axe_violations(page)
