"""Residents' reviews in the assessment: those given in the scheme's review window count
toward the assessed year, and each score says how many were given and how many needed.

Hand-checked fixture: one community (多福巷社区, 110101001001) whose only indicator N1 is
80 against a target of 100 (achievement 0.8, weight 15); reviews weigh 20 on a scale of 5.
Window of 2024: 1 July 2024 to 30 June 2025.  Four reviews inside it (5, 4, 5, 4 →
mean 4.5, achievement 0.9), one on each side just outside (score 1).

    without reviews: 100 × 15·0.8 / 15 = 80
    with them:       100 × (15·0.8 + 20·0.9) / (15 + 20) = 3000 / 35 = 85.714…
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequ.context import Context
from shequ.indicators.assessment import Scheme, assess, load_scheme
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.store import compute_for_registry
from shequ.services.accounts.models import User
from shequ.services.reviews.models import Review
from shequ.services.reviews.service import assessment_reviews, review_scores_given
from shequ.settings import Settings
from tests.indicators import fixture as f
from tests.services.conftest import seed

UNIT, STREET = "110101001001", "110101001000"
AS_OF = dt.date(2025, 1, 1)
SCHEME = """
[scheme]
code = "test"
review_weight = 20
review_scale = 5
review_min_count = {needed}

[scheme.review_window]
start = "07-01"
year_offset = 0
months = 12

[[scheme.weight]]
indicator = "N1"
weight = 15
"""
def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          second: int = 0) -> dt.datetime:
    """China wall clock, as the review table's ``created_at`` is written and read."""
    return dt.datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 (naive by design)


GIVEN = [  # when, score
    (local(2024, 6, 30, 23, 59, 59), 1),  # the day before the window
    (local(2024, 7, 1, 0, 0, 0), 5),  # its first moment
    (local(2024, 12, 31, 12, 0), 4),
    (local(2025, 3, 1, 9, 30), 5),
    (local(2025, 6, 30, 23, 59, 59), 4),  # its last second
    (local(2025, 7, 1, 0, 0, 0), 1),  # the next window
]
STATUS = pl.DataFrame({"level": [5], "division_code": [UNIT], "indicator": ["N1"],
                       "value": [80.0], "target": [100.0], "direction": [">="]})


def scheme(tmp_path: Path, needed: int) -> Scheme:
    path = tmp_path / f"assessment_{needed}.toml"
    path.write_text(SCHEME.format(needed=needed), encoding="utf-8")
    return load_scheme(load_indicator_catalog(), path=path)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """The services' test region with six reviews of one community's facilities."""
    with sessions() as db:
        seed(db)
        resident = db.scalars(select(User).where(User.username == "resident1")).one()
        for number, (when, score) in enumerate(GIVEN, start=1):
            db.add(Review(user_id=resident.id, subject_kind="facility",
                          subject_id=str(number), division_code=UNIT, period=when.year,
                          score=score, created_at=when))
        db.commit()
        yield db
        db.rollback()


def test_the_window_is_a_date_range_fixed_relative_to_the_assessed_year(
        tmp_path: Path) -> None:
    assert scheme(tmp_path, 3).review_window(2024) == (dt.date(2024, 7, 1),
                                                       dt.date(2025, 7, 1))
    packaged = load_scheme(load_indicator_catalog())
    # the packaged scheme hears residents in the year the assessed year is assessed
    assert packaged.review_window(2025) == (dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    assert packaged.review_min_count == 50


def test_reviews_given_in_the_window_count_and_those_outside_do_not(
        session: Session, tmp_path: Path) -> None:
    assert assessment_reviews(session, scheme(tmp_path, 3), period=2024) == {UNIT: (4.5, 4)}
    assert assessment_reviews(session, scheme(tmp_path, 3), period=2024, level=4) == {
        STREET: (4.5, 4)}
    # 2023's window ends the second before 1 July 2024: the score of 1 given then
    assert review_scores_given(session, start=dt.date(2023, 7, 1),
                               end=dt.date(2024, 7, 1)) == {UNIT: (1.0, 1)}


def test_reviews_in_the_period_change_the_score_by_the_hand_computed_amount(
        session: Session, tmp_path: Path) -> None:
    chosen = scheme(tmp_path, 3)

    def score(period: int) -> tuple[float, tuple[int, int] | None]:
        reviews = assessment_reviews(session, chosen, period=period)
        [found] = assess(STATUS, chosen, level=5, tables=f.tables(), as_of=AS_OF,
                         period=2024, reviews=reviews)
        return found.score, found.reviews

    heard, without = score(2024), score(2022)  # 2022's window holds no review
    assert heard[0] == pytest.approx(3000 / 35)
    assert heard[1] == (4, 3)
    assert without[0] == pytest.approx(80.0)
    assert without[1] == (0, 3)
    assert heard[0] - without[0] == pytest.approx(200 / 35)  # +5.714…


def test_too_few_reviews_do_not_count_and_the_score_says_how_many_were_needed(
        session: Session, tmp_path: Path) -> None:
    chosen = scheme(tmp_path, 5)
    [found] = assess(STATUS, chosen, level=5, tables=f.tables(), as_of=AS_OF, period=2024,
                     reviews=assessment_reviews(session, chosen, period=2024))
    assert found.score == pytest.approx(80.0)
    assert found.reviews == (4, 5)
    part = next(p for p in found.components if p.part == "reviews")
    assert part.achievement is None
    assert "fewer than 5" in part.detail


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app over the indicators' hand-built fixture with a computed run of 2024."""
    from shequ.app import create_app

    ctx = Context.open(Settings(data_dir=tmp_path, database_url=db_url,
                                environment="test"), migrate=False)
    with ctx.sessions() as db, db.begin():
        f.store(db)
    compute_for_registry(ctx, as_of=dt.date(2024, 12, 31))
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    ctx.close()


def test_the_assessment_page_shows_reviews_given_and_needed(client: TestClient) -> None:
    # the fixture's run is of 2024: reviews given in 2025 count, 50 needed; none given
    page = client.get("/indicators/assessment", params={"level": "4", "lang": "en"})
    assert page.status_code == 200
    assert page.text.count('data-testid="score"') == 3
    assert "Residents&#39; reviews given from 1 Jan 2025 to 31 Dec 2025 count." in page.text
    assert "0 reviews given, at least 50 needed" in page.text
    zh = client.get("/indicators/assessment", params={"level": "9", "lang": "zh-CN"})
    assert zh.status_code == 422
    assert 'data-field="level"' in zh.text
