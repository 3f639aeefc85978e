"""The target-responsibility assessment as the API and the assessment page read it: the
latest indicator run scored with the scheme in force, residents' reviews given in the
scheme's review window joined in, each score with how many reviews were given and needed.

With ``assessment_approved_only`` on (``reporting.toml``, the default), a division whose
figures of the assessed year rest on a reporting form no sign-off holds — one of its
communities' figures were written at submission, or unapproved after they were written —
gets no score until the form is signed off: it is listed as withheld with how many of its
communities wait, and ranks are among the others.  Off, every division is scored.

The formula is :mod:`shequ.indicators.assessment`'s; this module only loads and joins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from shequ.errors import Problem, ValidationError
from shequ.indicators.assessment import AssessmentScore, Scheme, assess, load_scheme
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.store import (
    latest_run,
    load_divisions,
    load_measure_tables,
    load_values,
    run_period,
)
from shequ.indicators.views import Place, place_of, with_direction
from shequ.registry.codes import LEVEL_DIGITS
from shequ.services.reporting.service import reporting_config, resting_on_unapproved
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
    approved_only: bool = False
    # divisions left unscored: code -> (name, communities under it resting on unapproved
    # figures)
    withheld: dict[str, tuple[str, int]] = field(default_factory=dict)


def unapproved_under(session: Session, *, level: int, period: int,
                     catalog_dir: Path | None = None) -> dict[str, int]:
    """The divisions of ``level`` whose figures of ``period`` rest on unapproved forms,
    each with how many of its communities do."""
    config = reporting_config(catalog_dir)
    counts: dict[str, int] = {}
    for code in resting_on_unapproved(session, config, period=period):
        holder = code[:LEVEL_DIGITS[level]].ljust(12, "0")
        counts[holder] = counts.get(holder, 0) + 1
    return counts


def assessment_scores(session: Session, *, level: int, ou: str = "nation",
                      catalog_dir: Path | None = None, approved_only: bool | None = None,
                      hierarchy: dt.date | None = None, period: int | None = None
                      ) -> Assessment:
    """Score the divisions of ``level`` (1–5) and keep those under ``ou``, best first;
    ``approved_only`` (default: the reporting configuration's) withholds the scores that
    would rest on unapproved figures.  The year ``period`` (default: the run's newest) of
    the newest run on the hierarchy of date ``hierarchy`` (default: the newest run)."""
    if not 1 <= level <= 5:
        raise ValidationError([Problem("level", f"level {level} is not 1–5", column="level",
                                       code="out_of_bounds", params={"value": level})])
    catalog = load_indicator_catalog(catalog_dir)
    run = latest_run(session, hierarchy=hierarchy)
    period = run_period(run, period)
    place = place_of(session, ou, as_of=run.as_of)
    values = load_values(session, run_id=run.id, periods=[period])
    tables = load_measure_tables(session, as_of=run.as_of, period=period)
    scheme = load_scheme(catalog, catalog_dir=catalog_dir)
    reviews = assessment_reviews(session, scheme, period=period, level=level)
    if approved_only is None:
        approved_only = reporting_config(catalog_dir).assessment_approved_only
    waiting = unapproved_under(session, level=level, period=period,
                               catalog_dir=catalog_dir) if approved_only else {}
    divisions = load_divisions(session, as_of=run.as_of)
    scores = assess(with_direction(values, catalog), scheme, level=level, tables=tables,
                    as_of=run.as_of, period=period, reviews=reviews, divisions=divisions,
                    withheld=waiting)
    prefix = "" if place.level == 0 else place.code[:LEVEL_DIGITS[place.level]]
    ranked = [s for s in sorted(scores, key=lambda s: (s.rank, s.division_code))
              if s.division_code.startswith(prefix)]
    names = dict(divisions.select("code", "name").iter_rows()) if waiting else {}
    withheld = {code: (str(names.get(code, code)), count)
                for code, count in sorted(waiting.items()) if code.startswith(prefix)}
    return Assessment(place, level, period, scheme, scheme.review_window(period), ranked,
                      approved_only=approved_only, withheld=withheld)


__all__ = ["Assessment", "assessment_scores", "unapproved_under"]
