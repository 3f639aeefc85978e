"""The life-circle and home pages before anything is loaded, and the life-circle page's
answer to a division it does not know: pages in the reader's language, never JSON."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shequ.app import create_app
from shequ.context import Context
from shequ.settings import Settings
from tests.indicators.test_page import visible


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    ctx = Context.open(settings)
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    ctx.close()


def test_an_empty_registry_says_what_is_missing(client: TestClient) -> None:
    page = client.get("/access", params={"lang": "zh-CN"})
    assert page.status_code == 200
    text = visible(page.text)
    assert "尚无生活圈结果：登记库中还没有街道网络或带代表点的社区（村）" in text
    assert "生活圈可达性 · 全国" in text
    assert "access-map.js" not in page.text  # no map to draw
    home = client.get("/", params={"lang": "en"})
    assert "An administrator can build the demo county" in visible(home.text)


@pytest.mark.parametrize(("lang", "words"), [
    ("zh-CN", "没有代码为 110101999999 的现行区划。请从面包屑或下级区划列表中选择。"),
    ("en", "There is no division in force with the code 110101999999. Choose one from the "
           "breadcrumbs or the list of divisions below."),
])
def test_an_unknown_division_is_the_not_found_page(client: TestClient, lang: str,
                                                   words: str) -> None:
    page = client.get("/access", params={"division": "110101999999", "lang": lang})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert f'lang="{lang}"' in page.text
    assert words in visible(page.text)
