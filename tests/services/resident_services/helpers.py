"""Helpers of the resident-services tests: a registry facility of a given type in one
community, and accounts with given ids (user ids are foreign keys to ``app_user``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from shequ.registry.columns import CHINA_TZ
from shequ.registry.models import Facility
from shequ.services.accounts.models import User

COMMUNITY = "110101001001"
OTHER_TOWNSHIP_COMMUNITY = "110101002001"


def cst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A naive China Standard Time datetime, as the services store them."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ).replace(tzinfo=None)


# A Monday, so weekday rules are easy to read.
MONDAY = cst(2026, 11, 30)


def add_facility(session: Session, *, type_code: str = "comprehensive_service_facility",
                 division_code: str = COMMUNITY, name: str = "东华门社区党群服务中心",
                 opening_hours: str | None = "Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-17:00",
                 capacity: int | None = None) -> Facility:
    """A facility in service, flushed so that it has an id."""
    facility = Facility(type_code=type_code, division_code=division_code, name=name,
                        opening_hours=opening_hours, capacity=capacity, status="in_service",
                        longitude=116.4, latitude=39.9)
    session.add(facility)
    session.flush()
    return facility


def add_accounts(session: Session, user_ids: Iterable[int]) -> None:
    """Resident accounts with exactly these ids (those not there yet), so that tests can name
    bookers, applicants and staff by number; PostgreSQL's id sequence moves past them."""
    wanted = set(user_ids)
    have = set(session.scalars(select(User.id).where(User.id.in_(wanted))))
    rows = [{"id": k, "username": f"account{k}", "display_name": f"居民{k}", "role": "resident",
             "password_hash": "!", "active": True} for k in sorted(wanted - have)]
    if rows:
        session.execute(insert(User), rows)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT setval(pg_get_serial_sequence('app_user', 'id'), "
                             "(SELECT max(id) FROM app_user))"))
