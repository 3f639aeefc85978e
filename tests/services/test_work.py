"""The workbench: staff land on it after signing in and see what waits in their
jurisdiction; residents land on the services near them and may not open it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from shequ.context import Context
from shequ.registry.models import Division

from .conftest import PASSWORD


def _sign_in(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert token is not None
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    return str(done.headers["location"])


def _count(html: str, key: str) -> int:
    found = re.search(rf'data-testid="count-{key}">(\d+)<', html)
    assert found is not None, key
    return int(found.group(1))


def test_a_worker_lands_on_the_workbench_with_what_waits(
        client: TestClient, auth: Callable[[str], dict[str, str]]) -> None:
    made = client.post("/api/v1/service-requests", headers=auth("resident1"), json={
        "service_code": "public_repair", "latitude": 39.9156, "longitude": 116.4054,
        "attributes": {"fixture": "path"}})
    assert made.status_code == 201, made.text
    assert _sign_in(client, "worker_dfx") == "/work"
    page = client.get("/work")
    assert page.status_code == 200
    assert "辖区：多福巷社区（110101001001）" in page.text
    assert 'href="/indicators?division=110101001001&amp;lang=zh-CN"' in page.text
    assert "社区工作者" in page.text  # the role, in words
    assert _count(page.text, "requests") == 1
    assert _count(page.text, "bookings") == 0
    # 多福巷 has no population figures yet: one community with gaps, and urgent.
    assert _count(page.text, "records") == 1
    assert "1 个没有人口数据" in page.text
    assert "规划与监测" not in page.text  # the planning links are for planners


def test_planners_see_records_and_planning_residents_go_to_services(
        client: TestClient) -> None:
    assert _sign_in(client, "planner_dc") == "/work"
    page = client.get("/work")
    assert 'data-testid="task-requests"' not in page.text
    assert _count(page.text, "records") == 3  # the three communities of 东城区
    assert "规划与监测" in page.text and 'href="/plan?lang=zh-CN"' in page.text
    assert _count(page.text, "scenarios") == 0  # no draft scenario yet
    assert "指标尚未计算过。" in page.text
    client.cookies.clear()  # a new visitor
    assert _sign_in(client, "resident1") == "/services"
    assert client.get("/work").status_code == 403


def test_the_staff_pages_speak_both_languages(client: TestClient) -> None:
    _sign_in(client, "officer_dhm")
    for lang, heading in (("zh-CN", "数据维护"), ("en", "Keep records current")):
        for path in ("/work", "/upkeep", "/upkeep?code=110101001002"):
            page = client.get(path, params={"lang": lang})
            assert page.status_code == 200, path
            untranslated = re.findall(
                r"(?<![\w/.-])(?:upkeep|work|resident_services)\.[a-z_0-9]+", page.text)
            assert untranslated == [], (lang, path, untranslated)
        assert f"<h1>{heading}</h1>" in client.get("/upkeep", params={"lang": lang}).text


def test_an_officer_finds_a_community_by_name_or_code(client: TestClient) -> None:
    _sign_in(client, "planner_dc")
    found = client.get("/upkeep", params={"q": "银闸"}).text
    assert '<small class="muted">110101001002</small>' in found
    by_code = client.get("/upkeep", params={"q": "1101010020"}).text
    assert '<small class="muted">110101002001</small>' in by_code  # 隆福寺
    outside = client.get("/upkeep", params={"q": "西交民巷"}).text  # in 西城区
    assert "没有名称含“西交民巷”" in outside
    elsewhere = client.get("/upkeep", params={"code": "110102001001"}).text
    # A code outside the jurisdiction is not shown (only the language switch repeats
    # the address asked for).
    assert elsewhere.count("110102001001") == elsewhere.count("code=110102001001") == 1


def test_past_a_thousand_communities_the_gap_count_is_a_floor(
        client: TestClient, ctx: Context) -> None:
    with ctx.sessions.begin() as session:
        session.add_all(Division(
            code=f"110101003{n:03d}", level=5, parent_code="110101003000",
            name=f"测试社区{n}", kind="residents_committee", urban_rural="111",
            valid_from=dt.date(2000, 1, 1), code_source="import", source="test",
            synthetic_geography=True) for n in range(1, 1000))
    _sign_in(client, "planner_dc")  # 东城区: 3 + 999 communities, none with figures
    page = client.get("/work").text
    assert re.search(r'≥ <span data-testid="count-records">1000<', page)


def test_the_administrator_sees_cases_records_and_planning_in_english(
        client: TestClient) -> None:
    assert _sign_in(client, "admin") == "/work"
    page = client.get("/work", params={"lang": "en"}).text
    for key in ("requests", "bookings", "care", "hours", "reviews", "records", "scenarios"):
        assert f'data-testid="task-{key}"' in page, key
    assert "Scenarios not yet adopted" in page and "Workbench" in page
    assert "Planning and monitoring" in page
    assert not re.search(r"[\u4e00-\u9fff]", re.sub(r'data-testid="hello">[^<]*', "", page)
                         .split('<main id="main">')[1].split("</main>")[0])
