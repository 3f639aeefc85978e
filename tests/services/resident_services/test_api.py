"""The resident-services JSON API on the seeded region: residents book, apply, volunteer and rate;
workers approve, see waitlists, confirm hours and moderate, inside their jurisdiction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

import icalendar
from fastapi.testclient import TestClient
from sqlalchemy import update

from shequ.context import Context
from shequ.registry.models import Facility
from shequ.services.bookings.clock import local_now
from shequ.services.volunteers.models import VolunteerActivity

Auth = Callable[[str], dict[str, str]]


class Seeded(Protocol):
    """The part of the services conftest's seeded region these tests use."""

    facilities: dict[str, int]

CENTRE = "多福巷社区综合服务站"
DAY_CARE = "多福巷老年人日间照料中心"


def next_weekday(days_ahead: int = 2) -> dt.date:
    """A Monday to Friday at least ``days_ahead`` days from now."""
    day = local_now().date() + dt.timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def make_room(client: TestClient, auth: Auth, seeded: Seeded, **extra: object) -> int:
    response = client.post("/api/v1/bookings/resources", headers=auth("worker_dfx"), json={
        "facility_id": seeded.facilities[CENTRE], "name": "多功能厅", "capacity": 40, **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_booking_flow_with_approval_and_jurisdiction(client: TestClient, auth: Auth,
                                                     seeded: Seeded) -> None:
    body = {"facility_id": seeded.facilities[CENTRE], "name": "x"}
    assert client.post("/api/v1/bookings/resources", json=body).status_code == 401
    assert client.post("/api/v1/bookings/resources", headers=auth("resident1"),
                       json=body).status_code == 403
    assert client.post("/api/v1/bookings/resources", headers=auth("worker_xjmx"),
                       json=body).status_code == 403
    room = make_room(client, auth, seeded)
    day = next_weekday()
    slots = client.get(f"/api/v1/bookings/resources/{room}/slots",
                       params={"from": day.isoformat(), "days": 1}).json()
    # Mo-Fr 08:30-17:30 in 60-minute slots: 08:30 … 16:30.
    assert [s["start"][11:16] for s in slots] == [f"{h:02d}:30" for h in range(8, 17)]
    start = f"{day.isoformat()}T09:30:00"
    booking = {"resource_id": room, "starts_at": start, "ends_at": f"{day.isoformat()}T11:30:00",
               "purpose": "书法班", "attendees": 12}
    created = client.post("/api/v1/bookings", headers=auth("resident1"), json=booking)
    assert created.status_code == 201, created.text
    bid = created.json()["id"]
    assert created.json()["status"] == "pending"
    again = client.post("/api/v1/bookings", headers=auth("resident2"),
                        json={**booking, "starts_at": f"{day.isoformat()}T10:30:00"})
    assert again.status_code == 422  # resident2 has no resident record: not of the township
    clash = client.post("/api/v1/bookings", headers=auth("worker_dfx"), json={
        **booking, "starts_at": f"{day.isoformat()}T10:30:00"})
    assert clash.status_code == 409 and "already booked" in clash.json()["detail"]
    assert client.post(f"/api/v1/bookings/{bid}/approve", headers=auth("worker_yz"),
                       json={}).status_code == 403
    assert client.get(f"/api/v1/bookings/{bid}", headers=auth("resident2")).status_code == 403
    pending = client.get("/api/v1/bookings/pending", headers=auth("worker_dfx")).json()
    assert [p["id"] for p in pending] == [bid]
    assert client.get("/api/v1/bookings/pending", headers=auth("worker_xjmx")).json() == []
    approved = client.post(f"/api/v1/bookings/{bid}/approve", headers=auth("worker_dfx"),
                           json={"note": "请保持整洁"})
    assert approved.json()["status"] == "approved"
    ics = client.get("/api/v1/bookings/mine.ics", headers=auth("resident1"))
    assert ics.headers["content-type"].startswith("text/calendar")
    event = next(iter(icalendar.Calendar.from_ical(ics.text).walk("VEVENT")))
    assert event.decoded("DTSTART") == dt.datetime.combine(
        day, dt.time(1, 30), tzinfo=dt.UTC)  # 09:30 China time
    utilisation = client.get("/api/v1/bookings/utilisation", headers=auth("planner_dc"),
                             params={"start": day.isoformat(),
                                     "end": (day + dt.timedelta(days=1)).isoformat()}).json()
    assert [(u["open_hours"], u["booked_hours"]) for u in utilisation] == [(9.0, 2.0)]
    cancelled = client.post(f"/api/v1/bookings/{bid}/cancel", headers=auth("resident1"))
    assert cancelled.json()["status"] == "cancelled"


def test_care_offer_moves_on_when_declined(client: TestClient, auth: Auth, seeded: Seeded,
                                           ctx: Context) -> None:
    centre = seeded.facilities[DAY_CARE]
    with ctx.sessions.begin() as s:
        s.execute(update(Facility).where(Facility.id == centre).values(capacity=1))
    first = client.post("/api/v1/care/applications", headers=auth("resident1"), json={
        "facility_id": centre, "beneficiary_name": "张三", "beneficiary_birth_date": "1949-12-31"})
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["place_no"]) == ("offered", 1)
    second = client.post("/api/v1/care/applications", headers=auth("resident2"), json={
        "facility_id": centre, "beneficiary_name": "李四", "beneficiary_birth_date": "1950-01-01",
        "priority_groups": ["living_alone"]})
    assert (second.json()["status"], second.json()["position"]) == ("waiting", 1)
    assert client.get(f"/api/v1/care/facilities/{centre}/waitlist",
                      headers=auth("worker_yz")).status_code == 403
    queue = client.get(f"/api/v1/care/facilities/{centre}/waitlist",
                       headers=auth("worker_dfx")).json()
    assert [(q["beneficiary_name"], q["points"], q["reasons"]) for q in queue] == [
        ("李四", 20, ["living_alone"])]
    other = first.json()["id"]
    assert client.post(f"/api/v1/care/applications/{other}/accept",
                       headers=auth("resident2")).status_code == 404
    declined = client.post(f"/api/v1/care/applications/{other}/decline",
                           headers=auth("resident1"))
    assert declined.json()["status"] == "declined"
    mine = client.get("/api/v1/care/applications/mine", headers=auth("resident2")).json()
    assert (mine[0]["status"], mine[0]["place_no"]) == ("offered", 1)
    accepted = client.post(f"/api/v1/care/applications/{mine[0]['id']}/accept",
                           headers=auth("resident2"))
    assert accepted.json()["status"] == "accepted"
    table = client.get("/api/v1/care/indicators", headers=auth("officer_dhm")).json()
    row = next(r for r in table if r["facility_id"] == centre)
    assert (row["capacity"], row["enrolled"], row["occupancy"]) == (1, 1, 1.0)


def test_volunteer_hours_and_reviews(client: TestClient, auth: Auth, seeded: Seeded,
                                     ctx: Context) -> None:
    assert client.post("/api/v1/volunteers/register", headers=auth("resident1"),
                       json={"display_name": "张三"}).status_code == 201
    start = local_now() + dt.timedelta(days=3)
    activity = {"division_code": "110101001001", "organiser_name": "多福巷社区",
                "title": "助老送餐", "starts_at": start.isoformat(),
                "ends_at": (start + dt.timedelta(hours=2)).isoformat()}
    assert client.post("/api/v1/volunteers/activities", headers=auth("worker_yz"),
                       json=activity).status_code == 403
    published = client.post("/api/v1/volunteers/activities", headers=auth("worker_dfx"),
                            json=activity)
    assert published.status_code == 201, published.text
    aid = published.json()["id"]
    signup = client.post(f"/api/v1/volunteers/activities/{aid}/signup",
                         headers=auth("resident1")).json()
    with ctx.sessions.begin() as s:  # the activity took place last week
        s.execute(update(VolunteerActivity).where(VolunteerActivity.id == aid).values(
            starts_at=start - dt.timedelta(days=10), ends_at=start - dt.timedelta(days=10)
            + dt.timedelta(hours=2)))
    assert client.post(f"/api/v1/volunteers/signups/{signup['id']}/hours",
                       headers=auth("resident1"), json={"minutes": 120}).status_code == 200
    pending = client.get("/api/v1/volunteers/hours/pending", headers=auth("worker_dfx")).json()
    assert [p["volunteer_name"] for p in pending] == ["张三"]
    assert client.post(f"/api/v1/volunteers/signups/{signup['id']}/confirm",
                       headers=auth("worker_xjmx"), json={}).status_code == 403
    client.post(f"/api/v1/volunteers/signups/{signup['id']}/confirm",
                headers=auth("worker_dfx"), json={"minutes": 90})
    assert client.get("/api/v1/volunteers/me", headers=auth("resident1")).json()[
        "confirmed_hours"] == 1.5
    year = (start - dt.timedelta(days=10)).year
    totals = client.get("/api/v1/volunteers/totals", headers=auth("worker_dfx"),
                        params={"period": year}).json()
    assert [(t["division_code"], t["registered_volunteers"], t["confirmed_hours"])
            for t in totals] == [("110101001001", 1, 1.5)]

    fid = str(seeded.facilities[CENTRE])
    review = {"subject_kind": "facility", "subject_id": fid, "score": 4, "comment": "很方便"}
    created = client.post("/api/v1/reviews", headers=auth("resident1"), json=review)
    assert created.status_code == 201
    assert client.post("/api/v1/reviews", headers=auth("resident1"),
                       json=review).status_code == 409
    client.post("/api/v1/reviews", headers=auth("resident2"), json={**review, "score": 2})
    queue = client.get("/api/v1/reviews/moderation", headers=auth("worker_dfx")).json()
    assert len(queue) == 2
    assert client.post(f"/api/v1/reviews/{queue[0]['id']}/moderate",
                       headers=auth("worker_xjmx"), json={"approve": True}).status_code == 403
    client.post(f"/api/v1/reviews/{created.json()['id']}/moderate", headers=auth("worker_dfx"),
                json={"approve": True})
    item = client.get(f"/api/v1/reviews/items/facility/{fid}").json()
    assert (item["mean_score"], item["count"], item["comments"]) == (3.0, 2, ["很方便"])
    scores = client.get("/api/v1/reviews/scores", headers=auth("planner_dc"),
                        params={"period": local_now().year, "level": 4}).json()
    assert scores == [{"division_code": "110101001000", "mean_score": 3.0, "count": 2}]


def test_closed_requests_are_rated_by_their_submitter(client: TestClient, auth: Auth) -> None:
    submitted = client.post("/api/v1/service-requests", headers=auth("resident1"), json={
        "service_code": "public_repair", "division_code": "110101001001",
        "attributes": {"fixture": "path"}})
    assert submitted.status_code == 201, submitted.text
    rid = str(submitted.json()["id"])
    review = {"subject_kind": "request", "subject_id": rid, "score": 5}
    early = client.post("/api/v1/reviews", headers=auth("resident1"), json=review)
    assert early.status_code == 422 and "once the request is closed" in early.text
    closed = client.post(f"/api/v1/service-requests/{rid}/actions", headers=auth("worker_dfx"),
                         json={"action": "close", "note": "修好了"})
    assert closed.status_code == 200, closed.text
    assert client.post("/api/v1/reviews", headers=auth("resident2"),
                       json=review).status_code == 404
    rated = client.post("/api/v1/reviews", headers=auth("resident1"), json=review)
    assert rated.status_code == 201
    assert rated.json()["division_code"] == "110101001001"


def test_workers_change_venue_rules_in_their_jurisdiction(client: TestClient, auth: Auth,
                                                          seeded: Seeded) -> None:
    room = make_room(client, auth, seeded)
    path = f"/api/v1/bookings/resources/{room}"
    assert client.patch(path, headers=auth("worker_xjmx"),
                        json={"approval_required": False}).status_code == 403
    changed = client.patch(path, headers=auth("officer_dhm"), json={
        "approval_required": False, "booker_scope": "anyone", "slot_minutes": 30,
        "allowed_roles": ["resident"]})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["approval_required"], body["booker_scope"], body["slot_minutes"],
            body["allowed_roles"]) == (False, "anyone", 30, ["resident"])
    bad = client.patch(path, headers=auth("officer_dhm"), json={"opening_hours": "Mo-Fr 25:00"})
    assert bad.status_code == 422
    closed = client.patch(path, headers=auth("worker_dfx"), json={"active": False})
    assert closed.json()["id"] == room
    assert room not in [r["id"] for r in client.get("/api/v1/bookings/resources").json()]


def test_the_settle_button_answers_with_the_new_offers(client: TestClient, auth: Auth,
                                                       seeded: Seeded, ctx: Context) -> None:
    centre = seeded.facilities[DAY_CARE]
    with ctx.sessions.begin() as s:
        s.execute(update(Facility).where(Facility.id == centre).values(capacity=0))
    waiting = client.post("/api/v1/care/applications", headers=auth("resident1"), json={
        "facility_id": centre, "beneficiary_name": "王五", "beneficiary_birth_date": "1945-05-05"})
    assert waiting.json()["status"] == "waiting"
    client.get(f"/api/v1/care/facilities/{centre}/waitlist", headers=auth("worker_dfx"))
    with ctx.sessions.begin() as s:
        s.execute(update(Facility).where(Facility.id == centre).values(capacity=1))
    offered = client.post(f"/api/v1/care/facilities/{centre}/settle",
                          headers=auth("worker_dfx")).json()
    assert [(o["id"], o["status"], o["place_no"]) for o in offered] == [
        (waiting.json()["id"], "offered", 1)]
