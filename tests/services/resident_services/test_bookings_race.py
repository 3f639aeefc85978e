"""A slot is never given twice: 50 concurrent attempts, exactly one wins.

Each thread has its own engine connection and session; nothing in Python serialises
them (no lock), so only the database's key on (resource, slot start) decides.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from shequ.errors import ConflictError
from shequ.registry.db import make_engine, session_factory
from shequ.services.bookings import service
from shequ.services.bookings.models import Booking, BookingSlot
from shequ.services.bookings.rules import Booker

from .helpers import COMMUNITY, MONDAY, add_facility

ATTEMPTS = 50
NOW = MONDAY - dt.timedelta(days=2)


def test_fifty_concurrent_bookings_of_one_slot_give_exactly_one(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        facility = add_facility(s)
        room = service.create_resource(s, facility_id=facility.id, name="活动室",
                                       approval_required=False, now=NOW).id
    start = MONDAY + dt.timedelta(hours=14)
    barrier = threading.Barrier(ATTEMPTS)

    def attempt(k: int) -> str:
        booker = Booker(user_id=100 + k, role="resident", division_code=COMMUNITY)
        with sessions() as s:
            barrier.wait()
            try:
                service.book(s, resource_id=room, booker=booker, starts_at=start,
                             ends_at=start + dt.timedelta(hours=1), purpose=f"attempt {k}",
                             now=NOW)
                s.commit()
            except ConflictError:
                return "lost"
            return "won"

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS)))
    assert outcomes.count("won") == 1
    assert outcomes.count("lost") == ATTEMPTS - 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 1
        assert s.scalar(select(func.count()).select_from(BookingSlot)) == 1
        winner = s.scalars(select(Booking)).one()
    assert winner.purpose == f"attempt {outcomes.index('won')}"
    engine.dispose()


def test_overlapping_two_hour_bookings_race_for_the_shared_slot(db_url: str) -> None:
    """14–16 and 15–17 share the 15:00 slot: of 20 racers per shape one booking wins."""
    engine = make_engine(db_url, poolclass=NullPool)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        facility = add_facility(s)
        room = service.create_resource(s, facility_id=facility.id, name="活动室",
                                       approval_required=False, now=NOW).id
    barrier = threading.Barrier(20)

    def attempt(k: int) -> str:
        start = MONDAY + dt.timedelta(hours=14 + k % 2)
        booker = Booker(user_id=200 + k, role="resident", division_code=COMMUNITY)
        with sessions() as s:
            barrier.wait()
            try:
                service.book(s, resource_id=room, booker=booker, starts_at=start,
                             ends_at=start + dt.timedelta(hours=2), purpose="x", now=NOW)
                s.commit()
            except ConflictError:
                return "lost"
            return "won"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert outcomes.count("won") == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(BookingSlot)) == 2
    engine.dispose()
