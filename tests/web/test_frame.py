"""The frame every page and every JSON answer shares: messages and formats in the reader's
language, RFC 9457 problems on the JSON surfaces, error pages with a way on, the layout's
language switch, and forms that keep what was typed.

Values are written out by hand: Babel's CLDR data for zh_Hans_CN and en_GB, China
Standard Time (UTC+8) for every moment shown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import FormData

from shequ import i18n
from shequ.context import Context
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.services.accounts import Role
from shequ.services.accounts.users import create_user
from shequ.settings import Settings
from shequ.web.forms import failed, typed

PASSWORD = "a-long-test-passphrase-42"


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app over an empty migrated registry (SQLite and PostgreSQL), with one resident
    account and one administrator."""
    from shequ.app import create_app

    ctx = Context.open(Settings(data_dir=tmp_path / "data", environment="test",
                                database_url=db_url))
    with ctx.sessions() as session:
        create_user(session, username="ada", password=PASSWORD, role=Role.RESIDENT,
                    display_name="Ada")
        create_user(session, username="root", password=PASSWORD, role=Role.ADMIN,
                    display_name="管理员甲")
        session.commit()
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    ctx.close()


def sign_in(client: TestClient, username: str) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token.group(1)},
                       follow_redirects=False)
    assert done.status_code == 303


# ---- messages and formats -------------------------------------------------------------

def test_messages_come_from_both_catalogs_with_chinese_as_the_fallback() -> None:
    assert i18n.translate("zh-CN", "common.sign_in") == "登录"
    assert i18n.translate("en", "common.sign_in") == "Sign in"
    assert i18n.translate("en", "no.such_key") == "no.such_key"  # a gap shows itself
    assert i18n.translate("en", "common.page_of", page=2, pages=5) == "Page 2 of 5"
    # a placeholder without a value stays visible instead of failing
    assert i18n.translate("zh-CN", "common.page_of", page=2) == "第 2 页，共 {pages} 页"
    # every key of one language has a text in the other
    assert set(i18n.messages("zh-CN")) == set(i18n.messages("en"))


def test_numbers_and_times_are_the_locales_and_in_china_time() -> None:
    assert i18n.number(1234.5, "zh-CN") == "1,234.5"
    assert i18n.number(3.14159, "en", digits=2) == "3.14"
    assert i18n.percent(0.256, "zh-CN") == "26%"
    moment = dt.datetime(2026, 12, 3, 8, 45, tzinfo=dt.UTC)
    assert i18n.datetime_text(moment, "zh-CN") == "2026年12月3日 16:45:00"
    assert i18n.datetime_text(moment, "en") == "3 Dec 2026, 16:45:00"
    # a naive value is UTC, as stored; 20:30 UTC is the next day in China
    assert i18n.date_text(dt.datetime(2026, 12, 3, 20, 30), "en") == "4 Dec 2026"  # noqa: DTZ001


def test_accept_language_is_weighed() -> None:
    assert i18n.negotiate("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert i18n.negotiate("fr, zh;q=0.5, en;q=0.4") == "zh-CN"
    assert i18n.negotiate("zh-CN;q=0, en;q=0.1") == "en"
    assert i18n.negotiate("fr") is None
    assert i18n.normalise_language("fr") == "zh-CN"


def test_errors_are_said_in_the_readers_language() -> None:
    coded = NotFoundError("gone", code="http_404")
    assert i18n.describe(coded, "zh-CN") == "没有这个页面。请检查地址，或从首页继续。"
    uncoded = NotFoundError("division 130123 is not in the registry")
    assert i18n.describe(uncoded, "en") == "division 130123 is not in the registry"
    assert i18n.describe(uncoded, "zh-CN") == "所要的记录不存在，可能已被删除或地址有误。"
    problem = Problem(source="form", reason="'-5' is negative", row=3, column="x",
                      code="negative", params={"value": "-5"})
    assert i18n.describe_problem(problem, "zh-CN") == "x不能为负数，收到“-5”"
    assert i18n.where(problem, "en") == "row 3, x"


# ---- RFC 9457 on the JSON surfaces ----------------------------------------------------

def test_api_errors_are_problem_documents_in_the_asked_language(client: TestClient) -> None:
    english = client.get("/api/v1/divisions/999999999999")
    assert english.status_code == 404
    assert english.headers["content-type"] == "application/problem+json"
    assert english.headers["content-language"] == "en"
    body = english.json()
    assert body["type"] == "urn:shequ:problem:not_found"
    assert body["title"] == "Not found" and body["status"] == 404
    assert body["instance"] == "/api/v1/divisions/999999999999"
    assert body["code"] == "not_found" and body["error"] == "NotFoundError"
    chinese = client.get("/api/v1/divisions/999999999999",
                         headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert chinese.headers["content-language"] == "zh-CN"
    assert chinese.json()["title"] == "找不到"
    assert chinese.json()["detail"] == "所要的记录不存在，可能已被删除或地址有误。"
    unknown = client.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["code"] == "http_404"


def test_malformed_parameters_are_problems_naming_each_parameter(client: TestClient) -> None:
    response = client.get("/hsds/services?radius=0&per_page=x",
                          headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 422
    body = response.json()
    assert body["title"] == "输入有误"
    assert {(p["source"], p["column"]) for p in body["problems"]} == {
        ("query", "radius"), ("query", "per_page")}
    assert {p["detail"] for p in body["problems"]} == {"请求参数 radius 无效",
                                                       "请求参数 per_page 无效"}


# ---- pages: errors, sign-in, language switch ------------------------------------------

def test_an_unknown_page_is_a_page_in_the_readers_language(client: TestClient) -> None:
    chinese = client.get("/no/such/page")
    assert chinese.status_code == 404
    assert chinese.headers["content-type"].startswith("text/html")
    assert "没有这个页面。请检查地址，或从首页继续。" in chinese.text
    assert '<a href="/">返回首页</a>' in chinese.text
    english = client.get("/no/such/page?lang=en")
    assert "There is no such page." in english.text and 'lang="en"' in english.text


def test_a_page_not_kept_on_a_device_without_signal_leads_to_the_pages_kept(
        client: TestClient) -> None:
    offline = client.get("/offline?lang=en")
    assert offline.status_code == 200
    ways_on = offline.text.split('data-testid="ways-on"')[1].split("</p>")[0]
    assert '<a href="/work">Workbench</a>' in ways_on
    assert '<a href="/offline/outbox">Outbox</a>' in ways_on


def test_with_no_job_yet_the_jobs_page_says_where_jobs_start(client: TestClient) -> None:
    sign_in(client, "root")
    page = client.get("/jobs?lang=en")
    assert page.status_code == 200 and 'data-testid="no-jobs"' in page.text
    assert "uploading a file of more than 5,000 rows" in page.text
    ways_on = page.text.split('data-testid="ways-on"')[1].split("</p>")[0]
    assert re.findall(r'href="([^"?]+)', ways_on) == ["/access", "/plan", "/upkeep"]
    # a staff page: the way back is the workbench, as on the other staff pages
    crumbs = page.text.split('data-testid="breadcrumbs"', 1)[1].split("</nav>")[0]
    assert '<a href="/work">Workbench</a>' in crumbs


def test_a_page_that_needs_sign_in_sends_there_and_back(client: TestClient) -> None:
    first = client.get("/account/sessions?x=1", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/account/sessions%3Fx%3D1"


def test_a_page_refused_to_a_role_says_so_with_a_way_on(client: TestClient) -> None:
    sign_in(client, "ada")
    refused = client.get("/work")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "没有权限" in refused.text and "{" not in refused.text.split("<main")[1]
    assert 'data-testid="ways-on"' in refused.text


def test_the_layout_shows_the_reader_and_switches_language_keeping_the_query(
        client: TestClient) -> None:
    sign_in(client, "root")
    page = client.get("/account/sessions?lang=zh-CN&a=1&b=%E7%A4%BE")
    assert 'data-testid="username">管理员甲</b>' in page.text
    assert "系统管理员" in page.text  # the role, in words
    assert 'data-testid="workbench-link"' in page.text
    switch = re.search(r'<a class="lang-switch" href="([^"]+)"', page.text)
    assert switch and switch.group(1) == "/account/sessions?a=1&amp;b=%E7%A4%BE&amp;lang=en"
    english = client.get("/account/sessions?a=1&b=%E7%A4%BE&lang=en")
    assert "administrator" in english.text and 'lang="en"' in english.text
    assert client.get("/account/sessions").text.count('lang="en"') >= 1  # remembered


def test_the_favicon_is_served(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.content[:4] == b"\x00\x00\x01\x00"


# ---- forms ----------------------------------------------------------------------------

def test_a_failed_form_keeps_every_value_and_puts_each_problem_by_its_field() -> None:
    state = typed(FormData([("name", "活动室"), ("floor_area", "-5"), ("csrf_token", "t"),
                            ("password", "secret"), ("tags", "a"), ("tags", "b")]))
    assert state.values == {"name": "活动室", "floor_area": "-5", "tags": "b"}
    assert state.multi["tags"] == ["a", "b"] and "password" not in state.values
    error = ValidationError([
        Problem(source="form", column="floor_area_m2", reason="'-5' is negative",
                code="negative", params={"value": "-5"}),
        Problem(source="form", reason="the facility is closed", row=None),
    ])
    form = failed(state, error, "zh-CN", fields={"floor_area_m2": "floor_area"})
    # the column is named by its label (fields.floor_area_m2), not by its code
    assert form.errors == {"floor_area": ["建筑面积不能为负数，收到“-5”"]}
    assert form.summary[0] == ("floor_area", "建筑面积不能为负数，收到“-5”")
    # a problem without a field or a code: a sentence, never the English reason
    assert form.summary[1] == (None, "输入有误，请按提示修改。")
    assert form.value("floor_area") == "-5" and form.value("name") == "活动室"
    assert form.chosen("tags", "a") and not form.chosen("tags", "c")


def test_pydantic_refusals_become_problems_by_their_fields() -> None:
    class Booking(pydantic.BaseModel):
        seats: int = pydantic.Field(ge=1)

    with pytest.raises(pydantic.ValidationError) as caught:
        Booking(seats="abc")  # type: ignore[arg-type]
    form = failed(typed({"seats": "abc"}), caught.value, "en")
    assert form.errors == {"seats": ["seats must be a number, not “abc”"]}


def test_the_account_forms_keep_what_was_typed_and_name_each_field(
        client: TestClient) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    too_long = client.post("/login", data={"username": "x" * 300, "password": "",
                                          "csrf_token": token.group(1)})
    assert too_long.status_code == 422
    assert "用户名最多 64 个字符" in too_long.text and "密码不能为空" in too_long.text
    assert 'value="' + "x" * 300 + '"' in too_long.text  # the username is kept
    sign_in(client, "ada")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                     client.get("/account/sessions?lang=en").text)
    assert csrf
    refused = client.post("/account/password", data={
        "csrf_token": csrf.group(1), "current_password": PASSWORD, "new_password": "y" * 201})
    assert refused.status_code == 422
    assert 'id="new_password-error"' in refused.text
    assert "new password takes at most 200 characters" in refused.text
