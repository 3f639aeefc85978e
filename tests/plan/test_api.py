"""HTTP: solve and save, evaluate, map, compare, export, adopt, jurisdiction, estate review,
and the two pages."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shequ.context import Context
from shequ.registry.models import Division
from shequ.services.accounts.models import SessionKind
from shequ.services.accounts.passwords import hash_password
from shequ.services.accounts.sessions import start_session
from shequ.services.accounts.users import create_user
from shequ.settings import Settings

from .county import COUNTY, seed_county, without_facility

SECRET = "plan-test-secret-0123456789-0123456789-abcdef"


@pytest.fixture
def client_and_tokens(settings: Settings) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    from shequ.app import create_app

    ctx = Context.open(settings.with_(secret_key=SECRET))
    seed_county(ctx.sessions)
    digest = hash_password("a long test password 123")
    headers = {}
    with ctx.sessions.begin() as session:
        session.add(Division(code="330200000000", level=2, parent_code="330000000000",
                             name="Other city", kind="prefecture_city",
                             valid_from=dt.date(2000, 1, 1)))
        session.add(Division(code="330201000000", level=3, parent_code="330200000000",
                             name="Other county", kind="county",
                             valid_from=dt.date(2000, 1, 1)))
        for name, role, code in (("planner", "county_planner", COUNTY),
                                 ("stranger", "county_planner", "330201000000"),
                                 ("resident", "resident", None)):
            user = create_user(session, username=name, password_hash=digest, role=role,
                               jurisdiction_code=code)
            token = start_session(session, SECRET, user, kind=SessionKind.BEARER)[1]
            headers[name] = {"Authorization": "Bearer " + token}
    with TestClient(create_app(ctx)) as client:
        yield client, headers
    ctx.close()


def test_solve_evaluate_map_export_adopt_over_http(
        client_and_tokens: tuple[TestClient, dict[str, dict[str, str]]],
        settings: Settings) -> None:
    client, auth = client_and_tokens
    body = {"division_code": COUNTY, "target": 0.8, "save_as": "http plan"}
    assert client.post("/api/v1/plan/solve", json=body).status_code == 401
    assert client.post("/api/v1/plan/solve", json=body,
                       headers=auth["stranger"]).status_code == 403
    answer = client.post("/api/v1/plan/solve", json=body, headers=auth["planner"])
    assert answer.status_code == 200, answer.text
    solved = answer.json()
    assert solved["objective"] == 28 and solved["gap"] == 0
    assert solved["units_covered_before"] == 20 and solved["units"] == 30
    scenario_id = solved["scenario_id"]
    report = client.post(f"/api/v1/plan/scenarios/{scenario_id}/evaluate",
                         params={"life_circles": False}, headers=auth["planner"])
    assert report.status_code == 200, report.text
    n2 = next(d for d in report.json()["indicator_deltas"]
          if d["indicator"] == "N2" and d["division_code"] == COUNTY)
    assert n2["after"] == pytest.approx(100 * 28 / 30)
    shown = client.get(f"/api/v1/plan/scenarios/{scenario_id}", headers=auth["planner"])
    assert shown.json()["evaluation"]["headlines"]
    assert client.get(f"/api/v1/plan/scenarios/{scenario_id}",
                      headers=auth["stranger"]).status_code == 403
    drawn = client.get(f"/api/v1/plan/scenarios/{scenario_id}/map",
                       headers=auth["planner"]).json()
    flags = [(f["properties"]["covered_before"], f["properties"]["covered_after"])
             for f in drawn["units"]["features"]]
    assert flags.count((True, True)) == 20
    assert flags.count((False, True)) == 8
    assert flags.count((False, False)) == 2
    assert len(drawn["sites"]["features"]) == 8
    # maximal covering of units: each site serves the village it stands in, and nothing else
    assert drawn["coverage"] == {"rule": "own_unit", "radius_m": None}
    residents = {f["properties"]["code"]: f["properties"]["residents"]
                 for f in drawn["units"]["features"]}
    served = {f["properties"]["code"]: f["properties"]["served_by"]
              for f in drawn["units"]["features"] if f["properties"]["served_by"]}
    for site in drawn["sites"]["features"]:
        props = site["properties"]
        assert props["covers_units"] == 1
        assert served[props["division_code"]] == props["id"]
        assert props["covers_residents"] == residents[props["division_code"]] > 0
    assert sorted(served) == sorted(f["properties"]["code"] for f in drawn["units"]["features"]
                                    if f["properties"]["covered_after"]
                                    and not f["properties"]["covered_before"])
    geo = client.get(f"/api/v1/plan/scenarios/{scenario_id}/export",
                     params={"format": "geojson"}, headers=auth["planner"])
    assert geo.headers["content-type"].startswith("application/geo+json")
    other = client.post("/api/v1/plan/solve", headers=auth["planner"], json={
        "division_code": COUNTY, "p": 2, "save_as": "http plan 2"}).json()
    assert other["objective"] == 22 and len(other["sites"]) == 2
    assert client.get("/api/v1/plan/compare", params={"ids": [scenario_id]},
                      headers=auth["planner"]).status_code == 422
    compared = client.get("/api/v1/plan/compare", headers=auth["planner"],
                          params={"ids": [scenario_id, other["scenario_id"]]}).json()
    assert [c["name"] for c in compared] == ["http plan", "http plan 2"]
    assert [c["units_with_site_after"] for c in compared] == [28, 22]
    assert compared[0]["evaluated"] and not compared[1]["evaluated"]
    assert compared[0]["indicators"]["N2"]["after"] == pytest.approx(100 * 28 / 30)
    assert compared[0]["cost_cny"] > compared[1]["cost_cny"] > 0
    page = client.get(f"/plan?scenario={scenario_id}&lang=en", headers=auth["planner"])
    assert page.status_code == 200 and "http plan" in page.text and "leaflet.js" in page.text
    evaluated = _check_scenario_pages(client, auth, scenario_id)
    adopted = client.post(f"/api/v1/plan/scenarios/{scenario_id}/adopt",
                          headers=auth["planner"])
    assert len(adopted.json()["planned_facility_ids"]) == 8
    assert client.post(f"/api/v1/plan/scenarios/{scenario_id}/adopt",
                       headers=auth["planner"]).status_code == 409
    # saving and adopting are writes: both are in the audit log, with who and what
    from sqlalchemy import select

    from shequ.services.accounts.models import AuditLog

    ctx = Context.open(settings.with_(secret_key=SECRET), migrate=False)
    with ctx.sessions() as session:
        logged = [(r.username, r.action, r.entity_id) for r in session.scalars(
            select(AuditLog).where(AuditLog.entity == "plan_scenario").order_by(AuditLog.id))]
    ctx.close()
    second = str(other["scenario_id"])
    assert logged == [("planner", "create", str(scenario_id)),
                      ("planner", "export", str(scenario_id)),
                      ("planner", "create", second),
                      ("planner", "compare", f"{scenario_id},{second}"),
                      ("planner", "evaluate", str(scenario_id)),  # from its page, a job
                      ("planner", "adopt", str(scenario_id))]
    assert evaluated.username == "planner" and evaluated.status == "done"


def test_with_no_scenario_yet_the_page_points_to_its_own_solve_form(
        client_and_tokens: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = client_and_tokens
    for lang, words in (("zh-CN", "还没有方案：在上方“新建方案”中填写后点“求解方案”"),
                        ("en", "No scenarios yet: fill in “A new scenario” above and press "
                               "“Solve the plan”")):
        page = client.get("/plan", params={"lang": lang}, headers=auth["planner"])
        assert page.status_code == 200
        assert words in _visible(page.text)
        assert "command line" not in page.text and "命令行" not in page.text
    # a scenario that is not a number is named in words on the error page
    wrong = client.get("/plan", params={"scenario": "abc", "lang": "zh-CN"},
                       headers=auth["planner"])
    assert wrong.status_code == 422
    assert "方案：请求参数 方案 无效" in _visible(wrong.text)


@pytest.mark.parametrize(("lang", "words", "way_on"), [
    ("zh-CN", "对比的方案：对比的方案不是可选的值", "返回首页"),
    ("en", "Scenarios to compare: Scenarios to compare is not one of the choices",
     "Go to the home page"),
])
def test_a_scenario_to_compare_that_is_not_a_number_is_named_by_its_label(
        client_and_tokens: tuple[TestClient, dict[str, dict[str, str]]], lang: str,
        words: str, way_on: str) -> None:
    client, auth = client_and_tokens
    wrong = client.get("/plan", params=[("compare", "abc"), ("compare", "0"),
                                        ("lang", lang)], headers=auth["planner"])
    assert wrong.status_code == 422
    problems = wrong.text.split('data-testid="error-problems">', 1)[1].split("</ul>", 1)[0]
    # "abc" and 0, each said once, named by the label, not the query's field name
    assert [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", problems)
            ] == [words, words]
    ways_on = wrong.text.split('data-testid="ways-on">', 1)[1].split("</p>", 1)[0]
    assert f'<a href="/">{way_on}</a>' in ways_on


def test_hand_made_scenario_is_checked_and_scoped(
        client_and_tokens: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = client_and_tokens
    change = {"action": "new", "type_code": "comprehensive_service_facility",
              "division_code": without_facility()[0], "name": "new centre",
              "longitude": 120.0, "latitude": 30.0, "cost_cny": 900000}
    bad = client.post("/api/v1/plan/scenarios", headers=auth["planner"], json={
        "name": "bad", "division_code": COUNTY,
        "changes": [change | {"type_code": "spaceport"}]})
    assert bad.status_code == 422 and "spaceport" in bad.text
    assert client.post("/api/v1/plan/scenarios", headers=auth["resident"], json={
        "name": "x", "division_code": COUNTY, "changes": [change]}).status_code == 403
    made = client.post("/api/v1/plan/scenarios", headers=auth["planner"], json={
        "name": "one centre", "division_code": COUNTY, "changes": [change]})
    assert made.status_code == 201, made.text
    assert made.json()["cost"]["total_cny"] == 900000
    listed = client.get("/api/v1/plan/scenarios", headers=auth["stranger"]).json()
    assert listed == []
    scenario_id = made.json()["id"]
    assert client.delete(f"/api/v1/plan/scenarios/{scenario_id}",
                         headers=auth["planner"]).status_code == 204


def test_estate_review_over_http_and_on_its_page(
        client_and_tokens: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, _ = client_and_tokens
    plan = {"name": "Short estate", "households": 1000, "residents": 2600,
            "total_floor_area_m2": 100000, "commercial_floor_area_m2": 9000,
            "longitude": 120.0, "latitude": 30.0,
            "facilities": [{"type_code": "comprehensive_service_facility",
                            "floor_area_m2": 250, "activity_area_m2": 150}]}
    answer = client.post("/api/v1/plan/estate-review", json=plan).json()
    assert answer["passed"] is False
    area = next(f for f in answer["findings"] if f["check"] == "service_area_per_100_households")
    assert area["shortfall"] == pytest.approx(50.0)  # 300 m² required, 250 planned
    page = client.get("/plan/estate", params={
        "lang": "en", "name": "Short estate", "households": 1000, "residents": 2600,
        "total_floor_area_m2": 100000, "commercial_floor_area_m2": 9000,
        "service_floor_area_m2": 250, "activity_area_m2": 150, "longitude": 120.0,
        "latitude": 30.0})
    assert page.status_code == 200
    assert '<span class="badge bad">Fail</span>' in page.text
    assert "50.0 m² short" in page.text
    assert ("250 m² of community service floor area for 1,000 households; the standard asks "
            "at least 30 m² per 100 households, i.e. 300 m²") in page.text
    zh = client.get("/plan/estate", params={
        "lang": "zh-CN", "name": "短缺小区", "households": 1000, "residents": 2600,
        "total_floor_area_m2": 100000, "commercial_floor_area_m2": 9000,
        "service_floor_area_m2": 250, "activity_area_m2": 150, "longitude": 120.0,
        "latitude": 30.0})
    assert zh.status_code == 200
    text = _visible(zh.text)
    assert "差 50.0 平方米" in text
    assert ("1,000 户配建社区综合服务设施 250 平方米；标准为每百户不少于 30 平方米，即 300 平方米"
            in text)
    assert "十分钟生活圈" in text or "十五分钟生活圈" in text  # tiers in words
    assert "缺少：" in text
    # No code of the review (service_area_per_100_households, tier:10min, sports_field …)
    # and no English word reaches the Chinese page.
    assert re.findall(r"[a-z]+_[a-z_0-9]+|tier:|\b[A-Za-z]{3,}\b", text) == []


def test_the_estate_form_keeps_what_was_typed_and_says_what_is_wrong(
        client_and_tokens: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, _ = client_and_tokens
    page = client.get("/plan/estate", params={
        "lang": "zh-CN", "households": "很多", "residents": "-5", "total_floor_area_m2": "",
        "longitude": "120", "latitude": "30"})
    assert page.status_code == 422
    assert 'id="households-error"' in page.text and "户数应为数字，收到“很多”" in page.text
    assert "常住人口不能为负数，收到“-5”" in page.text
    assert "总建筑面积不能为空" in page.text
    assert 'id="households" name="households" type="text" value="很多"' in page.text
    en = client.get("/plan/estate", params={"lang": "en", "households": "many"})
    assert en.status_code == 422 and "Households must be a number, not “many”" in en.text


def _visible(page: str) -> str:
    """The text a reader sees in the page's main part (no tags, scripts or attributes)."""
    main = page.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<script.*?</script>", " ", main, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", main))


def _check_scenario_pages(client: TestClient, auth: dict[str, dict[str, str]],
                          scenario_id: int) -> Any:
    """The evaluated scenario in Chinese: funding, headlines, levels and tiers in words,
    the before/after chart and the comparison of scenarios."""
    page = client.get("/plan", params={"scenario": scenario_id, "lang": "zh-CN"},
                      headers=auth["planner"])
    assert page.status_code == 200
    text = _visible(page.text)
    assert "地方政府专项债券" in text  # special_bonds, the solver's funding source
    assert "新建 2 处；利用现有空间 6 处" in text
    headlines = re.search(r'data-testid="headlines">(.*?)</ul>', page.text, re.S)
    assert headlines is not None and "→" in headlines.group(1)
    assert 'data-chart="comparison"' in page.text  # before and after, drawn by ECharts
    assert "县级" in text or "乡镇级" in text or "区县" in text
    assert re.findall(r"[a-z]+_[a-z_0-9]+|\b(?!CSV|XLSX|GeoJSON)[A-Za-z]{3,}\b",
                      re.sub(r"http plan|Test (county|province|city)|Town \d", "", text)) == []
    listing = client.get("/plan", params={"lang": "en"}, headers=auth["planner"])
    assert 'id="scenario-comparison"' in listing.text
    assert "The change each scenario makes to the indicators" in listing.text
    assert client.get("/plan", params={"scenario": scenario_id},
                      headers=auth["stranger"]).status_code == 403
    assert client.get("/plan", params={"scenario": 999999},
                      headers=auth["planner"]).status_code == 404
    # Evaluating from the page: back to the scenario with the message; planners only.
    assert client.post(f"/plan/scenarios/{scenario_id}/evaluate",
                       headers=auth["resident"]).status_code == 403
    done = client.post(f"/plan/scenarios/{scenario_id}/evaluate", headers=auth["planner"],
                       follow_redirects=False)
    assert done.status_code == 303
    found = re.fullmatch(rf"/plan\?scenario={scenario_id}&job=(\d+)", done.headers["location"])
    assert found is not None, done.headers["location"]
    job = client.get(f"/api/v1/jobs/{found.group(1)}", headers=auth["planner"]).json()
    assert job["kind"] == "plan.evaluate" and job["status"] in ("queued", "running", "done")
    from shequ.services.jobs.service import wait

    return wait(client.app.state.ctx,  # type: ignore[attr-defined]
                int(found.group(1)), timeout=120)


def test_solving_again_under_a_taken_name_saves_it_suffixed_and_says_so(
        client_and_tokens: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    from shequ.services.jobs.service import wait

    client, auth = client_and_tokens
    body = {"division_code": COUNTY, "target": 0.8, "save_as": "twice"}
    first = client.post("/api/v1/plan/solve", json=body, headers=auth["planner"]).json()
    again = client.post("/api/v1/plan/solve", json=body, headers=auth["planner"])
    assert again.status_code == 200, again.text
    assert (first["scenario_name"], again.json()["scenario_name"]) == ("twice", "twice (2)")
    started = client.post("/api/v1/plan/solve-jobs", json=body, headers=auth["planner"])
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    done = wait(client.app.state.ctx, job_id, timeout=120)  # type: ignore[attr-defined]
    assert done.status == "done", done.problem
    for lang, words in (("en", "A scenario named “twice” exists already, so this one is "
                               "saved as “twice (3)”."),
                        ("zh-CN", "已有名为“twice”的方案，本方案另存为“twice (3)”。")):
        page = client.get(f"/plan?job={job_id}&lang={lang}", headers=auth["planner"])
        assert page.status_code == 200
        assert words in html.unescape(page.text)
