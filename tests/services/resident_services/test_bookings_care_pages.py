"""The bookings and care-place pages on the page frame, on SQLite and PostgreSQL: a
resident's form with a wrong value is drawn again (422) with the problem beside its field
in the reader's language and everything else as typed; forms that work go back with a
message key; handlers' pages are the HTML 403 page for residents; the words are the
catalog's (no Latin word on a Chinese page, no Han on an English one, but for names)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Facility
from shequ.services.accounts import AuditLog
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import Booking
from shequ.services.care.models import CareApplication

from ..conftest import PASSWORD, Seeded, seed, services_settings  # noqa: TID252

CENTRE = "多福巷社区综合服务站"
DAY_CARE = "多福巷老年人日间照料中心"
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9²]*")
LATIN_ALLOWED = {"API", "HSDS", "Open311", "Shequ", "m²", "iCalendar"}


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    """The app over a seeded database of each back-end."""
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    from shequ.app import create_app

    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, seeded
    ctx.close()


def sign_in(client: TestClient, username: str) -> None:
    page = client.get("/login")
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": csrf_of(page.text)},
                       follow_redirects=False)
    assert done.status_code == 303


def csrf_of(html: str) -> str:
    match = (re.search(r'name="csrf_token" value="([^"]+)"', html)
             or re.search(r'value="([^"]+)" name="csrf_token"', html))
    assert match, "the page has no form token"
    return match.group(1)


def main_text(html: str) -> str:
    """The words of the page's <main>, tags and the data the test typed taken out."""
    main = html.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<[^>]+>", " ", main)
    return unescape(main)


def field_error(html: str, name: str) -> str:
    """The text of the problem beside field ``name`` (empty when there is none)."""
    match = re.search(rf'<p class="field-error" id="{name}-error"[^>]*>([^<]*)</p>', html)
    return unescape(match.group(1)) if match else ""


def input_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input id="{name}" name="{name}"[^>]*value="([^"]*)"', html)
    return unescape(match.group(1)) if match else None


def next_weekday() -> dt.date:
    day = local_now().date() + dt.timedelta(days=2)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def make_room(ctx: Context, seeded: Seeded, **rules: Any) -> int:
    with ctx.sessions.begin() as s:
        return bs.create_resource(s, facility_id=seeded.facilities[CENTRE], name="书画室",
                                  **rules).id


@pytest.mark.parametrize(("lang", "capacity_text", "number_text"), [
    ("zh-CN", "30 人超过场地容量 20 人", "人数超出允许的范围"),
    ("en", "30 people exceed the venue's capacity of 20", "Number of people is outside the "
     "allowed range"),
])
def test_a_booking_over_capacity_is_shown_beside_the_attendees(
        served: tuple[TestClient, Context, Seeded], lang: str, capacity_text: str,
        number_text: str) -> None:
    client, ctx, seeded = served
    room = make_room(ctx, seeded, capacity=20)
    day = next_weekday()
    sign_in(client, "resident1")
    grid = client.get(f"/bookings/resources/{room}?day={day.isoformat()}&lang={lang}")
    assert grid.status_code == 200
    who = re.search(r'data-testid="who-may-book">([^<]*)<', grid.text)
    assert who and unescape(who.group(1)) == (
        "可预约：居民、社区工作者（限场地所在街道（乡镇））" if lang == "zh-CN" else
        "Who may book: resident, community worker (of the venue's street or township)")
    # Mo-Fr 08:30-17:30 of the service station, in the reader's words.
    assert ("周一至周五 08:30–17:30" if lang == "zh-CN" else "Mon to Fri 08:30–17:30") in grid.text
    form = {"csrf_token": csrf_of(grid.text), "resource_id": str(room),
            "starts_at": f"{day.isoformat()}T09:30", "slots": "2", "purpose": "老年书法班"}

    over = client.post("/bookings/book", data={**form, "attendees": "30"})
    assert over.status_code == 422
    assert field_error(over.text, "attendees") == capacity_text
    assert input_value(over.text, "purpose") == "老年书法班"
    assert input_value(over.text, "slots") == "2"
    assert input_value(over.text, "attendees") == "30"
    tag = re.search(r'<input id="attendees"[^>]*>', over.text)
    assert tag and 'aria-invalid="true"' in tag.group(0)
    assert 'aria-describedby="attendees-error"' in tag.group(0)
    assert 'href="#attendees"' in over.text  # the summary links to the field

    none = client.post("/bookings/book", data={**form, "attendees": "0"})
    assert none.status_code == 422
    assert field_error(none.text, "attendees") == number_text
    with ctx.sessions() as s:
        assert s.scalars(select(Booking)).all() == []

    done = client.post("/bookings/book", data={**form, "attendees": "12"},
                       follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/bookings?msg=resident_services.booked_pending"
    with ctx.sessions() as s:
        booking = s.scalars(select(Booking)).one()
        assert (booking.starts_at, booking.ends_at, booking.attendees) == (
            dt.datetime.combine(day, dt.time(9, 30)), dt.datetime.combine(day, dt.time(11, 30)),
            12)
        audited = s.scalars(select(AuditLog).where(AuditLog.entity == "booking")).one()
        assert (audited.action, audited.entity_id) == ("create", str(booking.id))
    # The times the resident chose, as China time (not read as UTC and moved 8 hours).
    mine = client.get("/bookings").text
    shown = (f"{day.year}/{day.month}/{day.day} 09:30–11:30" if lang == "zh-CN"
             else f"{day:%d/%m/%Y}, 09:30–11:30")
    assert shown in mine


@pytest.mark.parametrize(("lang", "missing", "too_young"), [
    ("zh-CN", "服务对象姓名不能为空", "日间照料名额面向 60 周岁及以上老人"),
    ("en", "Beneficiary's name is required", "day-care places are for people aged 60 or over"),
])
def test_a_care_application_keeps_what_was_typed(
        served: tuple[TestClient, Context, Seeded], lang: str, missing: str,
        too_young: str) -> None:
    client, ctx, seeded = served
    centre = seeded.facilities[DAY_CARE]
    sign_in(client, "resident1")
    page = client.get(f"/care?lang={lang}")
    form = {"csrf_token": csrf_of(page.text), "facility_id": str(centre),
            "priority_groups": ["living_alone", "disability"]}
    young = client.post("/care/apply", data={**form, "beneficiary_name": "张小明",
                                             "beneficiary_birth_date": "2001-02-03"})
    assert young.status_code == 422
    assert field_error(young.text, "beneficiary_birth_date") == too_young
    assert input_value(young.text, "beneficiary_name") == "张小明"
    assert input_value(young.text, "beneficiary_birth_date") == "2001-02-03"
    for group in ("living_alone", "disability"):
        assert re.search(rf'value="{group}"[^>]*checked', young.text), group
    assert not re.search(r'value="family_in_difficulty"[^>]*checked', young.text)
    assert re.search(rf'<option value="{centre}" selected>', young.text)

    blank = client.post("/care/apply", data={**form, "beneficiary_name": " ",
                                             "beneficiary_birth_date": "1949-12-31"})
    assert blank.status_code == 422
    assert field_error(blank.text, "beneficiary_name") == missing
    assert input_value(blank.text, "beneficiary_birth_date") == "1949-12-31"
    with ctx.sessions() as s:
        assert s.scalars(select(CareApplication)).all() == []


def test_the_venue_form_of_the_handler(served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    sign_in(client, "worker_dfx")
    page = client.get("/bookings/manage?lang=en")
    assert page.status_code == 200
    # The facilities of the worker's community that take venues: the service station only.
    assert re.findall(r'<option value="(\d+)"', page.text) == [str(seeded.facilities[CENTRE])]
    form = {"csrf_token": csrf_of(page.text), "facility_id": str(seeded.facilities[CENTRE]),
            "name": "多功能厅", "capacity": "40", "approval_required": "true"}
    short = client.post("/bookings/resources-form", data={**form, "slot_minutes": "3"})
    assert short.status_code == 422
    assert field_error(short.text, "slot_minutes") == "Slot length (minutes) is outside " \
        "the allowed range"
    assert input_value(short.text, "name") == "多功能厅"
    assert input_value(short.text, "capacity") == "40"
    assert re.search(r'name="approval_required" value="true" checked', short.text)
    assert not re.search(r'name="allow_series" value="true" checked', short.text)
    done = client.post("/bookings/resources-form", data={**form, "slot_minutes": "30"},
                       follow_redirects=False)
    assert done.headers["location"] == "/bookings/manage?msg=resident_services.resource_created"
    with ctx.sessions() as s:
        rooms = [(r.name, r.capacity, r.slot_minutes, r.approval_required, r.allow_series)
                 for r, _ in bs.resources_in(s)]
    assert rooms == [("多功能厅", 40, 30, True, False)]


def test_residents_get_the_403_page_of_the_handlers_pages(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, _ = served
    sign_in(client, "resident1")
    for path in ("/bookings/manage", "/care/manage"):
        zh = client.get(path + "?lang=zh-CN")
        assert zh.status_code == 403
        assert zh.headers["content-type"].startswith("text/html")
        assert "社区工作者" in zh.text  # the roles the page needs, in the reader's words
        en = client.get(path + "?lang=en")
        assert en.status_code == 403 and "community worker" in en.text.lower()


def test_approve_cancel_and_the_conflicts_shown_on_the_page(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    room = make_room(ctx, seeded)
    day = next_weekday()
    sign_in(client, "resident1")
    grid = client.get(f"/bookings/resources/{room}?day={day.isoformat()}")
    client.post("/bookings/book", data={
        "csrf_token": csrf_of(grid.text), "resource_id": str(room),
        "starts_at": f"{day.isoformat()}T14:30", "purpose": "读书会"})
    with ctx.sessions() as s:
        booking = s.scalars(select(Booking)).one().id

    sign_in(client, "worker_yz")  # another community: not theirs to decide
    page = client.get("/bookings/manage")
    assert f'data-booking="{booking}"' not in page.text
    refused = client.post(f"/bookings/{booking}/decide",
                          data={"csrf_token": csrf_of(page.text), "decision": "approve"})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith(
        "text/html")

    sign_in(client, "worker_dfx")
    page = client.get("/bookings/manage")
    long_note = {"csrf_token": csrf_of(page.text), "decision": "approve", "note": "好" * 501}
    too_long = client.post(f"/bookings/{booking}/decide", data=long_note)
    assert too_long.status_code == 422
    assert field_error(too_long.text, "note") == "备注最多 500 个字符"
    approved = client.post(f"/bookings/{booking}/decide", data={
        **long_note, "note": "请保持整洁"}, follow_redirects=False)
    assert approved.headers["location"] == "/bookings/manage?msg=resident_services.approved"
    again = client.post(f"/bookings/{booking}/decide", data={**long_note, "note": ""})
    assert again.status_code == 409
    assert "该预约已不在待审批状态" in again.text

    sign_in(client, "resident1")
    mine = client.get("/bookings")
    token = csrf_of(mine.text)
    cancelled = client.post(f"/bookings/{booking}/cancel-form", data={"csrf_token": token},
                            follow_redirects=False)
    assert cancelled.headers["location"] == "/bookings?msg=resident_services.cancelled"
    twice = client.post(f"/bookings/{booking}/cancel-form?lang=en",
                        data={"csrf_token": token})
    assert twice.status_code == 409
    assert "This booking is already cancelled, rejected or over." in twice.text


def test_a_care_offer_from_the_page_and_the_handlers_waitlist(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    centre = seeded.facilities[DAY_CARE]
    with ctx.sessions.begin() as s:
        s.execute(update(Facility).where(Facility.id == centre).values(capacity=1))
    sign_in(client, "resident1")
    page = client.get("/care")
    token = csrf_of(page.text)
    first = client.post("/care/apply", data={
        "csrf_token": token, "facility_id": str(centre), "beneficiary_name": "张三",
        "beneficiary_birth_date": "1949-12-31"}, follow_redirects=False)
    assert first.headers["location"] == "/care?msg=resident_services.offered_now"
    second = client.post("/care/apply", data={
        "csrf_token": token, "facility_id": str(centre), "beneficiary_name": "李四",
        "beneficiary_birth_date": "1940-01-01", "priority_groups": "living_alone"},
        follow_redirects=False)
    assert second.headers["location"] == "/care?msg=resident_services.applied"
    mine = client.get("/care?lang=en")
    assert "Number 1 in the queue" in mine.text
    duplicate = client.post("/care/apply?lang=en", data={
        "csrf_token": token, "facility_id": str(centre), "beneficiary_name": "李四",
        "beneficiary_birth_date": "1940-01-01"})
    assert duplicate.status_code == 409
    assert "李四 already has an open application" in duplicate.text

    sign_in(client, "worker_dfx")
    for lang, reasons in (("zh-CN", "80周岁及以上、独居或空巢老人"),
                          ("en", "aged 80 or over, living alone or empty-nest elderly")):
        desk = client.get(f"/care/manage?lang={lang}")
        assert desk.status_code == 200
        queue = desk.text.split(f'data-testid="queue-{centre}"')[1].split("</table>")[0]
        assert re.findall(r'data-testid="reasons">([^<]*)<', queue) == [reasons]
        assert ("本系统默认优先积分" if lang == "zh-CN"
                else "Shequ default priority points") in desk.text
    with ctx.sessions() as s:
        reads = s.scalars(select(AuditLog).where(AuditLog.entity == "care_waitlist")).all()
        assert [(r.action, r.entity_id) for r in reads] == [("read", str(centre))] * 2


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_words_are_the_pages_language(served: tuple[TestClient, Context, Seeded],
                                          lang: str) -> None:
    client, ctx, seeded = served
    room = make_room(ctx, seeded, allow_series=True)
    with ctx.sessions.begin() as s:
        s.execute(update(Facility).where(Facility.id == seeded.facilities[DAY_CARE])
                  .values(capacity=2))
    names = {CENTRE, DAY_CARE, "书画室", "居民", "西交民巷社区综合服务站"}
    for user, paths in (("resident1", ["/bookings", f"/bookings/resources/{room}", "/care"]),
                        ("worker_dfx", ["/bookings/manage", "/care/manage"])):
        sign_in(client, user)
        for path in paths:
            page = client.get(f"{path}?lang={lang}")
            assert page.status_code == 200, path
            assert f'<html lang="{lang}">' in page.text
            text = main_text(page.text)
            for name in names:
                text = text.replace(name, " ")
            if lang == "zh-CN":
                latin = set(LATIN_WORD.findall(text)) - LATIN_ALLOWED
                assert latin == set(), (path, latin)
            else:
                assert HAN.findall(text) == [], (path, text)


@pytest.mark.parametrize(("lang", "taken", "capacity"), [
    ("zh-CN", "以下时段已被预约：{day} 10:30。请另选空闲时段。", "41 人超过场地容量 40 人"),
    ("en", "The venue is already booked at {day} 10:30; choose a free slot.",
     "41 people exceed the venue's capacity of 40"),
])
def test_the_api_says_booking_problems_in_the_asked_language(
        served: tuple[TestClient, Context, Seeded], lang: str, taken: str,
        capacity: str) -> None:
    client, ctx, seeded = served
    room = make_room(ctx, seeded, capacity=40)
    day = next_weekday()
    headers = {"Authorization": f"Bearer {seeded.tokens['resident1']}",
               "Accept-Language": lang}
    booking = {"resource_id": room, "starts_at": f"{day.isoformat()}T09:30:00",
               "ends_at": f"{day.isoformat()}T11:30:00", "purpose": "书法班", "attendees": 12}
    assert client.post("/api/v1/bookings", headers=headers, json=booking).status_code == 201
    clash = client.post("/api/v1/bookings", headers=headers, json={
        **booking, "starts_at": f"{day.isoformat()}T10:30:00",
        "ends_at": f"{day.isoformat()}T11:30:00"})
    assert clash.status_code == 409
    assert (clash.json()["code"], clash.json()["detail"]) == (
        "bookings.slots_taken", taken.format(day=day.isoformat()))
    crowd = client.post("/api/v1/bookings", headers=headers, json={
        **booking, "starts_at": f"{day.isoformat()}T13:30:00",
        "ends_at": f"{day.isoformat()}T14:30:00", "attendees": 41})
    assert crowd.status_code == 422
    assert [(p["code"], p["detail"]) for p in crowd.json()["problems"]] == [
        ("bookings.over_capacity", capacity)]
