"""The use cases of bookings and care places that the API and the pages share: each checks
the caller, acts and writes its audit row, on SQLite and PostgreSQL; the opening hours as
a notice board says them; and every error code the two services raise has its message in
both languages."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import shequ.services.accounts.acting
import shequ.services.bookings
import shequ.services.care
from shequ.errors import AccessDenied, ConflictError, NotFoundError, ValidationError
from shequ.i18n import messages
from shequ.services.accounts import AuditLog, User
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import BookerScope
from shequ.services.bookings.slots import DaysOpen, weekly_hours
from shequ.services.care import service as cs
from shequ.services.care.rules import load_priority_rules

from .helpers import COMMUNITY, OTHER_TOWNSHIP_COMMUNITY, add_facility, cst

RULES = load_priority_rules()


def account(session: Session, username: str, role: str, jurisdiction: str | None = None
            ) -> User:
    user = User(username=username, display_name=username, role=role, password_hash="!",
                active=True, jurisdiction_code=jurisdiction)
    session.add(user)
    session.flush()
    return user


def trail(session: Session) -> list[tuple[str, str, str, str]]:
    """The audit rows: (username, action, entity, entity id), in order."""
    return [(r.username or "", r.action, r.entity, r.entity_id or "")
            for r in session.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_bookings_check_the_caller_act_and_audit(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        worker = account(s, "worker_in", "community_worker", COMMUNITY)
        outsider = account(s, "worker_out", "community_worker", OTHER_TOWNSHIP_COMMUNITY)
        owner = account(s, "resident_a", "resident")
        other = account(s, "resident_b", "resident")
        centre = add_facility(s, opening_hours="Mo-Su 00:00-24:00").id
        with pytest.raises(AccessDenied):
            bs.open_resource(s, outsider, facility_id=centre, name="会议室")
        room = bs.open_resource(s, worker, facility_id=centre, name="会议室", capacity=10,
                                booker_scope=BookerScope.ANYONE, max_advance_days=60).id
        start = dt.datetime.combine(local_now().date() + dt.timedelta(days=3), dt.time(10))
        booking = bs.book_as(s, owner, resource_id=room, starts_at=start,
                             ends_at=start + dt.timedelta(hours=2), purpose="读书会",
                             attendees=6).id
        with pytest.raises(AccessDenied):
            bs.booking_for(s, other, booking)
        assert bs.booking_for(s, worker, booking).id == booking
        assert [b.id for b, _, _ in bs.pending_for(s, worker)] == [booking]
        assert bs.pending_for(s, outsider) == []
        with pytest.raises(AccessDenied):
            bs.pending_for(s, owner)
        with pytest.raises(AccessDenied):
            bs.decide_as(s, outsider, booking, approve=True)
        assert bs.decide_as(s, worker, booking, approve=True, note="好").status == "approved"
        with pytest.raises(ConflictError) as again:
            bs.decide_as(s, worker, booking, approve=False)
        assert again.value.code == "bookings.not_pending"
        with pytest.raises(AccessDenied):
            bs.cancel_as(s, other, booking)
        assert bs.cancel_as(s, owner, booking).status == "cancelled"
        with pytest.raises(ConflictError) as twice:
            bs.cancel_as(s, owner, booking)
        assert twice.value.code == "bookings.already_closed"
        with pytest.raises(NotFoundError) as missing:
            bs.cancel_as(s, owner, booking + 1000)
        assert (missing.value.code, missing.value.params) == (
            "bookings.no_booking", {"id": booking + 1000})
        assert trail(s) == [
            ("worker_in", "create", "booking_resource", str(room)),
            ("resident_a", "create", "booking", str(booking)),
            ("worker_in", "approve", "booking", str(booking)),
            ("resident_a", "cancel", "booking", str(booking))]


def test_a_weekly_series_from_the_grid_is_one_audited_series(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        worker = account(s, "worker_in", "community_worker", COMMUNITY)
        centre = add_facility(s, opening_hours="Mo-Su 08:00-20:00").id
        room = bs.open_resource(s, worker, facility_id=centre, name="排练厅", slot_minutes=30,
                                allow_series=True, approval_required=False,
                                booker_scope=BookerScope.ANYONE).id
        start = dt.datetime.combine(local_now().date() + dt.timedelta(days=2), dt.time(9))
        series = bs.book_slots(s, worker, resource_id=room, starts_at=start, slots=3, weeks=4,
                               purpose="合唱团", attendees=20)
        rows = bs.bookings_in(s, user_id=worker.id)
        assert [(b.starts_at, b.ends_at, b.status) for b, _, _ in rows] == [
            (start + dt.timedelta(weeks=k), start + dt.timedelta(weeks=k, minutes=90),
             "approved") for k in range(4)]
        assert trail(s)[-1] == ("worker_in", "create", "booking_series", str(series.id))
        with pytest.raises(ValidationError) as far:
            bs.book_slots(s, worker, resource_id=room, starts_at=cst(2101, 1, 1),
                          slots=1, weeks=1, purpose="x", attendees=1)
        assert [(p.column, p.code) for p in far.value.problems] == [
            ("starts_at", "bookings.outside_years")]


def test_care_places_check_the_caller_act_and_audit(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        worker = account(s, "worker_in", "community_worker", COMMUNITY)
        outsider = account(s, "worker_out", "community_worker", OTHER_TOWNSHIP_COMMUNITY)
        first = account(s, "resident_a", "resident")
        second = account(s, "resident_b", "resident")
        centre = add_facility(s, type_code="elderly_day_care", name="日间照料中心",
                              capacity=1).id
    with sessions() as s:
        a = cs.apply_as(s, sessions, RULES, s.get(User, first.id) or first,
                        facility_id=centre, beneficiary_name="张三",
                        beneficiary_birth_date=dt.date(1949, 12, 31)).id
        b = cs.apply_as(s, sessions, RULES, s.get(User, second.id) or second,
                        facility_id=centre, beneficiary_name="李四",
                        beneficiary_birth_date=dt.date(1940, 1, 1),
                        priority_groups=["living_alone"]).id
        assert (cs.application(s, a).status, cs.application(s, a).place_no) == ("offered", 1)
        assert cs.queue_position(s, RULES, b) == 1
        user_a, user_b = s.get(User, first.id), s.get(User, second.id)
        inside, outside = s.get(User, worker.id), s.get(User, outsider.id)
        assert user_a and user_b and inside and outside
        with pytest.raises(NotFoundError) as not_yours:
            cs.answer_as(s, sessions, RULES, user_b, a, answer="accept")
        assert not_yours.value.code == "care.not_yours"
        with pytest.raises(ValidationError) as odd:
            cs.answer_as(s, sessions, RULES, user_a, a, answer="maybe")
        assert [(p.column, p.code) for p in odd.value.problems] == [("answer", "not_a_choice")]
        assert cs.answer_as(s, sessions, RULES, user_a, a, answer="decline").status == "declined"
        # The declined place went to the next in the queue, in its own transaction.
        assert (cs.application(s, b).status, cs.application(s, b).place_no) == ("offered", 1)
        cs.answer_as(s, sessions, RULES, user_b, b, answer="accept")
        s.commit()
        with pytest.raises(AccessDenied):
            cs.end_enrolment_as(s, sessions, RULES, outside, b)
        s.rollback()
        with pytest.raises(AccessDenied):
            cs.desk(s, RULES, user_a)
        [desk] = cs.desk(s, RULES, inside)
        assert (desk.facility.id, [h.id for h in desk.holding], desk.queue, desk.free) == (
            centre, [b], [], 0)
        assert cs.end_enrolment_as(s, sessions, RULES, inside, b).status == "ended"
        assert cs.settle_as(s, sessions, RULES, inside, centre) == ([], [])
        s.commit()
        assert [(u, act, ent) for u, act, ent, _ in trail(s)] == [
            ("resident_a", "create", "care_application"),
            ("resident_b", "create", "care_application"),
            ("resident_a", "decline", "care_application"),
            ("resident_b", "accept", "care_application"),
            ("worker_in", "read", "care_waitlist"),
            ("worker_in", "end", "care_application"),
            ("worker_in", "settle", "care_facility")]


@pytest.mark.parametrize(("expression", "runs"), [
    ("Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-17:00",
     [DaysOpen(0, 4, (("08:00", "12:00"), ("14:00", "18:00"))),
      DaysOpen(5, 5, (("09:00", "17:00"),))]),
    ("24/7", [DaysOpen(0, 6, (("00:00", "24:00"),))]),
    ("Tu,Th 09:00-11:30", [DaysOpen(1, 1, (("09:00", "11:30"),)),
                           DaysOpen(3, 3, (("09:00", "11:30"),))]),
    ("off", []),
])
def test_opening_hours_as_a_notice_board_says_them(expression: str,
                                                   runs: list[DaysOpen]) -> None:
    # Any day of the week gives the same week (Thursday 3 December 2026 here).
    assert weekly_hours(expression, dt.date(2026, 12, 3)) == runs
    assert weekly_hours(expression, dt.date(2026, 11, 30)) == runs


SERVICE_MODULES = (shequ.services.bookings, shequ.services.care)
CODE = re.compile(r'code=f?"([a-z_.{}]+)"')


def raised_codes() -> set[str]:
    """Every error and problem code written in the two services' sources (the one code
    built from a booker scope expanded to its scopes)."""
    files = [f for m in SERVICE_MODULES for f in Path(m.__file__ or "").parent.glob("*.py")]
    files.append(Path(shequ.services.accounts.acting.__file__ or ""))
    codes: set[str] = set()
    for path in files:
        for code in CODE.findall(path.read_text(encoding="utf-8")):
            if code == "bookings.outside_{scope.value}":
                codes |= {f"bookings.outside_{s.value}" for s in BookerScope
                          if s != BookerScope.ANYONE}
            else:
                codes.add(code)
    return codes


def test_every_code_the_services_raise_has_both_languages() -> None:
    codes = raised_codes()
    assert len(codes) > 50 and "bookings.slots_taken" in codes and "care.too_young" in codes
    for lang in ("zh-CN", "en"):
        catalog = messages(lang)
        missing = sorted(c for c in codes
                         if f"errors.{c}" not in catalog and f"problems.{c}" not in catalog)
        assert missing == [], lang
