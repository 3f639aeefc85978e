"""Booking, approval, cancellation, series, reminders, iCalendar and utilisation."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ConflictError, ValidationError
from shequ.services.bookings import service
from shequ.services.bookings.models import BookerScope, BookingSlot
from shequ.services.bookings.rules import Booker

from .helpers import COMMUNITY, MONDAY, OTHER_TOWNSHIP_COMMUNITY, add_facility

NOW = MONDAY - dt.timedelta(days=2)  # Saturday before
ALICE = Booker(user_id=1, role="resident", division_code=COMMUNITY)
BOB = Booker(user_id=2, role="resident", division_code=COMMUNITY)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour, minutes=minute)


def make_room(session: Session, **rules: object) -> int:
    facility = add_facility(session)
    room = service.create_resource(session, facility_id=facility.id, name="多功能活动室",
                                   capacity=30, now=NOW, **rules)  # type: ignore[arg-type]
    return room.id


def test_booking_needs_approval_then_holds_its_slots(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s)
        b = service.book(s, resource_id=room, booker=ALICE, starts_at=at(0, 14),
                         ends_at=at(0, 16), purpose="书法班", attendees=12, now=NOW)
        assert b.status == "pending"
        assert s.scalar(select(func.count()).select_from(BookingSlot)) == 2
        views = service.slot_views(s, room, at(0, 0), at(1, 0))
        assert [(v.start.hour, v.taken) for v in views] == [
            (8, False), (9, False), (10, False), (11, False),
            (14, True), (15, True), (16, False), (17, False)]
        with pytest.raises(ConflictError, match="already booked at 2026-11-30 15:00"):
            service.book(s, resource_id=room, booker=BOB, starts_at=at(0, 15),
                         ends_at=at(0, 16), purpose="合唱", now=NOW)
        approved = service.decide(s, b.id, approve=True, decided_by=9, now=NOW)
        assert approved.status == "approved" and approved.decided_by == 9


def test_rejection_and_cancellation_free_the_slot(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s)
        first = service.book(s, resource_id=room, booker=ALICE, starts_at=at(0, 8),
                             ends_at=at(0, 9), purpose="会议", now=NOW)
        service.decide(s, first.id, approve=False, decided_by=9, note="维修", now=NOW)
        second = service.book(s, resource_id=room, booker=BOB, starts_at=at(0, 8),
                              ends_at=at(0, 9), purpose="会议", now=NOW)
        service.cancel(s, second.id, now=NOW)
        third = service.book(s, resource_id=room, booker=ALICE, starts_at=at(0, 8),
                             ends_at=at(0, 9), purpose="会议", now=NOW)
        assert (first.status, second.status, third.status) == ("rejected", "cancelled",
                                                               "pending")
        with pytest.raises(ConflictError, match="already cancelled"):
            service.cancel(s, second.id, now=NOW)
        with pytest.raises(ConflictError, match="only before it starts"):
            service.cancel(s, third.id, now=at(0, 8, 30))


def test_rules_list_every_broken_one(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s, booker_scope=BookerScope.COMMUNITY, max_advance_days=7,
                         max_duration_minutes=120, allowed_roles=("resident",))
        stranger = Booker(user_id=3, role="street_officer",
                          division_code=OTHER_TOWNSHIP_COMMUNITY)
        with pytest.raises(ValidationError) as caught:
            service.book(s, resource_id=room, booker=stranger, starts_at=at(14, 8),
                         ends_at=at(14, 11), purpose="x", attendees=40, now=NOW)
        reasons = " | ".join(p.reason for p in caught.value.problems)
        assert len(caught.value.problems) == 5, reasons
        for part in ("street_officer", "only residents of its community", "7 days ahead",
                     "180 minutes", "capacity of 30"):
            assert part in reasons
        with pytest.raises(ValidationError, match="60 minutes ahead"):
            service.book(s, resource_id=room, booker=ALICE, starts_at=at(0, 8),
                         ends_at=at(0, 9), purpose="x", now=at(0, 7, 30))


def test_no_approval_needed_books_approved(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s, approval_required=False)
        b = service.book(s, resource_id=room, booker=ALICE, starts_at=at(5, 9),
                         ends_at=at(5, 10), purpose="羽毛球", now=NOW)
        assert b.status == "approved"


def test_weekly_series_is_all_or_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s, allow_series=True, max_advance_days=7)
        blocker = service.book(s, resource_id=room, booker=BOB, starts_at=at(14, 14),
                               ends_at=at(14, 15), purpose="讲座", now=at(8, 0))
        with pytest.raises(ValidationError, match=r"occurrence 3 \(2026-12-14\)"):
            service.book_series(s, resource_id=room, booker=ALICE, first_starts_at=at(0, 14),
                                duration_minutes=120, occurrences=4, purpose="合唱团", now=NOW)
        assert s.scalar(select(func.count()).select_from(BookingSlot)) == 1
        service.cancel(s, blocker.id, now=NOW)
        series = service.book_series(s, resource_id=room, booker=ALICE,
                                     first_starts_at=at(0, 14), duration_minutes=120,
                                     occurrences=4, purpose="合唱团", now=NOW)
        starts = [b.starts_at for b, _, _ in service.bookings_in(s, user_id=ALICE.user_id)]
        assert series.occurrences == 4
        assert starts == [at(7 * k, 14) for k in range(4)]
        assert s.scalar(select(func.count()).select_from(BookingSlot)) == 8


def test_due_reminders_are_approved_bookings_of_the_next_day(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s, approval_required=False)
        soon = service.book(s, resource_id=room, booker=ALICE, starts_at=at(0, 9),
                            ends_at=at(0, 10), purpose="a", now=NOW)
        service.book(s, resource_id=room, booker=ALICE, starts_at=at(1, 9),
                     ends_at=at(1, 10), purpose="b", now=NOW)
        now = at(-1, 12)
        due = service.due_reminders(s, now=now)
        assert [b.id for b in due] == [soon.id]
        service.mark_reminded(s, due, now=now)
        assert service.due_reminders(s, now=now) == []


def test_ical_export_parses_and_converts_to_utc(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s, approval_required=False)
        b = service.book(s, resource_id=room, booker=ALICE, starts_at=at(0, 14),
                         ends_at=at(0, 16), purpose="书法班; 毛笔, 宣纸 " + "长" * 40, now=NOW)
        text = service.export_ical(s, user_id=ALICE.user_id, now=NOW)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert text.endswith("END:VCALENDAR\r\n")
    cal = icalendar.Calendar.from_ical(text)
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert str(event["UID"]) == f"booking-{b.id}@shequ"
    assert event.decoded("DTSTART") == dt.datetime(2026, 11, 30, 6, tzinfo=dt.UTC)
    assert event.decoded("DTEND") == dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    assert str(event["SUMMARY"]) == "多功能活动室 · 书法班; 毛笔, 宣纸 " + "长" * 40
    assert str(event["STATUS"]) == "CONFIRMED"


def test_utilisation_is_booked_over_open_hours(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        room = make_room(s, approval_required=False)
        field = add_facility(s, type_code="sports_field", name="篮球场",
                             division_code=OTHER_TOWNSHIP_COMMUNITY,
                             opening_hours="Mo-Su 06:00-22:00")
        court = service.create_resource(s, facility_id=field.id, name="全场", now=NOW,
                                        booker_scope=BookerScope.ANYONE,
                                        approval_required=False).id
        service.book(s, resource_id=room, booker=ALICE, starts_at=at(0, 14),
                     ends_at=at(0, 18), purpose="a", now=NOW)
        pending = make_room(s)  # a second facility whose booking is still pending
        service.book(s, resource_id=pending, booker=ALICE, starts_at=at(0, 8),
                     ends_at=at(0, 10), purpose="b", now=NOW)
        service.book(s, resource_id=court, booker=ALICE, starts_at=at(2, 20),
                     ends_at=at(2, 22), purpose="c", now=NOW)
        table = service.utilisation(s, start=at(0, 0), end=at(7, 0))
    rows = {r["type_code"] + str(r["facility_id"]): r for r in table.to_dicts()}
    assert len(rows) == 3
    by_open = sorted(table.to_dicts(), key=lambda r: (r["open_hours"], r["booked_hours"]))
    assert [(r["open_hours"], r["booked_hours"]) for r in by_open] == [
        (48.0, 0.0), (48.0, 4.0), (112.0, 2.0)]
    assert by_open[1]["utilisation"] == pytest.approx(4 / 48)
    assert by_open[2]["utilisation"] == pytest.approx(2 / 112)
    with sessions() as s:
        county = service.utilisation_by_division(s, start=at(0, 0), end=at(7, 0), level=3)
        township = service.utilisation_by_division(s, start=at(0, 0), end=at(7, 0), level=4)
    assert county.select("division_code", "facilities", "open_hours", "booked_hours").rows() \
        == [("110101000000", 3, 208.0, 6.0)]
    assert county["utilisation"][0] == pytest.approx(6 / 208)
    assert township.select("division_code", "utilisation").rows() == [
        ("110101001000", pytest.approx(4 / 96)), ("110101002000", pytest.approx(2 / 112))]


def test_only_bookable_types_in_service_become_resources(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        clinic = add_facility(s, type_code="community_health_station")
        with pytest.raises(ValidationError, match="has no bookable rooms"):
            service.create_resource(s, facility_id=clinic.id, name="诊室", now=NOW)
        bare = add_facility(s, opening_hours=None)
        with pytest.raises(ValidationError, match="has no opening hours"):
            service.create_resource(s, facility_id=bare.id, name="活动室", now=NOW)
