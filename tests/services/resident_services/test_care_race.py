"""Two offers for the last place never both succeed (the database's key decides)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from shequ.errors import ConflictError
from shequ.registry.db import make_engine, session_factory
from shequ.services.care import service
from shequ.services.care.models import CareApplication, CarePlaceHold
from shequ.services.care.rules import load_priority_rules

from .helpers import COMMUNITY, add_facility, cst

RULES = load_priority_rules()
T0 = cst(2026, 12, 1, 9)
RACERS = 20


def test_concurrent_offers_of_the_last_place_give_it_once(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        centre = add_facility(s, type_code="elderly_day_care", capacity=2).id
        ids = [service.apply(s, RULES, facility_id=centre, applicant_user_id=k,
                             beneficiary_name=f"老人{k}",
                             beneficiary_birth_date=dt.date(1950, 1, 1) + dt.timedelta(days=k),
                             division_code=COMMUNITY, now=T0 + dt.timedelta(minutes=k)).id
               for k in range(RACERS + 1)]
        service.offer_place(s, RULES, ids[0], now=T0)  # one place left
    barrier = threading.Barrier(RACERS)

    def attempt(k: int) -> str:
        with sessions() as s:
            barrier.wait()
            try:
                service.offer_place(s, RULES, ids[k + 1], now=T0)
                s.commit()
            except ConflictError:
                return "lost"
            return "won"

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        outcomes = list(pool.map(attempt, range(RACERS)))
    assert outcomes.count("won") == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CarePlaceHold)) == 2
        assert s.scalar(select(func.count()).select_from(CareApplication).where(
            CareApplication.status == "offered")) == 2
    engine.dispose()


def test_concurrent_settles_offer_each_free_place_once(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        centre = add_facility(s, type_code="nursery", capacity=3).id
        for k in range(6):
            service.apply(s, RULES, facility_id=centre, applicant_user_id=k,
                          beneficiary_name=f"宝宝{k}", beneficiary_birth_date=dt.date(2025, 6, 1),
                          division_code=COMMUNITY, now=T0 + dt.timedelta(minutes=k))
    barrier = threading.Barrier(8)

    def attempt(_k: int) -> list[int]:
        barrier.wait()
        return service.settle(sessions, RULES, centre, now=T0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        offered = [i for ids in pool.map(attempt, range(8)) for i in ids]
    with sessions() as s:
        holders = sorted(s.scalars(select(CarePlaceHold.application_id)))
        first_three = sorted(s.scalars(select(CareApplication.id).order_by(
            CareApplication.applied_at).limit(3)))
    assert sorted(offered) == holders == first_three
    engine.dispose()
