"""The facility-figures data set of a round, end to end: asked once per facility of the
community where its type keeps the figure, prefilled from the registry, checked by the
registry's facility rules at submission (nothing stored when refused), and written back
to each facility when the last level signs the form off — over the API on both back-ends
and through the form page.

Hand-checked fixture: 多福巷社区 (110101001001) has two facilities in the seeded region,
its comprehensive service station (floor area, no places: its type counts none) and its
elderly day-care centre (floor area and places).  The station's registry row holds a floor
area of 320 m² and an activity area of 200 m² before the round.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Facility
from shequ.services.accounts import AuditLog
from shequ.services.bookings.clock import local_now
from shequ.services.reporting.models import FormValue
from tests.services.conftest import Seeded, seed, services_settings
from tests.services.test_work import _sign_in

Served = tuple[TestClient, Context, Seeded, Callable[[str], dict[str, str]]]
UNIT = "110101001001"
STATION, DAY_CARE = "多福巷社区综合服务站", "多福巷老年人日间照料中心"
TODAY = local_now().date()


def _ids(ctx: Context) -> tuple[int, int]:
    with ctx.sessions() as session:
        found = {f.name: f.id for f in session.scalars(select(Facility).where(
            Facility.division_code == UNIT))}
    return found[STATION], found[DAY_CARE]


def _prepare(ctx: Context) -> None:
    with ctx.sessions() as session, session.begin():
        station = session.scalars(select(Facility).where(Facility.name == STATION)).one()
        station.floor_area_m2, station.activity_area_m2 = 320.0, 200.0


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
    _prepare(ctx)
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, seeded, auth
    ctx.close()


def _open(client: TestClient, auth: Callable[[str], dict[str, str]]) -> int:
    response = client.post("/api/v1/reporting/rounds", headers=auth("planner_cn"), json={
        "name": "2025 年度设施数据", "period": 2025,
        "opens_on": TODAY.replace(day=1).isoformat(),
        "due_on": (TODAY + dt.timedelta(days=30)).isoformat(),
        "datasets": ["facility_figures"]})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_the_data_set_is_in_the_catalog(served: Served) -> None:
    client = served[0]
    sets = {d["code"]: [(i["key"], i["target"]) for i in d["items"]]
            for d in client.get("/api/v1/reporting/datasets").json()}
    assert sets["facility_figures"] == [("facility_floor_area_m2", "facility"),
                                        ("facility_open", "facility"),
                                        ("facility_capacity", "facility")]


def test_facility_figures_are_prefilled_checked_and_written_back_on_sign_off(
        served: Served) -> None:
    client, ctx, _, auth = served
    station, day_care = _ids(ctx)
    round_id = _open(client, auth)
    url = f"/api/v1/reporting/rounds/{round_id}/forms/{UNIT}"
    form = client.get(url, headers=auth("worker_dfx")).json()
    # the station's type counts no places: no capacity item for it
    assert form["values"] == {
        f"facility_floor_area_m2@{station}": 320.0, f"facility_open@{station}": 1.0,
        f"facility_floor_area_m2@{day_care}": None, f"facility_open@{day_care}": 1.0,
        f"facility_capacity@{day_care}": None}
    assert form["prefilled"] == {f"facility_floor_area_m2@{station}": "registry",
                                 f"facility_open@{station}": "registry",
                                 f"facility_open@{day_care}": "registry"}
    wrong = {f"facility_floor_area_m2@{station}": 150, f"facility_open@{station}": 2,
             f"facility_floor_area_m2@{day_care}": 450.5, f"facility_open@{day_care}": 0,
             f"facility_capacity@{day_care}": 40}
    refused = client.put(url, headers=auth("worker_dfx"),
                         json={"values": wrong, "submit": True})
    assert refused.status_code == 422
    assert [(p["column"], p["code"]) for p in refused.json()["problems"]] == [
        (f"facility_open@{station}", "reporting.open_or_closed")]
    # open fixed: the station's 150 m² cannot hold its 200 m² activity area
    smaller = client.put(url, headers=auth("worker_dfx"), json={
        "values": wrong | {f"facility_open@{station}": 1}, "submit": True})
    assert smaller.status_code == 422
    assert [(p["column"], p["code"]) for p in smaller.json()["problems"]] == [
        (f"facility_floor_area_m2@{station}", "upkeep.activity_exceeds_floor")]
    whole = client.put(url, headers=auth("worker_dfx"), json={
        "values": wrong | {f"facility_open@{station}": 1,
                           f"facility_capacity@{day_care}": 40.5}, "submit": True})
    assert [p["code"] for p in whole.json()["problems"]] == ["reporting.not_whole"]
    with ctx.sessions() as session:
        assert session.scalars(select(FormValue)).all() == []  # nothing stored
    good = wrong | {f"facility_floor_area_m2@{station}": 340, f"facility_open@{station}": 1}
    submitted = client.put(url, headers=auth("worker_dfx"),
                           json={"values": good, "submit": True})
    assert submitted.status_code == 200, submitted.text
    form_id = submitted.json()["form_id"]
    for who in ("officer_dhm", "planner_dc"):  # street, then county
        signed = client.post(f"/api/v1/reporting/forms/{form_id}/approve", headers=auth(who))
        assert signed.status_code == 200, signed.text
    assert signed.json()["applied"] is True
    with ctx.sessions() as session:
        rows = {f.name: (f.floor_area_m2, f.activity_area_m2, f.capacity, f.status,
                         f.closed_on)
                for f in session.scalars(select(Facility).where(
                    Facility.division_code == UNIT))}
        audited = session.scalars(select(AuditLog).where(
            AuditLog.entity == "facility", AuditLog.action == "update")).all()
    assert rows == {
        STATION: (340.0, 200.0, None, "in_service", None),
        # closed as the 2025 round reports: on the last day of 2025 (already past)
        DAY_CARE: (450.5, None, 40, "closed", dt.date(2025, 12, 31)),
    }
    assert sorted(int(a.entity_id or 0) for a in audited) == sorted([station, day_care])
    # the next round asks about the closed centre too (closed during 2025)
    again = client.get(url, headers=auth("worker_dfx")).json()
    assert again["values"][f"facility_open@{day_care}"] == 0.0


def _box(page: str, box: str) -> str:
    found = re.search(rf'<input id="{re.escape(box)}"[^>]* value="([^"]*)"', page)
    assert found is not None, box
    return html.unescape(found.group(1))


def _field_error(page: str, box: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(box)}-error"[^>]*>([^<]*)</p>',
                      page)
    assert found is not None, box
    return html.unescape(found.group(1))


def test_the_form_page_asks_each_facility_and_refuses_beside_the_box(
        client: TestClient, ctx: Context, auth: Callable[[str], dict[str, str]]) -> None:
    _prepare(ctx)
    station, day_care = _ids(ctx)
    round_id = _open(client, auth)
    _sign_in(client, "worker_dfx")
    path = f"/reporting/rounds/{round_id}/forms/{UNIT}"
    zh = client.get(path).text
    assert "设施数据（本社区〔村〕每处设施）" in zh
    assert f"{DAY_CARE} · 床位、托位或座位数" in zh
    assert f"{STATION} · 床位、托位或座位数" not in zh
    assert _box(zh, f"facility_floor_area_m2@{station}") == "320"
    assert _box(zh, f"facility_open@{day_care}") == "1"
    token = re.search(r'name="csrf_token" value="([^"]+)"', zh)
    assert token is not None
    fields: dict[str, Any] = {
        "csrf_token": token.group(1), "action": "submit",
        f"facility_floor_area_m2@{station}": "320", f"facility_open@{station}": "1",
        f"facility_floor_area_m2@{day_care}": "180", f"facility_open@{day_care}": "是",
        f"facility_capacity@{day_care}": "25"}
    refused = client.post(path + "?lang=en", data=fields, follow_redirects=False)
    assert refused.status_code == 422
    assert _field_error(refused.text, f"facility_open@{day_care}") == (
        f"{DAY_CARE} · open (1) or closed (0) must be a number, not “是”")
    assert _box(refused.text, f"facility_open@{day_care}") == "是"  # what was typed
    fields[f"facility_open@{day_care}"] = "3"
    three = client.post(path + "?lang=zh-CN", data=fields, follow_redirects=False)
    assert three.status_code == 422
    assert _field_error(three.text, f"facility_open@{day_care}") == (
        f"{DAY_CARE} · 是否在用（在用 1，关闭 0）应为 1（在用）或 0（关闭），收到“3”")
    fields[f"facility_open@{day_care}"] = "1"
    done = client.post(path, data=fields, follow_redirects=False)
    assert done.status_code == 303, done.text
    with ctx.sessions() as session:
        stored = {v.item: v.value for v in session.scalars(select(FormValue))}
    assert stored == {f"facility_floor_area_m2@{station}": 320.0,
                      f"facility_open@{station}": 1.0,
                      f"facility_floor_area_m2@{day_care}": 180.0,
                      f"facility_open@{day_care}": 1.0,
                      f"facility_capacity@{day_care}": 25.0}
