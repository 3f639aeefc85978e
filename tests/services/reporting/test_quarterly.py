"""Quarterly rounds on both back-ends: opened for a quarter, filled, submitted and signed
off like a year's; each round knows the days its figures are for, the second quarter's
form starts from the first quarter's, and the registry's figures of the year are the last
signed-off quarter's.

Hand-checked: Q1 2025 runs 1 January – 31 March, Q2 1 April – 30 June, Q4 1 October –
31 December.  多福巷社区 reports 5,200 residents in Q1 and 5,260 in Q2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Population
from tests.services.conftest import seed, services_settings
from tests.services.reporting.test_rounds import FIGURES, TODAY, WORKER_UNIT, Served

ALL = ["population", "workforce", "indicator_inputs"]


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    """The seeded region on each back-end, served, with bearer tokens by username."""
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


def _open(client: TestClient, auth: Callable[[str], dict[str, str]], quarter: int | None,
          **more: Any) -> Any:
    return client.post("/api/v1/reporting/rounds", headers=auth("planner_cn"), json={
        "name": f"2025 年第 {quarter} 季度", "period": 2025, "frequency": "quarterly",
        "quarter": quarter, "opens_on": TODAY.replace(day=1).isoformat(),
        "due_on": (TODAY + dt.timedelta(days=20)).isoformat(), "datasets": ALL} | more)


def _sign_off(client: TestClient, auth: Callable[[str], dict[str, str]], form_id: int
              ) -> Any:
    answer = None
    for who in ("officer_dhm", "planner_dc"):
        answer = client.post(f"/api/v1/reporting/forms/{form_id}/approve", headers=auth(who))
        assert answer.status_code == 200, answer.text
    assert answer is not None
    return answer.json()


def test_a_quarterly_round_knows_its_quarter_and_its_days(served: Served) -> None:
    client, _, _, auth = served
    missing = _open(client, auth, None)
    assert missing.status_code == 422
    assert [p["code"] for p in missing.json()["problems"]] == ["reporting.quarter_needed"]
    spans = {}
    for quarter in (1, 2, 4):
        opened = _open(client, auth, quarter)
        assert opened.status_code == 201, opened.text
        body = opened.json()
        assert (body["frequency"], body["quarter"]) == ("quarterly", quarter)
        spans[quarter] = (body["period_start"], body["period_end"])
    assert spans == {1: ("2025-01-01", "2025-03-31"), 2: ("2025-04-01", "2025-06-30"),
                     4: ("2025-10-01", "2025-12-31")}
    annual = _open(client, auth, 3, frequency="annual").json()  # a quarter is ignored
    assert (annual["quarter"], annual["period_start"], annual["period_end"]) == (
        None, "2025-01-01", "2025-12-31")


def test_two_quarters_filled_submitted_and_signed_off_in_turn(served: Served) -> None:
    client, ctx, _, auth = served
    first = _open(client, auth, 1).json()["id"]
    second = _open(client, auth, 2).json()["id"]
    url = f"/api/v1/reporting/rounds/{{}}/forms/{WORKER_UNIT}"
    q1 = client.put(url.format(first), headers=auth("worker_dfx"),
                    json={"values": FIGURES, "submit": True})
    assert q1.status_code == 200, q1.text
    # Q1 handed in, not yet signed off: Q2's form starts from it (the same year)
    start = client.get(url.format(second), headers=auth("worker_dfx")).json()
    assert start["values"]["residents"] == 5200
    assert start["prefilled"]["residents"] == "last_round"
    assert start["values"]["residential_floor_area"] == 100_000
    assert _sign_off(client, auth, q1.json()["form_id"])["applied"] is True
    with ctx.sessions() as session:
        assert [(p.period, p.residents, p.source) for p in session.scalars(
            select(Population))] == [(2025, 5200, f"reporting round {first}")]
    q2 = client.put(url.format(second), headers=auth("worker_dfx"),
                    json={"values": FIGURES | {"residents": 5260}, "submit": True})
    assert q2.status_code == 200, q2.text
    assert q2.json()["status"] == "submitted"
    assert _sign_off(client, auth, q2.json()["form_id"])["approved_level"] == 3
    with ctx.sessions() as session:  # the year's figures: the last quarter signed off
        assert [(p.period, p.residents, p.source) for p in session.scalars(
            select(Population))] == [(2025, 5260, f"reporting round {second}")]
    seen = client.get(f"/api/v1/reporting/rounds/{second}/overview",
                      headers=auth("officer_dhm")).json()
    assert seen["totals"] == {"expected": 2, "reported": 1, "on_time": 1, "approved": 1}
    assert (seen["round"]["period_start"], seen["round"]["period_end"]) == (
        "2025-04-01", "2025-06-30")


def test_the_pages_name_the_quarter(served: Served) -> None:
    client, _, _, auth = served
    second = _open(client, auth, 2).json()["id"]
    token = auth("worker_dfx")
    zh = client.get(f"/reporting/rounds/{second}/forms/{WORKER_UNIT}",
                    headers=token, params={"lang": "zh-CN"})
    en = client.get(f"/reporting/rounds/{second}/forms/{WORKER_UNIT}",
                    headers=token, params={"lang": "en"})
    listed = client.get("/reporting", headers=token, params={"lang": "en"})
    assert zh.status_code == en.status_code == listed.status_code == 200
    assert "2025 年第 2 季度数据（2025年4月1日至2025年6月30日）" in zh.text
    assert "Figures for Q2 2025 (1 Apr 2025 – 30 Jun 2025)" in en.text
    assert "Q2 2025" in listed.text
