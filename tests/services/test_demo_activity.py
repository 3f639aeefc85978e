"""The demo county's life: bookings, volunteering, care places, reviews and requests made
by synthetic residents through the services' own rules, with work waiting on every staff
workbench, made once per build (a real SQLite file, then a PostgreSQL database made for
the module).

The expected numbers follow from the plan written in ``shequ.services.demo_activity`` for
the demo's default seed, where the demo worker's community (诸福屯社区) has three
bookable venues and its street (诸福屯街道) two of its own and one sports field; the
community's day-care centre, which the demo worker records, has 20 places.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequ.app import create_app
from shequ.context import Context
from shequ.ingest.build import build_demo
from shequ.registry import queries
from shequ.registry.models import Facility
from shequ.services.accounts import User
from shequ.services.accounts.demo import DEMO_PASSWORD, ensure_demo_accounts
from shequ.services.bookings import service as bookings
from shequ.services.bookings.clock import to_utc
from shequ.services.bookings.models import BookableResource, Booking, BookingStatus
from shequ.services.care import service as care
from shequ.services.care.models import CareApplication
from shequ.services.care.rules import load_priority_rules
from shequ.services.demo_activity import KINDS, MARK, populate_demo_activity
from shequ.services.requests.models import ServiceRequest, ServiceRequestEvent
from shequ.services.reviews import service as reviews
from shequ.services.reviews.models import Review
from shequ.services.volunteers import service as volunteers
from shequ.services.volunteers.models import Volunteer, VolunteerActivity, VolunteerSignup
from shequ.settings import Settings
from tests.conftest import scratch_postgres_database

# A Wednesday morning, China Standard Time without a zone, as the services keep it.
NOW = dt.datetime(2025, 6, 18, 10, 0)  # noqa: DTZ001
COUNTY = "130123000000"
COMMUNITY = "130123001001"  # the demo worker's
PLACES = 20  # of the community's day-care centre

# 4 venues need approval (two rooms of the community, the street's meeting room, the
# sports field), 2 do not: per venue 2 past bookings, then 4 (or 3) in the next days;
# the demo resident adds 3.  Care: 20 + 6 + 1 day-care applications and 3 for a nursery.
MADE = {"residents": 12, "facilities": 1, "resources": 6, "bookings": 6 * 2 + 4 * 4 + 2 * 3 + 3,
        "care_applications": PLACES + 7 + 3, "volunteers": 9, "activities": 7,
        "signups": 5 + 4 + 5 + 3 + 4 + 3 + 2, "requests": 13,
        "request_events": 1 + 1 + 2 + 3 + 4 + 5 + 7 + 2 + 7 + 1 + 4 + 1 + 6, "reviews": 16}
TABLES: tuple[Any, ...] = (User, Facility, BookableResource, Booking, CareApplication,
                           Volunteer, VolunteerActivity, VolunteerSignup, ServiceRequest,
                           ServiceRequestEvent, Review)


@contextmanager
def _database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder}/shequ.sqlite3"
        return
    with scratch_postgres_database("shequ_demo_life") as url:
        yield url


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def lived_in(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Context, dict[str, int]]]:
    """The demo county with its accounts and activity, on each back-end."""
    folder = tmp_path_factory.mktemp("demo-life")
    with _database(request.param, folder) as url:
        ctx = Context.open(Settings(data_dir=folder / "data", database_url=url,
                                    environment="test"))
        built = build_demo(ctx)
        with ctx.sessions() as session:
            ensure_demo_accounts(session, county_code=built.county_code, environment="test")
            session.commit()
            made = populate_demo_activity(session, county_code=built.county_code,
                                          seed=built.seed, now=NOW)
            session.commit()
        yield ctx, made
        ctx.close()


def _by(session: Session, column: Any) -> dict[str, int]:
    """Rows per value of ``column``."""
    return {str(k): int(n) for k, n in session.execute(
        select(column, func.count()).group_by(column))}


def _user(session: Session, username: str) -> User:
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None, username
    return found


def test_it_reports_what_it_made(lived_in: tuple[Context, dict[str, int]]) -> None:
    _, made = lived_in
    assert made == MADE
    assert list(made) == list(KINDS)


def test_every_state_of_every_service_is_there(
        lived_in: tuple[Context, dict[str, int]]) -> None:
    ctx, _ = lived_in
    with ctx.sessions() as session:
        # Past: 12 + the resident's 1; next days: 4 by approval, 2 × 2 at once, the resident's 1.
        assert _by(session, Booking.status) == {"approved": 13 + 4 + 4 + 1, "pending": 4 + 1,
                                                "rejected": 4, "cancelled": 4 + 2}
        day_care = session.scalars(select(Facility).where(
            Facility.name == "诸福屯社区老年人日间照料中心")).one()
        assert day_care.capacity == PLACES
        assert _by(session, CareApplication.status) == {
            "accepted": PLACES - 1 + 1, "ended": 1, "declined": 1 + 1, "withdrawn": 1,
            "offered": 1 + 1, "waiting": 4}
        assert care.free_places(session, day_care.id) == []  # taken to the last place
        assert _by(session, ServiceRequest.status) == {
            "submitted": 4, "accepted": 2, "assigned": 1, "in_progress": 2, "resolved": 1,
            "closed": 3}
        open_states = ("submitted", "accepted", "assigned", "in_progress")
        overdue = session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.status.in_(open_states),
            ServiceRequest.deadline_at < to_utc(NOW)))
        assert overdue == 3  # help for an elderly resident, a broken light, a complaint
        assert session.scalar(select(func.count()).select_from(ServiceRequest).where(
            ServiceRequest.reopen_count == 1, ServiceRequest.status == "accepted")) == 1
        assert _by(session, VolunteerSignup.hours_status) == {
            "confirmed": 8, "rejected": 1, "recorded": 7, "none": 10}
        assert _by(session, VolunteerSignup.status) == {"signed_up": 25, "withdrawn": 1}
        upcoming = volunteers.activities_in(session, starting_after=NOW)
        assert len(upcoming) == 3
        assert _by(session, Review.comment_status) == {
            "approved": 3, "hidden": 1, "none": 4, "pending": 8}
        assert _by(session, Review.subject_kind) == {
            "facility": 9, "booking": 3, "volunteer_activity": 2, "care_place": 1,
            "request": 1}


def test_venues_keep_free_slots_in_the_next_days(
        lived_in: tuple[Context, dict[str, int]]) -> None:
    ctx, _ = lived_in
    with ctx.sessions() as session:
        venues = bookings.resources_in(session, division_prefix=COUNTY[:6])
        assert len(venues) == 6
        for res, _facility in venues:
            start = dt.datetime.combine(NOW.date() + dt.timedelta(days=1), dt.time())
            views = bookings.slot_views(session, res.id, start, start + dt.timedelta(days=7))
            held = sum(len(bookings.slot_views(session, res.id, b.starts_at, b.ends_at))
                       for b, r, _ in bookings.bookings_in(session, division_prefix=COUNTY[:6])
                       if r.id == res.id and start <= b.starts_at < start + dt.timedelta(days=7))
            # The slots taken are exactly those of the active bookings; most stay free.
            assert sum(v.taken for v in views) == held
            assert sum(not v.taken for v in views) > len(views) // 2 > 0


def test_everything_it_wrote_says_it_is_synthetic(
        lived_in: tuple[Context, dict[str, int]]) -> None:
    ctx, _ = lived_in
    with ctx.sessions() as session:
        assert all(b.purpose.endswith(MARK) for b in session.scalars(select(Booking)))
        assert all(r.name.endswith(MARK) for r in session.scalars(select(BookableResource)))
        assert all((r.description or "").endswith(MARK)
                   for r in session.scalars(select(ServiceRequest)))
        assert all(a.description.endswith(MARK)
                   for a in session.scalars(select(VolunteerActivity)))
        assert all(r.comment is None or r.comment.endswith(MARK)
                   for r in session.scalars(select(Review)))
        synthetic = session.scalars(select(User).where(
            User.username.startswith("demo_resident_", autoescape=True))).all()
        assert len(synthetic) == 12 and all("合成" in u.display_name for u in synthetic)
        info = queries.meta(session)
        assert info["activity_source"] == "synthetic: shequ demo activity, seed 20220101"
        assert info["activity_now"] == "2025-06-18T10:00"


def _workbench(client: TestClient, username: str) -> dict[str, int]:
    client.cookies.clear()
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    signed = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                         "csrf_token": csrf.group(1)},
                         follow_redirects=False)
    assert signed.headers["location"] == "/work", username
    page = client.get("/work")
    assert page.status_code == 200
    return {key: int(n) for key, n in re.findall(r'data-testid="count-(\w+)">(\d+)<',
                                                  page.text)}


def test_every_staff_workbench_has_work_waiting(
        lived_in: tuple[Context, dict[str, int]]) -> None:
    ctx, _ = lived_in
    with TestClient(create_app(ctx)) as client:
        worker = _workbench(client, "demo_worker")
        officer = _workbench(client, "demo_officer")
        admin = _workbench(client, "demo_admin")
        planner = _workbench(client, "demo_planner")
    # Of the eight comments waiting, six are about the community: two of its venues'
    # reviews, the demo resident's, one of a booking of its rooms, one of its clean-up day
    # and one of a place in its day-care centre.  Records: communities with gaps, the
    # worker's (its day-care centre has no floor area or opening hours yet); the others
    # depend on the year the test runs in (figures older than last year count as gaps),
    # so they are at least that one.
    assert worker.pop("records") == 1
    for counts in (officer, admin, planner):
        assert counts.pop("records") >= 1
    for counts in (admin, planner):  # planners keep scenarios (the demo has none yet)
        assert counts.pop("scenarios") == 0
    assert planner == {}  # a planner plans: records and scenarios are their tasks
    assert worker == {"requests": 7, "bookings": 3, "care": 4, "hours": 4, "reviews": 6}
    assert officer == {"requests": 10, "bookings": 5, "care": 4, "hours": 7, "reviews": 8}
    assert admin == officer  # the demo has nothing outside the demo officer's street


def test_the_worker_recorded_the_day_care_centre_without_all_its_details(
        lived_in: tuple[Context, dict[str, int]]) -> None:
    from shequ.services.upkeep import completeness

    ctx, _ = lived_in
    with ctx.sessions() as session:
        centre = session.scalars(select(Facility).where(
            Facility.external_id == "demo-20220101-life-0001")).one()
        assert (centre.name, centre.division_code, centre.status, centre.opened_on,
                centre.capacity) == ("诸福屯社区老年人日间照料中心", COMMUNITY, "in_service",
                                     dt.date(2025, 2, 18), PLACES)
        assert centre.synthetic and centre.source.startswith("synthetic: shequ demo activity")
        (row,) = completeness(session, ctx.catalog, COMMUNITY)
        assert (row.without_floor_area, row.without_hours, row.without_location) == (1, 1, 0)


def test_the_demo_resident_has_their_own_of_everything(
        lived_in: tuple[Context, dict[str, int]]) -> None:
    ctx, _ = lived_in
    with ctx.sessions() as session:
        me = _user(session, "demo_resident")
        mine = bookings.bookings_in(session, user_id=me.id,
                                    statuses=[s.value for s in BookingStatus])
        assert sorted(b.status for b, _, _ in mine) == ["approved", "approved", "pending"]
        applications = care.applications_of(session, applicant_user_id=me.id)
        assert [a.status for a, _ in applications] == ["waiting"]
        rules = load_priority_rules()
        # Applied last with no priority points: the fourth of the four waiting.
        assert care.queue_position(session, rules, applications[0][0].id, on=NOW.date()) == 4
        own_requests = session.scalars(select(ServiceRequest).where(
            ServiceRequest.submitter_id == me.id).order_by(ServiceRequest.id)).all()
        assert [(r.status, r.rating) for r in own_requests] == [("submitted", None),
                                                                ("closed", 4)]
        assert sorted(r.subject_kind for r in reviews.reviews_of(session, user_id=me.id)) \
            == ["booking", "facility"]
        record = volunteers.record_of(session, me.id)
        assert record is not None
        assert sorted(s.hours_status for s, _ in record.entries) == ["none", "recorded"]


def _rows(session: Session) -> dict[str, int]:
    return {model.__tablename__: int(session.scalar(
        select(func.count()).select_from(model)) or 0) for model in TABLES}


def test_a_second_run_adds_nothing(lived_in: tuple[Context, dict[str, int]]) -> None:
    ctx, _ = lived_in
    with ctx.sessions() as session:
        before = _rows(session)
        again = populate_demo_activity(session, county_code=COUNTY, seed=20220101,
                                       now=NOW + dt.timedelta(days=1))
        session.commit()
        assert again == dict.fromkeys(KINDS, 0)
        assert _rows(session) == before
        assert before["app_user"] == 5 + 12


def test_a_rebuilt_demo_gets_its_activity_made_again_not_added(
        demo_settings: Settings) -> None:
    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session:
            ensure_demo_accounts(session, county_code=COUNTY, environment="test")
            session.commit()
            populate_demo_activity(session, county_code=COUNTY, seed=20220101, now=NOW)
            session.commit()
            first = _rows(session)
        build_demo(ctx, rebuild=True)  # new facility rows: bookings and care places go
        with ctx.sessions() as session:
            made = populate_demo_activity(session, county_code=COUNTY, seed=20220101,
                                          now=NOW)
            session.commit()
            # The accounts stay; everything else is made anew, once.
            assert made == {**MADE, "residents": 0}
            assert _rows(session) == first
    finally:
        ctx.close()


def test_the_demo_needs_its_accounts_first(demo_settings: Settings) -> None:
    from shequ.errors import NotFoundError

    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session, pytest.raises(NotFoundError, match="demo_worker"):
            populate_demo_activity(session, county_code=COUNTY, seed=20220101, now=NOW)
    finally:
        ctx.close()


def test_the_worker_community_is_the_one_described(
        lived_in: tuple[Context, dict[str, int]]) -> None:
    ctx, _ = lived_in
    with ctx.sessions() as session:
        assert _user(session, "demo_worker").jurisdiction_code == COMMUNITY
        own = sorted(f.type_code
                     for _, f in bookings.resources_in(session, division_prefix=COMMUNITY))
        assert own == ["comprehensive_service_facility", "cultural_activity_station",
                       "volunteer_service_station"]
        assert [f.external_id for f in care.care_facilities(
            session, division_prefix=COMMUNITY)] == ["demo-20220101-life-0001"]
