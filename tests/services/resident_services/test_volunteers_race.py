"""An activity's places hold when volunteers sign up at the same moment."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from shequ.errors import ConflictError
from shequ.registry.db import make_engine, session_factory
from shequ.services.volunteers import service
from shequ.services.volunteers.models import OrganiserKind, VolunteerSignup

from .helpers import COMMUNITY, cst

NOW = cst(2026, 12, 1, 9)
RACERS = 12
PLACES = 2


def test_concurrent_signups_never_exceed_the_places(db_url: str) -> None:
    engine = make_engine(db_url, poolclass=NullPool)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        for uid in range(RACERS):
            service.register(s, user_id=uid, division_code=COMMUNITY, display_name=f"v{uid}",
                             now=NOW)
        activity = service.publish(
            s, division_code=COMMUNITY, organiser_kind=OrganiserKind.COMMUNITY,
            organiser_name="居委会", organiser_user_id=99, title="义务理发",
            starts_at=NOW + dt.timedelta(days=2), ends_at=NOW + dt.timedelta(days=2, hours=2),
            places=PLACES, now=NOW).id
    barrier = threading.Barrier(RACERS)

    def attempt(uid: int) -> str:
        with sessions() as s:
            barrier.wait()
            try:
                service.sign_up(s, activity_id=activity, user_id=uid, now=NOW)
                s.commit()
            except ConflictError:
                return "full"
            return "in"

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        outcomes = list(pool.map(attempt, range(RACERS)))
    assert outcomes.count("in") == PLACES
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(VolunteerSignup)) == PLACES
    engine.dispose()
