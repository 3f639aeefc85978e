"""The violations over HTTP: the JSON list (pages, filters, messages in the reader's
language, jurisdiction), the XLSX download, the rules in force, and the page with its
filters drawn again beside a wrong field."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from shequ.context import Context
from shequ.services.bookings.clock import local_now
from shequ.services.reporting.models import ReportingRound
from shequ.services.reporting.validation import check_submission, record_violations
from tests.services.conftest import PASSWORD

UNIT, OTHER, WEST = "110101001001", "110101001002", "110102001001"
GOOD = {"residents": 1000.0, "households": 400.0, "age_60_plus": 250.0, "age_80_plus": 40.0,
        "disabled": 15.0, "assisted_households": 8.0}
Auth = Callable[[str], dict[str, str]]


@pytest.fixture
def round_id(ctx: Context) -> int:
    """A 2025 round with 4 violations: 2 errors in UNIT and OTHER each (1 + 1), 1 in WEST."""
    with ctx.sessions() as session:
        round_ = ReportingRound(name="2025年度填报", period=2025, frequency="annual",
                                opens_on=local_now().date(), due_on=local_now().date(),
                                created_at=local_now())
        session.add(round_)
        session.flush()
        for code, figures in ((UNIT, {**GOOD, "age_60_plus": 1200.0}),
                              (OTHER, {**GOOD, "age_80_plus": 300.0}),
                              (WEST, {**GOOD, "disabled": 2000.0})):
            record_violations(session, round_.id, code,
                              check_submission(session, round_.id, code, figures, {}))
        session.commit()
        return round_.id


def test_the_list_pages_in_code_order_with_messages_in_the_readers_language(
        client: TestClient, auth: Auth, round_id: int) -> None:
    first = client.get(f"/api/v1/reporting/rounds/{round_id}/violations?limit=2&lang=en",
                       headers=auth("admin"))
    assert first.status_code == 200
    body = first.json()
    assert [(i["division_code"], i["rule_code"]) for i in body["items"]] == [
        (UNIT, "elderly_within_residents"), (OTHER, "oldest_within_elderly")]
    assert body["items"][0]["message"] == (
        "Residents aged 60 and over (1,200) cannot exceed the resident population (1,000).")
    assert body["items"][0]["form"] == f"/reporting/rounds/{round_id}/forms/{UNIT}"
    rest = client.get(f"/api/v1/reporting/rounds/{round_id}/violations",
                      params={"limit": 2, "after": body["next"], "lang": "zh-CN"},
                      headers=auth("admin")).json()
    assert [i["division_code"] for i in rest["items"]] == [WEST]
    assert rest["next"] is None
    assert rest["items"][0]["message"] == "残疾人数（2,000）不能多于常住人口（1,000）。"


def test_filters_and_the_jurisdiction(client: TestClient, auth: Auth, round_id: int) -> None:
    url = f"/api/v1/reporting/rounds/{round_id}/violations"
    officer = client.get(url, headers=auth("officer_dhm")).json()
    assert {i["division_code"] for i in officer["items"]} == {UNIT, OTHER}
    by_rule = client.get(url, params={"rule": "disabled_within_residents"},
                         headers=auth("admin")).json()
    assert [i["division_code"] for i in by_rule["items"]] == [WEST]
    assert client.get(url, params={"importance": "warning"},
                      headers=auth("admin")).json()["items"] == []
    assert client.get(url, params={"under": "110102000000"},
                      headers=auth("officer_dhm")).status_code == 404
    assert client.get(url, headers=auth("resident1")).status_code == 403
    assert client.get(url, params={"importance": "fatal"},
                      headers=auth("admin")).status_code == 422
    assert client.get(url, params={"after": "garbage"},
                      headers=auth("admin")).status_code == 422
    assert client.get("/api/v1/reporting/rounds/999/violations",
                      headers=auth("admin")).status_code == 404


def test_the_xlsx_holds_the_whole_filtered_list(client: TestClient, auth: Auth,
                                                round_id: int) -> None:
    answer = client.get(f"/api/v1/reporting/rounds/{round_id}/violations.xlsx",
                        params={"under": "110101000000", "lang": "en"},
                        headers=auth("admin"))
    assert answer.status_code == 200
    rows = list(load_workbook(io.BytesIO(answer.content)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [UNIT, OTHER]


def test_the_rules_in_force_in_the_readers_language(client: TestClient) -> None:
    rules = {r["code"]: r for r in client.get("/api/v1/reporting/rules?lang=en").json()}
    assert rules["residents_growth"]["right"] == "residents * 1.2"
    assert rules["residents_growth"]["right_period"] == "previous"
    assert rules["residents_outlier"]["method"] == "modified_z"
    assert rules["elderly_within_residents"]["message"].startswith("Residents aged 60")


def sign_in(client: TestClient, username: str) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303


def test_the_page_lists_links_to_forms_and_redraws_a_wrong_filter(
        client: TestClient, round_id: int) -> None:
    sign_in(client, "officer_dhm")
    page = client.get("/reporting/violations?lang=en")
    assert page.status_code == 200
    assert page.text.count('data-testid="violation"') == 2
    assert f'href="/reporting/rounds/{round_id}/forms/{UNIT}"' in page.text
    assert "cannot exceed the resident population (1,000)" in page.text
    assert f"/api/v1/reporting/rounds/{round_id}/violations.xlsx" in page.text
    # Rules and units by name: the filter's choices and the rows, not their codes.
    assert (">Residents aged 60 and over cannot exceed the resident population</option>"
            in page.text)
    assert ">elderly_within_residents<" not in page.text
    assert re.search(r"<td>\s*多福巷社区\s*<span class=\"muted\">" + UNIT, page.text)
    chinese = client.get("/reporting/violations?lang=zh-CN").text
    assert ">社区工作者人数超出本单位往年范围</option>" in chinese
    wrong = client.get("/reporting/violations", params={"under": "11x", "lang": "zh-CN"})
    assert wrong.status_code == 422
    assert 'data-field="under"' in wrong.text
    assert "区域须填写12位区划代码" in wrong.text
    assert 'value="11x"' in wrong.text
    # a wrong choice is named by its label, not by the query's field name
    not_a_round = client.get("/reporting/violations", params={"round": "abc", "lang": "zh-CN"})
    assert not_a_round.status_code == 422
    assert "填报轮次不是可选的值" in not_a_round.text


def test_checking_a_round_over_http_needs_the_nation_or_its_province(
        client: TestClient, auth: Auth, round_id: int) -> None:
    # no form is handed in: the check empties the list
    url = f"/api/v1/reporting/rounds/{round_id}/checks"
    assert client.post(url, headers=auth("worker_dfx")).status_code == 403
    answer = client.post(url, headers=auth("admin"))
    assert answer.status_code == 200
    assert answer.json() == {"round_id": round_id, "violations": 0}
    listed = client.get(f"/api/v1/reporting/rounds/{round_id}/violations",
                        headers=auth("admin")).json()
    assert listed["items"] == []
