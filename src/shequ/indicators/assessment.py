"""Target-responsibility assessment of local governments: scores with their breakdown.

Formula (weights from the scheme file, ``catalog/assessment.toml``)::

    score(d) = 100 × Σ_k w_k · a_k(d) / Σ_k∈available w_k  −  Σ_p min(max_p, n_p(d) · points_p)

where the parts ``k`` are the weighted indicators (achievement ``a`` = progress toward
the effective target, :func:`shequ.indicators.targets.progress`) and residents' reviews
(``a`` = mean score / scale, only with at least ``min_count`` reviews), and ``n_p(d)``
counts penalty cases in d's subtree (a measure expression, e.g. facilities accepted
below the area standard).  Parts without data drop out of both sums.

Residents' reviews come from outside (the services' review table): pass a mapping
``division_code → (mean score, number of reviews)``; nothing here reads it directly.
They are the reviews *given* in the assessment's review window, a date range fixed by
the scheme relative to the assessed year Y (:meth:`Scheme.review_window`): by default
the calendar year Y + 1, in which year Y is assessed.  Each score's reviews part says
how many reviews were given and how many were needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from shequ.catalog import read_toml
from shequ.errors import CatalogError, ExpressionError
from shequ.indicators.definitions import IndicatorCatalog, parse_measure
from shequ.indicators.engine import MeasureTables, holder_values, prepare
from shequ.indicators.expr import Expr
from shequ.indicators.targets import progress

PACKAGED_SCHEME = Path(__file__).with_name("catalog") / "assessment.toml"
ReviewScores = Mapping[str, tuple[float, int]]


@dataclass(frozen=True, slots=True)
class Penalty:
    """Points taken off per case the measure counts, up to a ceiling."""

    code: str
    name_zh: str
    name_en: str
    measure: Expr
    measure_text: str
    points_each: float
    max_points: float


@dataclass(frozen=True, slots=True)
class Scheme:
    """An assessment scheme: indicator weights, reviews' weight, penalties, peer groups."""

    code: str
    name_zh: str
    name_en: str
    weights: tuple[tuple[str, float], ...]
    review_weight: float
    review_scale: float
    review_min_count: int
    penalties: tuple[Penalty, ...]
    peers: str = "level"
    # The review window of assessed year Y: from month-day ``review_window_start`` of
    # year Y + ``review_window_year_offset``, for ``review_window_months`` months.
    review_window_start: tuple[int, int] = (1, 1)
    review_window_year_offset: int = 1
    review_window_months: int = 12

    def review_window(self, period: int) -> tuple[dt.date, dt.date]:
        """The days whose reviews count toward assessed year ``period``: [start, end)."""
        month, day = self.review_window_start
        start = dt.date(period + self.review_window_year_offset, month, day)
        months = start.month - 1 + self.review_window_months
        end = dt.date(start.year + months // 12, months % 12 + 1, start.day)
        return start, end


def load_scheme(catalog: IndicatorCatalog, *, path: Path | None = None,
                catalog_dir: Path | None = None, facility_types: list[str] | None = None
                ) -> Scheme:
    """Read and check a scheme file (the deployment's, else the packaged example)."""
    if path is None:
        candidate = None if catalog_dir is None else Path(catalog_dir) / "assessment.toml"
        path = candidate if candidate is not None and candidate.is_file() else PACKAGED_SCHEME
    data = read_toml(path).get("scheme")
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: missing the [scheme] table")
    where = str(path)
    weights = []
    for index, entry in enumerate(data.get("weight", []), start=1):
        code = str(entry.get("indicator"))
        if code not in catalog.indicators:
            raise CatalogError(f"{where}, weight #{index}: unknown indicator {code!r}; known: "
                               f"{', '.join(catalog.indicators)}")
        weight = float(entry.get("weight", 0))
        if weight < 0:
            raise CatalogError(f"{where}, weight #{index}: weight {weight} must not be negative")
        weights.append((code, weight))
    penalties = []
    for index, entry in enumerate(data.get("penalty", []), start=1):
        text = str(entry.get("measure", ""))
        try:
            measure = parse_measure(text, catalog, where=f"{where}, penalty #{index}",
                                    facility_types=facility_types)
        except ExpressionError as exc:
            raise CatalogError(str(exc)) from None
        penalties.append(Penalty(str(entry.get("code", f"penalty{index}")),
                                 str(entry.get("name_zh", "")), str(entry.get("name_en", "")),
                                 measure, text, float(entry.get("points_each", 1)),
                                 float(entry.get("max_points", 100))))
    peers = str(data.get("peers", "level"))
    if peers not in ("level", "siblings"):
        raise CatalogError(f"{where}: peers = {peers!r} must be level or siblings")
    window = data.get("review_window", {})
    start_text = str(window.get("start", "01-01"))
    try:
        start = dt.date(2000, int(start_text[:2]), int(start_text[3:]))
        if start.day > 28 or len(start_text) != 5 or start_text[2] != "-":
            raise ValueError(start_text)
    except ValueError:
        raise CatalogError(f"{where}: review_window.start = {start_text!r} must be a day "
                           "MM-DD from 01 to 28 (e.g. \"01-01\" or \"07-01\")") from None
    months = window.get("months", 12)
    offset = window.get("year_offset", 1)
    if not isinstance(months, int) or not 1 <= months <= 36:
        raise CatalogError(f"{where}: review_window.months = {months!r} must be 1 to 36")
    if not isinstance(offset, int) or not -1 <= offset <= 2:
        raise CatalogError(f"{where}: review_window.year_offset = {offset!r} must be -1 to 2")
    return Scheme(str(data.get("code", "default")), str(data.get("name_zh", "")),
                  str(data.get("name_en", "")), tuple(weights),
                  float(data.get("review_weight", 0)), float(data.get("review_scale", 5)),
                  int(data.get("review_min_count", 1)), tuple(penalties), peers,
                  (start.month, start.day), offset, months)


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a score: its weight, achievement (None = no data) and points."""

    part: str
    weight: float
    achievement: float | None
    points: float
    detail: str
    # The reviews part only: reviews given in the window and the number needed to count.
    reviews: int | None = None
    reviews_needed: int | None = None


@dataclass(frozen=True, slots=True)
class AssessmentScore:
    """A division's score, its rank among peers and how it was made."""

    division_code: str
    name: str
    level: int
    score: float
    rank: int
    peers: int
    components: tuple[Component, ...]

    @property
    def reviews(self) -> tuple[int, int] | None:
        """Reviews given in the window and the number needed (None: reviews not weighed)."""
        for part in self.components:
            if part.part == "reviews" and part.reviews is not None:
                return part.reviews, part.reviews_needed or 0
        return None


def assess(status: pl.DataFrame, scheme: Scheme, *, level: int, tables: MeasureTables,
           as_of: dt.date, period: int, reviews: ReviewScores | None = None,
           divisions: pl.DataFrame | None = None, withheld: Collection[str] = ()
           ) -> list[AssessmentScore]:
    """Score every division of ``level``; ranks are 1 = best among its peers.

    The divisions in ``withheld`` get no score and are nobody's peer (their figures are
    not yet approved, for one).

    ``status`` comes from :func:`shequ.indicators.targets.with_status` (values, targets
    and directions of the latest period).
    """
    reviews = reviews or {}
    rows = status.filter(pl.col("level") == level)
    by_division: dict[str, dict[str, tuple[float | None, float | None, str]]] = {}
    for row in rows.iter_rows(named=True):
        by_division.setdefault(row["division_code"], {})[row["indicator"]] = (
            row["value"], row["target"], row["direction"])
    ready = prepare(tables, as_of=as_of)
    penalty_counts = {
        penalty.code: dict(holder_values(tables, penalty.measure, as_of=as_of, period=period,
                                         prepared=ready)
                           .filter(pl.col("level") == level)
                           .select("division_code", "total").iter_rows())
        for penalty in scheme.penalties}
    names: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    if divisions is not None:
        for code, name, parent in divisions.select("code", "name", "parent_code").iter_rows():
            names[code], parents[code] = name, parent
    units = sorted((set(by_division) | {c for counts in penalty_counts.values()
                                        for c in counts}) - set(withheld))
    scored: list[tuple[str, float, tuple[Component, ...]]] = []
    for code in units:
        parts: list[Component] = []
        for indicator, weight in scheme.weights:
            value, target, direction = by_division.get(code, {}).get(indicator,
                                                                     (None, None, ">="))
            achieved = progress(value, target, direction)
            detail = "no data or no target" if achieved is None else (
                f"value {value:.4g} / target {target:.4g}")
            parts.append(Component(indicator, weight, achieved,
                                   0.0 if achieved is None else weight * achieved, detail))
        mean, count = reviews.get(code, (None, 0))
        if scheme.review_weight > 0:
            enough = mean is not None and count >= scheme.review_min_count
            achieved = min(1.0, max(0.0, float(mean) / scheme.review_scale)) if enough and (
                mean is not None) else None
            detail = (f"mean {mean:.2f} of {count} reviews" if mean is not None
                      else "no reviews")
            if mean is not None and not enough:
                detail += f" (fewer than {scheme.review_min_count}, not counted)"
            parts.append(Component("reviews", scheme.review_weight, achieved,
                                   0.0 if achieved is None else scheme.review_weight * achieved,
                                   detail, int(count), scheme.review_min_count))
        available = sum(p.weight for p in parts if p.achievement is not None)
        base = 100.0 * sum(p.points for p in parts) / available if available > 0 else 0.0
        # express each part's points on the 100-point scale actually used
        scale = 100.0 / available if available > 0 else 0.0
        parts = [Component(p.part, p.weight, p.achievement, p.points * scale, p.detail,
                           p.reviews, p.reviews_needed) for p in parts]
        deduction = 0.0
        for penalty in scheme.penalties:
            cases = float(penalty_counts[penalty.code].get(code, 0.0))
            taken = min(penalty.max_points, cases * penalty.points_each)
            deduction += taken
            parts.append(Component(f"penalty:{penalty.code}", 0.0, None, -taken,
                                   f"{cases:.0f} case(s) × {penalty.points_each:g}, "
                                   f"at most {penalty.max_points:g}"))
        scored.append((code, round(base - deduction, 6), tuple(parts)))
    groups: dict[str | None, list[tuple[str, float]]] = {}
    for code, score, _ in scored:
        key = parents.get(code) if scheme.peers == "siblings" else None
        groups.setdefault(key, []).append((code, score))
    ranks: dict[str, tuple[int, int]] = {}
    for members in groups.values():
        ordered = sorted(members, key=lambda item: (-item[1], item[0]))
        for code, score in ordered:
            # ties share the better rank
            first = next(i for i, (_, s) in enumerate(ordered, start=1) if s == score)
            ranks[code] = (first, len(members))
    return [AssessmentScore(code, names.get(code, code), level, score, ranks[code][0],
                            ranks[code][1], parts) for code, score, parts in scored]


def scores_frame(scores: list[AssessmentScore]) -> pl.DataFrame:
    """Scores as a table, one column per component's points (for export)."""
    rows = []
    for item in sorted(scores, key=lambda s: (s.rank, s.division_code)):
        row: dict[str, object] = {"division_code": item.division_code, "name": item.name,
                                  "level": item.level, "score": item.score,
                                  "rank": item.rank, "peers": item.peers}
        for part in item.components:
            row[part.part] = round(part.points, 6)
        rows.append(row)
    return pl.DataFrame(rows)


__all__ = ["AssessmentScore", "Component", "Penalty", "ReviewScores", "Scheme", "assess",
           "load_scheme", "scores_frame"]
