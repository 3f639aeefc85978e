"""A missing reporting round on a page is told in the reader's words with a link to the
rounds, never with the API's "GET /api/…" hint; the API answers its callers alike."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from shequ.errors import NotFoundError
from tests.services.test_upkeep_pages import _csrf
from tests.services.test_work import _sign_in


def _detail(page: str) -> str:
    found = re.search(r'<p data-testid="error-detail"[^>]*>([^<]*)</p>', page)
    assert found is not None
    return html.unescape(found.group(1))


def _way_on(page: str) -> tuple[str, str]:
    found = re.search(r'<a href="([^"]*)" data-testid="way-on-list">([^<]*)</a>', page)
    assert found is not None
    return html.unescape(found.group(1)), found.group(2)


def test_a_missing_round_page_says_so_in_words_and_links_the_rounds(
        client: TestClient) -> None:
    _sign_in(client, "officer_dhm")
    for path in ("/reporting/rounds/987654", "/reporting/rounds/987654/forms/110101001001"):
        for lang, detail, words in (
                ("zh-CN", "没有编号为 987654 的填报轮次，可能已被删除或地址有误。"
                          "“数据填报”页列出了您可以打开的轮次。", "数据填报"),
                ("en", "There is no reporting round 987654; it may have been removed or the "
                       "address is wrong. The Reporting rounds page lists the rounds you can "
                       "open.", "Reporting rounds")):
            answer = client.get(path, params={"lang": lang})
            assert answer.status_code == 404, path
            assert 'data-status="404" data-code="reporting.no_round"' in answer.text
            assert _detail(answer.text) == detail
            assert _way_on(answer.text) == ("/reporting", words)
            assert "/api/" not in answer.text.split('data-testid="error-page"', 1)[1]


def test_the_api_tells_a_missing_round_by_its_code(
        client: TestClient, auth: Callable[[str], dict[str, str]]) -> None:
    answer = client.get("/api/v1/reporting/rounds/987654/overview",
                        headers={**auth("officer_dhm"), "Accept-Language": "en"})
    assert answer.status_code == 404
    body = answer.json()
    assert (body["code"], body["detail"]) == (
        "reporting.no_round", "There is no reporting round 987654; it may have been removed "
        "or the address is wrong. The Reporting rounds page lists the rounds you can open.")


def test_an_english_text_with_an_api_hint_never_reaches_a_page(client: TestClient) -> None:
    # A missing record raised without a message of its own is told on a page by its
    # kind's sentence, not by its English text's "GET /api/…" hint.
    def missing() -> None:
        raise NotFoundError("no gadget with id 5; GET /api/v1/gadgets lists them")

    app = client.app
    assert isinstance(app, FastAPI)
    app.add_api_route("/gadgets/5", missing, methods=["GET"])
    for lang, detail in (
            ("zh-CN", "所要的记录不存在，可能已被删除或地址有误。"),
            ("en", "The record asked for does not exist; it may have been removed or the "
                   "address is wrong.")):
        answer = client.get("/gadgets/5", params={"lang": lang})
        assert answer.status_code == 404
        assert _detail(answer.text) == detail
        assert 'data-testid="way-on-list"' not in answer.text


def test_a_missing_form_page_leads_to_the_rounds(client: TestClient) -> None:
    _sign_in(client, "officer_dhm")
    for lang, detail, words in (
            ("zh-CN", "没有编号为 987654 的填报表，可能已被删除或地址有误。"
                      "请在“数据填报”页打开所属轮次，查看其填报表。", "数据填报"),
            ("en", "There is no reporting form 987654; it may have been removed or the address "
                   "is wrong. Open its round from the Reporting rounds page to find its forms.",
             "Reporting rounds")):
        token = _csrf(client.get("/reporting", params={"lang": lang}).text)
        answer = client.post("/reporting/forms/987654/approve", params={"lang": lang},
                             data={"csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 404
        assert 'data-code="reporting.no_form"' in answer.text
        assert _detail(answer.text) == detail
        assert _way_on(answer.text) == ("/reporting", words)
