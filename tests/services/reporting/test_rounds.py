"""Reporting rounds over HTTP on both back-ends: the nation opens a round, a community
fills and submits its form, the street approves and the county accepts, which writes the
figures into the registry once (N3's inputs included); a signed-off form is locked until
the level that signed it unapproves it with a reason; completeness and timeliness roll up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.indicators.models import IndicatorInput
from shequ.indicators.store import compute_for_registry
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Population, Workforce
from shequ.services.accounts import AuditLog
from shequ.services.bookings.clock import local_now
from shequ.services.reporting.models import FormEvent
from shequ.services.reporting.rollup import FORM_SCHEMA, roll_up
from shequ.services.reporting.rules_models import ValidationViolation
from tests.services.conftest import Seeded, seed, services_settings

Served = tuple[TestClient, Context, Seeded, Callable[[str], dict[str, str]]]
WORKER_UNIT = "110101001001"  # 多福巷社区, street 东华门街道, county 东城区
TODAY = local_now().date()
FIGURES: dict[str, float | None] = {
    "residents": 5200, "households": 2100, "age_0_2": 120, "age_3_5": 150, "age_6_14": 480,
    "age_60_plus": 1300, "age_80_plus": 210, "disabled": 260, "assisted_households": 30,
    "community_worker": 7, "community_worker_assistant": 2,
    "community_worker_social_worker": 1, "community_worker_senior": 0, "social_worker": 0,
    "volunteer": 80, "residential_floor_area": 100_000, "commercial_service_floor_area": 1_200,
    "home_visited_elderly": 310,
}


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    from shequ.app import create_app

    def auth(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {seeded.tokens[username]}"}

    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, seeded, auth
    ctx.close()


def _open(client: TestClient, auth: Callable[[str], dict[str, str]], *, days_left: int = 30,
          who: str = "planner_cn") -> int:
    due = TODAY.toordinal() + days_left
    response = client.post("/api/v1/reporting/rounds", headers=auth(who), json={
        "name": "2025 年度社区基础数据", "period": 2025,
        "opens_on": TODAY.replace(day=1).isoformat() if days_left >= 0 else
        TODAY.fromordinal(due - 10).isoformat(),
        "due_on": TODAY.fromordinal(due).isoformat(),
        "datasets": ["population", "workforce", "indicator_inputs"]})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _form_url(round_id: int, code: str = WORKER_UNIT) -> str:
    return f"/api/v1/reporting/rounds/{round_id}/forms/{code}"


def _submit(client: TestClient, auth: Callable[[str], dict[str, str]], round_id: int,
            values: dict[str, Any] | None = None, who: str = "worker_dfx") -> Any:
    return client.put(_form_url(round_id), headers=auth(who),
                      json={"values": values or FIGURES, "submit": True})


def test_only_the_nation_or_a_province_opens_a_round(served: Served) -> None:
    client, _, _, auth = served
    body = {"name": "x", "period": 2025, "opens_on": "2026-01-01", "due_on": "2026-03-31",
            "datasets": ["population"]}
    refused = client.post("/api/v1/reporting/rounds", headers=auth("worker_dfx"), json=body)
    assert refused.status_code == 403
    backwards = client.post("/api/v1/reporting/rounds", headers=auth("planner_cn"),
                            json=body | {"due_on": "2025-12-31"})
    assert backwards.status_code == 422
    assert backwards.json()["problems"][0]["column"] == "due_on"
    unknown = client.post("/api/v1/reporting/rounds", headers=auth("planner_cn"),
                          json=body | {"datasets": ["bicycles"]})
    assert unknown.status_code == 422
    province = client.post("/api/v1/reporting/rounds", headers=auth("planner_bj"), json=body)
    assert province.status_code == 201
    assert province.json()["scope_code"] == "110000000000"  # its own province, whatever asked
    listed = client.get("/api/v1/reporting/rounds", headers=auth("worker_dfx")).json()
    assert [r["id"] for r in listed] == [province.json()["id"]]


def test_every_indicator_input_can_be_reported(served: Served) -> None:
    client = served[0]
    sets = {d["code"]: [i["key"] for i in d["items"]]
            for d in client.get("/api/v1/reporting/datasets").json()}
    # N3's two floor areas and the provinces' own input, all from the indicator catalog
    assert sets["indicator_inputs"] == ["commercial_service_floor_area",
                                        "home_visited_elderly", "residential_floor_area"]
    assert "age_60_plus" in sets["population"]
    assert len(sets["workforce"]) == 6


def test_the_form_is_prefilled_from_the_registry_and_the_last_round(served: Served) -> None:
    client, _, _, auth = served
    recorded = client.put(f"/api/v1/divisions/{WORKER_UNIT}/population/2025",
                          headers=auth("worker_dfx"),
                          json={"residents": 5000, "households": 2000})
    assert recorded.status_code == 200
    round_id = _open(client, auth)
    form = client.get(_form_url(round_id), headers=auth("worker_dfx")).json()
    assert form["form_id"] is None and form["status"] == "draft"
    assert form["values"]["residents"] == 5000 and form["prefilled"]["residents"] == "registry"
    assert form["values"]["residential_floor_area"] is None
    assert "residential_floor_area" not in form["prefilled"]


def test_a_submission_missing_figures_is_refused_and_nothing_is_stored(served: Served) -> None:
    client, ctx, _, auth = served
    round_id = _open(client, auth)
    partial = {k: v for k, v in FIGURES.items() if k != "residential_floor_area"}
    refused = _submit(client, auth, round_id, partial | {"age_80_plus": 1400})
    assert refused.status_code == 422
    columns = {p["column"]: p["code"] for p in refused.json()["problems"]}
    assert columns == {"residential_floor_area": "required",
                       "age_80_plus": "upkeep.over_80_exceeds_60"}
    form = client.get(_form_url(round_id), headers=auth("worker_dfx")).json()
    assert form["form_id"] is None  # nothing stored
    draft = client.put(_form_url(round_id), headers=auth("worker_dfx"),
                       json={"values": partial, "submit": False})
    assert draft.status_code == 200 and draft.json()["status"] == "draft"
    assert draft.json()["values"]["residential_floor_area"] is None
    not_number = client.put(_form_url(round_id), headers=auth("worker_dfx"),
                            json={"values": {"residents": 12.5}})
    assert not_number.status_code == 422
    assert not_number.json()["problems"][0]["code"] == "reporting.not_whole"
    # a figure too large is told by its bound (not as if it were below 0)
    huge = client.put(_form_url(round_id), headers=auth("worker_dfx"),
                      json={"values": {"residents": "9" * 40}})
    assert huge.status_code == 422
    assert huge.json()["problems"][0]["code"] == "reporting.too_large"
    assert "is too large: at most 1,000,000,000,000" in huge.json()["detail"]
    with ctx.sessions() as session:
        assert session.scalars(select(Population)).all() == []


def test_a_warning_needs_a_comment_and_stays_in_the_violations(served: Served) -> None:
    client, ctx, _, auth = served
    round_id = _open(client, auth)
    crowded = FIGURES | {"households": 800}  # 5,200 residents: 6.5 a household
    warned = _submit(client, auth, round_id, crowded)
    assert warned.status_code == 422
    [problem] = warned.json()["problems"]
    assert (problem["column"], problem["code"]) == ("residents", "reporting.comment_needed")
    assert "More than 6 residents per household" in json.dumps(problem)
    answered = client.put(_form_url(round_id), headers=auth("worker_dfx"), json={
        "values": crowded, "comments": {"residents": "集体宿舍多"}, "submit": True})
    assert answered.status_code == 200 and answered.json()["status"] == "submitted"
    assert answered.json()["comments"] == {"residents": "集体宿舍多"}
    with ctx.sessions() as session:
        kept = session.scalars(select(ValidationViolation)).all()
        assert [(v.rule_code, v.division_code, v.comment) for v in kept] == [
            ("household_size", WORKER_UNIT, "集体宿舍多")]


def test_outside_the_jurisdiction_a_form_is_refused(served: Served) -> None:
    client, _, _, auth = served
    round_id = _open(client, auth)
    assert client.get(_form_url(round_id, "110101001002"),
                      headers=auth("worker_dfx")).status_code == 403
    assert client.get(_form_url(round_id, "110101001000"),
                      headers=auth("officer_dhm")).status_code == 404  # a street: no form


def test_sign_off_by_level_locks_the_figures_and_writes_them_once(served: Served) -> None:
    client, ctx, _, auth = served
    round_id = _open(client, auth)
    submitted = _submit(client, auth, round_id)
    assert submitted.status_code == 200, submitted.text
    form_id = submitted.json()["form_id"]
    assert submitted.json()["status"] == "submitted"
    # a community worker cannot sign off its own form
    assert client.post(f"/api/v1/reporting/forms/{form_id}/approve",
                       headers=auth("worker_dfx")).status_code == 403
    # another street's officer is outside the jurisdiction
    street = client.post(f"/api/v1/reporting/forms/{form_id}/approve",
                         headers=auth("officer_dhm"))
    assert street.json() == {"form_id": form_id, "status": "approved", "approved_level": 4,
                             "applied": False}
    locked = _submit(client, auth, round_id, FIGURES | {"residents": 5300})
    assert locked.status_code == 409 and locked.json()["code"] == "reporting.form_locked"
    with ctx.sessions() as session:  # approved by the street only: the registry waits
        assert session.scalars(select(Population)).all() == []
    county = client.post(f"/api/v1/reporting/forms/{form_id}/approve",
                         headers=auth("planner_dc"))
    assert county.json()["approved_level"] == 3 and county.json()["applied"] is True
    assert client.get(f"/api/v1/reporting/unapproved/{WORKER_UNIT}/2025").json()[
        "rests_on_unapproved"] is False
    again = client.post(f"/api/v1/reporting/forms/{form_id}/approve",
                        headers=auth("planner_dc"))
    assert again.status_code == 409
    with ctx.sessions() as session:
        population = session.scalars(select(Population)).one()
        assert (population.division_code, population.period, population.residents,
                population.age_80_plus) == (WORKER_UNIT, 2025, 5200, 210)
        assert population.source == f"reporting round {round_id}"
        lines = {(w.role, w.certification): w.headcount
                 for w in session.scalars(select(Workforce))}
        assert lines == {("community_worker", "none"): 7,
                         ("community_worker", "assistant_social_worker"): 2,
                         ("community_worker", "social_worker"): 1,
                         ("volunteer", "none"): 80}
        inputs = {i.measure: i.value for i in session.scalars(select(IndicatorInput))}
        assert inputs == {"residential_floor_area": 100_000.0,
                          "commercial_service_floor_area": 1_200.0,
                          "home_visited_elderly": 310.0}
        applied = session.scalars(select(FormEvent.action).where(
            FormEvent.form_id == form_id).order_by(FormEvent.id)).all()
        assert applied == ["submit", "approve", "approve", "apply"]
    # N3 = (service floor area 0 + commercial 1,200) / residential 100,000 × 100 = 1.2 %
    run = compute_for_registry(ctx, periods=[2025], store=False)
    n3 = run.results.filter((pl.col("indicator") == "N3") & (pl.col("period") == 2025))
    values = dict(zip(n3["division_code"].to_list(), n3["value"].to_list(), strict=True))
    assert values[WORKER_UNIT] == pytest.approx(1.2)
    assert values["110101001000"] == pytest.approx(1.2)  # the street: its one reporter
    assert values["110000000000"] == pytest.approx(1.2)


def test_unapproval_needs_the_signing_level_and_a_reason(served: Served) -> None:
    client, ctx, seeded, auth = served
    round_id = _open(client, auth)
    form_id = _submit(client, auth, round_id).json()["form_id"]
    for who in ("officer_dhm", "planner_dc"):
        client.post(f"/api/v1/reporting/forms/{form_id}/approve", headers=auth(who))
    url = f"/api/v1/reporting/forms/{form_id}/unapprove"
    # the county accepted: the street may not take it back
    assert client.post(url, headers=auth("officer_dhm"),
                       json={"reason": "typo"}).status_code == 403
    assert client.post(url, headers=auth("planner_dc"), json={"reason": ""}).status_code == 422
    county = client.post(url, headers=auth("planner_dc"),
                         json={"reason": "老年人口与公安数据不符"})
    assert county.json()["approved_level"] == 4 and county.json()["status"] == "approved"
    # the registry holds the county-accepted figures, which no sign-off holds now
    resting = client.get("/api/v1/reporting/unapproved/110101000000/2025").json()
    assert resting == {"period": 2025, "division_code": "110101000000",
                       "rests_on_unapproved": True, "communities": [WORKER_UNIT]}
    assert client.get("/api/v1/reporting/unapproved/110101002000/2025").json()[
        "rests_on_unapproved"] is False  # the other street
    street = client.post(url, headers=auth("officer_dhm"), json={"reason": "请核对 80 岁以上人口"})
    assert street.json() == {"form_id": form_id, "status": "submitted", "approved_level": None,
                             "applied": True}
    assert client.post(url, headers=auth("officer_dhm"),
                       json={"reason": "again"}).status_code == 409
    corrected = _submit(client, auth, round_id, FIGURES | {"age_80_plus": 200})
    assert corrected.status_code == 200 and corrected.json()["status"] == "submitted"
    events = [(e["action"], e["level"], e["reason"]) for e in corrected.json()["events"]]
    assert events[-3:] == [("unapprove", 3, "老年人口与公安数据不符"),
                           ("unapprove", 4, "请核对 80 岁以上人口"), ("submit", None, None)]
    with ctx.sessions() as session:
        audited = session.scalars(select(AuditLog).where(
            AuditLog.action == "unapprove")).all()
        assert [a.user_id for a in audited] == [seeded.users["planner_dc"],
                                                seeded.users["officer_dhm"]]
        assert "老年人口与公安数据不符" in (audited[0].detail or "")


def test_the_overview_rolls_completeness_and_timeliness_up(served: Served) -> None:
    client, _, _, auth = served
    on_time = _open(client, auth)
    _submit(client, auth, on_time)
    seen = client.get(f"/api/v1/reporting/rounds/{on_time}/overview",
                      headers=auth("planner_dc")).json()
    # 东城区 has three communities: 多福巷 reported on time, 银闸 and 隆福寺 not yet
    assert seen["totals"] == {"expected": 3, "reported": 1, "on_time": 1, "approved": 0}
    streets = {c["code"]: (c["expected"], c["reported"]) for c in seen["children"]}
    assert streets == {"110101001000": (2, 1), "110101002000": (1, 0)}
    units = {u["code"]: (u["status"], u["late"]) for u in seen["units"]}
    assert units == {WORKER_UNIT: ("submitted", False), "110101001002": (None, False),
                     "110101002001": (None, False)}
    past_due = _open(client, auth, days_left=-1)
    _submit(client, auth, past_due)
    late = client.get(f"/api/v1/reporting/rounds/{past_due}/overview",
                      headers=auth("officer_dhm")).json()
    assert late["totals"] == {"expected": 2, "reported": 1, "on_time": 0, "approved": 0}
    assert {u["code"]: u["late"] for u in late["units"]} == {WORKER_UNIT: True,
                                                             "110101001002": True}


def test_the_rollup_counts_every_level_by_hand() -> None:
    units = pl.Series(["110101001001", "110101001002", "110101002001", "120101001001"])
    forms = pl.DataFrame([("110101001001", True, True, True),
                          ("110101002001", True, False, False),
                          ("999999999999", True, True, True)],  # not asked: left out
                         schema=FORM_SCHEMA, orient="row")
    table = roll_up(units, forms)
    rows = {(r["level"], r["code"]): (r["expected"], r["reported"], r["on_time"], r["approved"])
            for r in table.iter_rows(named=True)}
    assert rows[(0, "")] == (4, 2, 1, 1)
    assert rows[(1, "110000000000")] == (3, 2, 1, 1)
    assert rows[(1, "120000000000")] == (1, 0, 0, 0)
    assert rows[(4, "110101001000")] == (2, 1, 1, 1)
    assert rows[(4, "110101002000")] == (1, 1, 0, 0)
    assert len(rows) == 1 + 2 + 2 + 2 + 3
