"""Reviews: one per resident, item and period; moderation; scores for the assessment."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ConflictError, NotFoundError, ValidationError
from shequ.services.bookings import service as bookings
from shequ.services.bookings.rules import Booker
from shequ.services.reviews import review_scores, service

from .helpers import COMMUNITY, MONDAY, OTHER_TOWNSHIP_COMMUNITY, add_facility, cst

NOW = cst(2026, 12, 20, 10)


def test_one_review_per_resident_item_and_period(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        f = str(add_facility(s).id)
        first = service.submit(s, user_id=1, subject_kind="facility", subject_id=f, score=4,
                               comment="干净", now=NOW)
        assert (first.period, first.comment_status, first.division_code) == (
            2026, "pending", COMMUNITY)
        next_year = service.submit(s, user_id=1, subject_kind="facility", subject_id=f,
                                   score=2, now=cst(2027, 1, 2))
        assert next_year.comment_status == "none"
    with sessions() as s, pytest.raises(ConflictError, match="already reviewed facility"):
        service.submit(s, user_id=1, subject_kind="facility", subject_id=f, score=5,
                       now=NOW)
    with sessions.begin() as s:
        revised = service.revise(s, first.id, user_id=1, score=5, comment="很干净")
        assert (revised.score, revised.comment_status) == (5, "pending")
        with pytest.raises(NotFoundError):
            service.revise(s, first.id, user_id=2, score=1)


def test_scores_per_division_are_sums_over_counts(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        here = [str(add_facility(s).id) for _ in range(2)]
        there = str(add_facility(s, division_code=OTHER_TOWNSHIP_COMMUNITY).id)
        for uid, fid, score in ((1, here[0], 5), (2, here[0], 4), (3, here[1], 2),
                                (1, there, 3)):
            service.submit(s, user_id=uid, subject_kind="facility", subject_id=fid,
                           score=score, comment="评论", now=NOW)
        service.submit(s, user_id=9, subject_kind="facility", subject_id=there, score=1,
                       now=cst(2025, 6, 1))
        hidden = service.to_moderate(s, division_prefix="110101001")
        assert len(hidden) == 3
        service.moderate(s, hidden[0].id, approve=False, moderated_by=7, note="含个人信息")
        scores = review_scores(s, period=2026)
        by_county = service.review_scores(s, period=2026, level=3)
    assert scores == {COMMUNITY: (pytest.approx(11 / 3), 3),
                      OTHER_TOWNSHIP_COMMUNITY: (3.0, 1)}
    assert by_county == {"110101000000": (3.5, 4)}


def test_bookings_are_rated_after_they_end(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        f = add_facility(s)
        room = bookings.create_resource(s, facility_id=f.id, name="活动室",
                                        approval_required=False, now=MONDAY).id
        b = bookings.book(s, resource_id=room, booker=Booker(1, "resident", COMMUNITY),
                          starts_at=MONDAY + dt.timedelta(hours=14),
                          ends_at=MONDAY + dt.timedelta(hours=15), purpose="x",
                          now=MONDAY - dt.timedelta(days=1))
        with pytest.raises(ValidationError, match="once the approved booking has ended"):
            service.submit(s, user_id=1, subject_kind="booking", subject_id=str(b.id),
                           score=5, now=MONDAY)
        with pytest.raises(NotFoundError, match="you have no booking"):
            service.submit(s, user_id=2, subject_kind="booking", subject_id=str(b.id),
                           score=5, now=NOW)
        r = service.submit(s, user_id=1, subject_kind="booking", subject_id=str(b.id),
                           score=5, now=NOW)
        assert r.division_code == COMMUNITY
        with pytest.raises(ValidationError, match="between 1 and 5"):
            service.submit(s, user_id=1, subject_kind="facility", subject_id=str(f.id),
                           score=6, now=NOW)
        with pytest.raises(ValidationError, match="cannot be reviewed"):
            service.submit(s, user_id=1, subject_kind="weather", subject_id="1", score=3,
                           now=NOW)
