"""Volunteer sign-up, hours recorded and confirmed, records and totals per community."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ConflictError, ValidationError
from shequ.services.volunteers import service
from shequ.services.volunteers.models import OrganiserKind

from .helpers import COMMUNITY, OTHER_TOWNSHIP_COMMUNITY, add_facility, cst

NOW = cst(2026, 12, 1, 9)
ORGANISER = 50


def activity(session: Session, *, division: str = COMMUNITY, day: int = 5, hours: int = 3,
             places: int | None = None) -> int:
    start = cst(2026, 12, day, 9)
    return service.publish(
        session, division_code=division, organiser_kind=OrganiserKind.COMMUNITY,
        organiser_name="东华门社区居委会", organiser_user_id=ORGANISER, title="助老送餐",
        starts_at=start, ends_at=start + dt.timedelta(hours=hours), places=places,
        now=NOW).id


def test_signup_hours_and_record(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        service.register(s, user_id=1, division_code=COMMUNITY, display_name="李华", now=NOW)
        a1, a2 = activity(s, day=5, hours=3), activity(s, day=6, hours=2)
        first = service.sign_up(s, activity_id=a1, user_id=1, now=NOW)
        second = service.sign_up(s, activity_id=a2, user_id=1, now=NOW)
        with pytest.raises(ConflictError, match="has not begun"):
            service.record_hours(s, first.id, minutes=60, recorded_by=1, now=NOW)
        after = cst(2026, 12, 7, 12)
        with pytest.raises(ValidationError, match="activity's 180 minutes"):
            service.record_hours(s, first.id, minutes=200, recorded_by=1, now=after)
        service.record_hours(s, first.id, minutes=180, recorded_by=1, now=after)
        service.record_hours(s, second.id, minutes=120, recorded_by=1, now=after)
        assert [r.id for r, _, _ in service.hours_to_confirm(s, division_prefix="110101001")] \
            == [first.id, second.id]
        service.confirm_hours(s, first.id, confirmed_by=ORGANISER, minutes=150, now=after)
        service.confirm_hours(s, second.id, confirmed_by=ORGANISER, approve=False, now=after)
        record = service.record_of(s, 1)
        assert record is not None and record.confirmed_minutes == 150
        with pytest.raises(ConflictError, match="already confirmed"):
            service.record_hours(s, first.id, minutes=10, recorded_by=1, now=after)


def test_places_and_double_signup(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        for uid in (1, 2):
            service.register(s, user_id=uid, division_code=COMMUNITY, display_name=f"v{uid}",
                             now=NOW)
        a = activity(s, places=1)
        with pytest.raises(ValidationError, match="register as a volunteer first"):
            service.sign_up(s, activity_id=a, user_id=3, now=NOW)
        row = service.sign_up(s, activity_id=a, user_id=1, now=NOW)
        with pytest.raises(ConflictError, match="already signed up"):
            service.sign_up(s, activity_id=a, user_id=1, now=NOW)
        with pytest.raises(ConflictError, match="is full"):
            service.sign_up(s, activity_id=a, user_id=2, now=NOW)
        service.withdraw(s, row.id, now=NOW)
        assert service.sign_up(s, activity_id=a, user_id=2, now=NOW).status == "signed_up"
        with pytest.raises(ConflictError, match="already a registered volunteer"):
            service.register(s, user_id=1, division_code=COMMUNITY, display_name="x", now=NOW)


def test_totals_per_community(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        for uid, code in ((1, COMMUNITY), (2, COMMUNITY), (3, OTHER_TOWNSHIP_COMMUNITY)):
            service.register(s, user_id=uid, division_code=code, display_name=f"v{uid}",
                             now=NOW)
        add_facility(s, type_code="volunteer_service_station", name="志愿服务站")
        a = activity(s, hours=4)
        b = activity(s, division=OTHER_TOWNSHIP_COMMUNITY, hours=2)
        activity(s, day=8)  # held, no hours
        after = cst(2026, 12, 10)
        for uid, act, minutes in ((1, a, 240), (2, a, 90), (3, b, 120), (1, b, 60)):
            row = service.sign_up(s, activity_id=act, user_id=uid, now=NOW)
            service.record_hours(s, row.id, minutes=minutes, recorded_by=uid, now=after)
            if minutes != 60:  # the last one stays unconfirmed
                service.confirm_hours(s, row.id, confirmed_by=ORGANISER, now=after)
        table = service.volunteer_totals(s, period=2026)
        assert service.volunteer_totals(s, period=2025)["activities"].sum() == 0
    rows = {r["division_code"]: r for r in table.to_dicts()}
    assert rows[COMMUNITY] == {
        "division_code": COMMUNITY, "period": 2026, "registered_volunteers": 2,
        "active_volunteers": 2, "confirmed_hours": 5.5, "activities": 2,
        "volunteer_service_stations": 1}
    assert rows[OTHER_TOWNSHIP_COMMUNITY]["confirmed_hours"] == 2.0
    assert rows[OTHER_TOWNSHIP_COMMUNITY]["active_volunteers"] == 1
