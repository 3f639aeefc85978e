"""Applications, offers with deadlines, acceptance, lapse, and the next applicant."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ConflictError, ValidationError
from shequ.services.care import service
from shequ.services.care.rules import load_priority_rules

from .helpers import COMMUNITY, add_facility, cst

RULES = load_priority_rules()
T0 = cst(2026, 12, 1, 9)


def day_care(session: Session, capacity: int) -> int:
    return add_facility(session, type_code="elderly_day_care", name="日间照料中心",
                        capacity=capacity).id


def apply(session: Session, facility: int, name: str, birth: dt.date, groups: list[str],
          minutes: int) -> int:
    return service.apply(session, RULES, facility_id=facility, applicant_user_id=1,
                         beneficiary_name=name, beneficiary_birth_date=birth,
                         division_code=COMMUNITY, priority_groups=groups,
                         now=T0 + dt.timedelta(minutes=minutes)).id


def test_freed_place_goes_to_the_rules_first_and_lapse_moves_on(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        centre = day_care(s, capacity=1)
        a = apply(s, centre, "甲", dt.date(1950, 1, 1), [], 0)          # 0 points, first
        offered = service.fill_free_places(s, RULES, centre, now=T0)
        assert [o.id for o in offered] == [a]
        b = apply(s, centre, "乙", dt.date(1955, 1, 1), [], 1)          # 0 points
        c = apply(s, centre, "丙", dt.date(1956, 1, 1), ["disability"], 2)  # 30
        d = apply(s, centre, "丁", dt.date(1940, 1, 1), [], 3)          # 86 → 40
        assert service.fill_free_places(s, RULES, centre, now=T0) == []
        assert [e.application.id for e in service.waitlist(s, RULES, centre, on=T0.date())] \
            == [d, c, b]
        assert service.queue_position(s, RULES, c, on=T0.date()) == 2
        service.accept(s, RULES, a, now=T0 + dt.timedelta(days=1))
        service.end_enrolment(s, RULES, a, now=T0 + dt.timedelta(days=30))
        later = T0 + dt.timedelta(days=30)
        assert [o.id for o in service.fill_free_places(s, RULES, centre, now=later)] == [d]
        offer = service.application(s, d)
        assert (offer.status, offer.place_no, offer.offer_deadline) == (
            "offered", 1, later + dt.timedelta(days=7))
        # d does not answer: after the deadline the offer lapses and c is offered.
        lapsed = service.expire_offers(s, RULES, now=later + dt.timedelta(days=7, seconds=1))
        assert [x.id for x in lapsed] == [d]
        nxt = service.fill_free_places(s, RULES, centre,
                                       now=later + dt.timedelta(days=7, seconds=1))
        assert [o.id for o in nxt] == [c]
        assert service.application(s, d).status == "lapsed"
        with pytest.raises(ConflictError, match="is lapsed"):
            service.accept(s, RULES, d, now=later + dt.timedelta(days=8))
        # c declines: b is next.
        service.decline(s, RULES, c, now=later + dt.timedelta(days=8))
        assert [o.id for o in service.fill_free_places(
            s, RULES, centre, now=later + dt.timedelta(days=8))] == [b]


def test_accepting_after_the_deadline_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        centre = day_care(s, capacity=2)
        a = apply(s, centre, "甲", dt.date(1950, 1, 1), [], 0)
        service.fill_free_places(s, RULES, centre, now=T0)
        with pytest.raises(ConflictError, match="lapsed at 2026-12-08 09:00"):
            service.accept(s, RULES, a, now=T0 + dt.timedelta(days=7, minutes=1))


def test_capacity_bounds_the_offers_and_occupancy_counts(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        centre = day_care(s, capacity=2)
        ids = [apply(s, centre, f"老人{k}", dt.date(1950, 1, 1 + k), [], k) for k in range(4)]
        offered = service.fill_free_places(s, RULES, centre, now=T0)
        assert [o.id for o in offered] == ids[:2]
        assert [o.place_no for o in offered] == [1, 2]
        service.accept(s, RULES, ids[0], now=T0)
        table = service.care_indicators(s, on=T0 + dt.timedelta(days=10))
    row = table.to_dicts()[0]
    assert (row["capacity"], row["enrolled"], row["offers_open"], row["waiting"]) == (2, 1, 1, 2)
    assert row["occupancy"] == 0.5
    # waiting since T0+2 min and T0+3 min, measured on T0+10 days
    assert row["mean_wait_days"] == pytest.approx(10 - 2.5 / 1440)


def test_applications_are_checked(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        centre = day_care(s, capacity=1)
        clinic = add_facility(s, type_code="community_health_station").id
        with pytest.raises(ValidationError, match="has no care places"):
            apply(s, clinic, "甲", dt.date(1950, 1, 1), [], 0)
        with pytest.raises(ValidationError, match="aged 60 or over"):
            apply(s, centre, "甲", dt.date(1990, 1, 1), [], 0)
        apply(s, centre, "甲", dt.date(1950, 1, 1), [], 0)
        with pytest.raises(ConflictError, match="already has open application"):
            apply(s, centre, "甲", dt.date(1950, 1, 1), [], 1)
