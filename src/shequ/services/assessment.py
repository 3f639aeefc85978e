"""The target-responsibility assessment as the API and the assessment page read it: the
latest indicator run scored with the scheme in force, residents' reviews given in the
scheme's review window joined in, each score with how many reviews were given and needed.

The formula is :mod:`shequ.indicators.assessment`'s; this module only loads and joins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from shequ.errors import Problem, ValidationError
from shequ.indicators.assessment import AssessmentScore, Scheme, assess, load_scheme
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.store import latest_run, load_divisions, load_measure_tables, load_values
from shequ.indicators.views import Place, latest_period, place_of, with_direction
from shequ.registry.codes import LEVEL_DIGITS
from shequ.services.reviews.service import assessment_reviews


@dataclass(frozen=True, slots=True)
class Assessment:
    """The scores of one level under one place for the latest indicator year."""

    place: Place
    level: int
    period: int
    scheme: Scheme
    review_window: tuple[dt.date, dt.date]  # [from, before)
    scores: list[AssessmentScore]  # ranked


def assessment_scores(session: Session, *, level: int, ou: str = "nation",
                      catalog_dir: Path | None = None) -> Assessment:
    """Score the divisions of ``level`` (1–5) and keep those under ``ou``, best first."""
    if not 1 <= level <= 5:
        raise ValidationError([Problem("level", f"level {level} is not 1–5", column="level",
                                       code="out_of_bounds", params={"value": level})])
    catalog = load_indicator_catalog(catalog_dir)
    run = latest_run(session)
    period = latest_period(run)
    place = place_of(session, ou, as_of=run.as_of)
    values = load_values(session, run_id=run.id, periods=[period])
    tables = load_measure_tables(session, as_of=run.as_of, period=period)
    scheme = load_scheme(catalog, catalog_dir=catalog_dir)
    reviews = assessment_reviews(session, scheme, period=period, level=level)
    scores = assess(with_direction(values, catalog), scheme, level=level, tables=tables,
                    as_of=run.as_of, period=period, reviews=reviews,
                    divisions=load_divisions(session, as_of=run.as_of))
    prefix = "" if place.level == 0 else place.code[:LEVEL_DIGITS[place.level]]
    ranked = [s for s in sorted(scores, key=lambda s: (s.rank, s.division_code))
              if s.division_code.startswith(prefix)]
    return Assessment(place, level, period, scheme, scheme.review_window(period), ranked)


__all__ = ["Assessment", "assessment_scores"]
