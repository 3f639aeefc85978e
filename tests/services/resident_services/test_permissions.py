"""The permission matrix of the resident-services endpoints: every seeded role (and anonymous) ×
every protected endpoint, on records inside (多福巷) and outside (西交民巷) 东华门街道.

State-changing cases get a fresh record for each caller (``setup``), so that every
caller meets the same state and the status says only whether they may act.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from shequ.context import Context
from shequ.registry.models import Facility
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import BookerScope
from shequ.services.bookings.rules import Booker
from shequ.services.care import service as cs
from shequ.services.care.rules import load_priority_rules
from shequ.services.reviews import service as rv
from shequ.services.volunteers import service as vs
from shequ.services.volunteers.models import OrganiserKind, VolunteerActivity

from ..conftest import USERS  # noqa: TID252 (the services fixtures' seeded users)
from .helpers import add_accounts

ROLES = [*USERS, None]
STAFF = set(USERS) - {"resident1", "resident2"}
HANDLERS = {"worker_dfx", "worker_yz", "officer_dhm", "admin", "worker_xjmx"}
INSIDE_HANDLERS = {"worker_dfx", "officer_dhm", "admin"}
OUTSIDE_HANDLERS = {"worker_xjmx", "admin"}
RULES = load_priority_rules()
Auth = Callable[[str], dict[str, str]]


def expect(user: str | None, allowed: set[str], *, ok: int = 200, denied: int = 403) -> int:
    if user is None:
        return 401
    return ok if user in allowed else denied


class World:
    """Fixtures of the matrix: venues, a day-care centre, fresh records on demand."""

    def __init__(self, ctx: Context, seeded: Any) -> None:
        self.ctx = ctx
        self.counter = itertools.count()
        self.resident1 = seeded.users["resident1"]
        with ctx.sessions.begin() as s:
            def fid(name: str) -> int:
                return int(s.scalar(select(Facility.id).where(Facility.name == name)) or 0)

            self.centre_in = fid("多福巷社区综合服务站")
            self.centre_out = fid("西交民巷社区综合服务站")
            self.day_care = fid("多福巷老年人日间照料中心")
            s.execute(update(Facility).where(Facility.id == self.day_care).values(capacity=1000))
            self.room = bs.create_resource(
                s, facility_id=self.centre_in, name="活动室", opening_hours="Mo-Su 00:00-24:00",
                booker_scope=BookerScope.ANYONE, max_advance_days=60).id
            vs.register(s, user_id=self.resident1, division_code="110101001001",
                        display_name="张三")
        self.start = dt.datetime.combine(local_now().date() + dt.timedelta(days=2), dt.time())

    def booking(self) -> dict[str, int]:
        k = next(self.counter)
        with self.ctx.sessions.begin() as s:
            start = self.start + dt.timedelta(hours=k)
            b = bs.book(s, resource_id=self.room,
                        booker=Booker(self.resident1, "resident", "110101001001"),
                        starts_at=start, ends_at=start + dt.timedelta(hours=1), purpose="会议")
            return {"id": b.id}

    def offer(self) -> dict[str, int]:
        k = next(self.counter)
        with self.ctx.sessions.begin() as s:
            app = cs.apply(s, RULES, facility_id=self.day_care, applicant_user_id=self.resident1,
                           beneficiary_name=f"老人{k}", beneficiary_birth_date=dt.date(1940, 1, 1),
                           division_code="110101001001")
            cs.offer_place(s, RULES, app.id)
            return {"id": app.id}

    def recorded_hours(self) -> dict[str, int]:
        start = local_now() + dt.timedelta(days=1)
        with self.ctx.sessions.begin() as s:
            act = vs.publish(s, division_code="110101001001",
                             organiser_kind=OrganiserKind.COMMUNITY, organiser_name="居委会",
                             organiser_user_id=1, title="清扫", starts_at=start,
                             ends_at=start + dt.timedelta(hours=2))
            row = vs.sign_up(s, activity_id=act.id, user_id=self.resident1)
            s.execute(update(VolunteerActivity).where(VolunteerActivity.id == act.id).values(
                starts_at=start - dt.timedelta(days=3),
                ends_at=start - dt.timedelta(days=3, hours=-2)))
            s.flush()
            vs.record_hours(s, row.id, minutes=60, recorded_by=self.resident1)
            return {"id": row.id}

    def review(self) -> dict[str, int]:
        k = next(self.counter)
        with self.ctx.sessions.begin() as s:
            add_accounts(s, [10_000 + k])
            r = rv.submit(s, user_id=10_000 + k, subject_kind="facility",
                          subject_id=str(self.centre_in), score=3, comment="还行")
            return {"id": r.id}


Case = tuple[str, str, str, Any, Callable[[World], dict[str, int]] | None,
             Callable[[str | None], int]]


def none(_: World) -> dict[str, int]:
    return {}


CASES: list[Case] = [
    ("public venues", "GET", "/api/v1/bookings/resources", None, None, lambda u: 200),
    ("public care places", "GET", "/api/v1/care/facilities", None, None, lambda u: 200),
    ("public priority rules", "GET", "/api/v1/care/rules", None, None, lambda u: 200),
    ("public activities", "GET", "/api/v1/volunteers/activities", None, None, lambda u: 200),
    ("public item score", "GET", "/api/v1/reviews/items/facility/1", None, None,
     lambda u: 200),
    ("open venue inside", "POST", "/api/v1/bookings/resources",
     lambda w: {"facility_id": w.centre_in, "name": "会议室"}, None,
     lambda u: expect(u, INSIDE_HANDLERS, ok=201)),
    ("open venue outside", "POST", "/api/v1/bookings/resources",
     lambda w: {"facility_id": w.centre_out, "name": "会议室"}, None,
     lambda u: expect(u, OUTSIDE_HANDLERS, ok=201)),
    ("change venue rules inside", "PATCH", "/api/v1/bookings/resources/{room}",
     {"max_advance_days": 60}, lambda w: {"room": w.room}, lambda u: expect(u, INSIDE_HANDLERS)),
    ("read a resident's booking", "GET", "/api/v1/bookings/{id}", None, World.booking,
     lambda u: expect(u, INSIDE_HANDLERS | {"resident1"})),
    ("approve booking inside", "POST", "/api/v1/bookings/{id}/approve", {}, World.booking,
     lambda u: expect(u, INSIDE_HANDLERS)),
    ("reject booking inside", "POST", "/api/v1/bookings/{id}/reject", {}, World.booking,
     lambda u: expect(u, INSIDE_HANDLERS)),
    ("cancel a resident's booking", "POST", "/api/v1/bookings/{id}/cancel", None,
     World.booking, lambda u: expect(u, INSIDE_HANDLERS | {"resident1"})),
    ("venue calendar", "GET", "/api/v1/bookings/resources/{room}/calendar.ics", None,
     lambda w: {"room": w.room}, lambda u: expect(u, INSIDE_HANDLERS)),
    ("bookings to approve", "GET", "/api/v1/bookings/pending", None, None,
     lambda u: expect(u, HANDLERS)),
    ("utilisation", "GET", "/api/v1/bookings/utilisation?start=2026-01-01&end=2026-02-01",
     None, None, lambda u: expect(u, STAFF)),
    ("waitlist inside", "GET", "/api/v1/care/facilities/{day_care}/waitlist", None,
     lambda w: {"day_care": w.day_care}, lambda u: expect(u, INSIDE_HANDLERS)),
    ("offer free places inside", "POST", "/api/v1/care/facilities/{day_care}/settle", None,
     lambda w: {"day_care": w.day_care}, lambda u: expect(u, INSIDE_HANDLERS)),
    ("accept someone's offer", "POST", "/api/v1/care/applications/{id}/accept", None,
     World.offer, lambda u: expect(u, {"resident1"}, denied=404)),
    ("care indicators", "GET", "/api/v1/care/indicators", None, None,
     lambda u: expect(u, STAFF)),
    ("publish activity inside", "POST", "/api/v1/volunteers/activities",
     lambda w: {"division_code": "110101001001", "organiser_name": "居委会", "title": "义诊",
                "starts_at": (w.start + dt.timedelta(days=1)).isoformat(),
                "ends_at": (w.start + dt.timedelta(days=1, hours=2)).isoformat()}, None,
     lambda u: expect(u, INSIDE_HANDLERS, ok=201)),
    ("confirm hours inside", "POST", "/api/v1/volunteers/signups/{id}/confirm", {},
     World.recorded_hours, lambda u: expect(u, INSIDE_HANDLERS)),
    ("hours to confirm", "GET", "/api/v1/volunteers/hours/pending", None, None,
     lambda u: expect(u, HANDLERS)),
    ("volunteer totals", "GET", "/api/v1/volunteers/totals?period=2026", None, None,
     lambda u: expect(u, STAFF)),
    ("moderate review inside", "POST", "/api/v1/reviews/{id}/moderate", {"approve": False},
     World.review, lambda u: expect(u, INSIDE_HANDLERS)),
    ("residents rate, staff do not", "POST", "/api/v1/reviews",
     lambda w: {"subject_kind": "facility", "subject_id": str(w.centre_in), "score": 4},
     None, lambda u: expect(u, {"resident1", "resident2"}, ok=201)),
    ("comments to moderate", "GET", "/api/v1/reviews/moderation", None, None,
     lambda u: expect(u, HANDLERS)),
    ("review scores", "GET", "/api/v1/reviews/scores?period=2026", None, None,
     lambda u: expect(u, STAFF)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_resident_services_permission_matrix(case: Case, client: TestClient, ctx: Context,
                                             seeded: Any, auth: Auth) -> None:
    name, method, template, body, setup, expected = case
    world = World(ctx, seeded)
    got, want = {}, {}
    for user in ROLES:
        params = (setup or none)(world)
        payload = body(world) if callable(body) else body
        path = template.format(**params)
        response = client.request(method, path, headers=auth(user) if user else {},
                                  json=payload)
        got[user] = response.status_code
        want[user] = expected(user)
    assert got == want, name


def test_lists_hold_only_the_jurisdiction(client: TestClient, ctx: Context, seeded: Any,
                                          auth: Auth) -> None:
    world = World(ctx, seeded)
    booking = world.booking()["id"]
    review = world.review()["id"]
    for user, sees in (("worker_dfx", True), ("officer_dhm", True), ("worker_yz", False),
                       ("worker_xjmx", False)):
        pending = client.get("/api/v1/bookings/pending", headers=auth(user)).json()
        assert ([b["id"] for b in pending] == [booking]) is sees, user
        queue = client.get("/api/v1/reviews/moderation", headers=auth(user)).json()
        assert ([r["id"] for r in queue] == [review]) is sees, user


@pytest.mark.parametrize("path", ["/bookings/manage", "/care/manage"])
def test_handlers_pages_by_role(path: str, client: TestClient, auth: Auth) -> None:
    """A handler's page: handlers see it, every other role gets the HTML 403 page, an
    anonymous reader is sent to sign in."""
    got, want = {}, {}
    for user in ROLES:
        response = client.get(path, headers=auth(user) if user else {},
                              follow_redirects=False)
        kind = response.headers.get("content-type", "").split(";")[0]
        got[user] = (response.status_code, kind if response.status_code != 303 else
                     response.headers["location"])
        want[user] = ((303, f"/login?next={path}") if user is None else
                      (200, "text/html") if user in HANDLERS else (403, "text/html"))
    assert got == want
