"""Read models over stored runs: a division's dashboard, analytics selections, short boards.

Shared by the command line, the HTTP API and the planner's page, so that all three
show the same figures.  Everything reads the newest stored run unless told otherwise.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import BigInteger, cast, func, inspect, select
from sqlalchemy import table as sql_table
from sqlalchemy.orm import Session
from sqlalchemy.sql import column

from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.indicators.definitions import NATION_CODE, IndicatorCatalog
from shequ.indicators.engine import POPULATION_SCHEMA
from shequ.indicators.expr import PERSON_MEASURES
from shequ.indicators.models import IndicatorRun
from shequ.indicators.shortboards import short_boards
from shequ.indicators.store import latest_run, load_values, run_period
from shequ.registry import queries
from shequ.registry.codes import LEVEL_DIGITS, normalise_code
from shequ.registry.models import Division, Population


@dataclass(frozen=True, slots=True)
class Place:
    """A division as the views show it."""

    code: str
    name: str
    level: int
    longitude: float | None = None
    latitude: float | None = None
    synthetic: bool = False


NATION = Place(NATION_CODE, "全国", 0)


@dataclass(frozen=True, slots=True)
class IndicatorLine:
    """One indicator of one division in the run's latest period."""

    code: str
    name: str
    unit: str
    direction: str
    attribute: str
    value: float | None
    numerator: float | None
    denominator: float | None
    target: float | None
    target_jurisdiction: str | None
    projected: float | None
    status: str | None


@dataclass(frozen=True, slots=True)
class ChildLine:
    """A child division with the chosen indicator's value (for drill-down and the map)."""

    place: Place
    value: float | None
    target: float | None
    status: str | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A division's indicators against targets, its children and its short boards."""

    place: Place
    ancestors: tuple[Place, ...]
    run: IndicatorRun
    period: int
    lines: tuple[IndicatorLine, ...]
    indicator: str
    children: tuple[ChildLine, ...]
    short_boards: pl.DataFrame = field(default_factory=pl.DataFrame)
    access_rows: int = 0  # community_access rows under the division (life-circle inputs)
    trend: tuple[tuple[int, float | None], ...] = ()  # the chosen indicator by period


def place_of(session: Session, code: str, *, as_of: dt.date | None = None) -> Place:
    """The division ``code`` (or the nation for ``000000000000``/``nation``) as a Place."""
    if code in ("", "nation", NATION_CODE, "0"):
        return NATION
    unit = queries.division(session, normalise_code(code), as_of=as_of)
    return Place(unit.code, unit.name, unit.level, unit.longitude, unit.latitude,
                 unit.synthetic_geography)


def _prefix(place: Place) -> str:
    return "" if place.level == 0 else place.code[: LEVEL_DIGITS[place.level]]


def places_in(session: Session, place: Place, *, level: int, run: IndicatorRun) -> list[Place]:
    """Divisions of ``level`` under ``place`` in force on the run's hierarchy date."""
    query = select(Division).where(queries.valid_on(run.as_of), Division.level == level)
    prefix = _prefix(place)
    if prefix:
        query = query.where(Division.code.startswith(prefix))
    return [Place(d.code, d.name, d.level, d.longitude, d.latitude, d.synthetic_geography)
            for d in session.scalars(query.order_by(Division.code))]


def people_of_units(session: Session, *, prefix: str, period: int) -> pl.DataFrame:
    """Person measures of the community-level units under ``prefix`` in ``period``."""
    columns = ["division_code", *PERSON_MEASURES]
    query = select(*(getattr(Population, c) for c in columns)).where(
        Population.period == period)
    if prefix:
        query = query.where(Population.division_code.startswith(prefix))
    rows = session.execute(query).all()
    schema = {c: POPULATION_SCHEMA[c] for c in columns}
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def with_direction(values: pl.DataFrame, catalog: IndicatorCatalog) -> pl.DataFrame:
    """Stored values with each indicator's direction (what the status tables carry)."""
    directions = {code: ind.direction for code, ind in catalog.indicators.items()}
    return values.with_columns(
        pl.col("indicator").replace_strict(directions, default=">=").alias("direction"))


def latest_period(run: IndicatorRun) -> int:
    """The newest period of a run (the one that carries statuses)."""
    return max(int(p) for p in run.periods.split(","))


def dashboard(session: Session, catalog: IndicatorCatalog, code: str, *,
              indicator: str | None = None, lang: str = "zh-CN", run_id: int | None = None,
              board_limit: int = 20, period: int | None = None) -> Dashboard:
    """The dashboard of division ``code``: indicators, children's values, short boards —
    of the run's newest year, or of ``period`` (a year the run holds)."""
    run = latest_run(session) if run_id is None else session.get(IndicatorRun, run_id)
    if run is None:
        raise NotFoundError(f"no indicator run with id {run_id}")
    place = place_of(session, code, as_of=run.as_of)
    ancestors = () if place.level == 0 else tuple(
        Place(a.code, a.name, a.level) for a in queries.ancestors(
            session, place.code, as_of=run.as_of)[:-1])
    period = run_period(run, period)
    values = load_values(session, run_id=run.id, codes=[place.code], periods=[period])
    by_code = {row["indicator"]: row for row in values.iter_rows(named=True)}
    lines = []
    for ind in catalog.indicators.values():
        if not ind.applies_to(place.code) and place.level != 0:
            continue
        if place.level == 0 and ind.scope != NATION_CODE:
            continue
        row = by_code.get(ind.code, {})
        lines.append(IndicatorLine(
            ind.code, ind.name(lang), ind.unit, ind.direction, ind.attribute,
            row.get("value"), row.get("numerator"), row.get("denominator"), row.get("target"),
            row.get("target_jurisdiction"), row.get("projected"), row.get("status")))
    chosen = indicator or (lines[0].code if lines else "N1")
    catalog.indicator(chosen)
    kids: list[ChildLine] = []
    if place.level < 5:
        child_places = places_in(session, place, level=place.level + 1, run=run)
        child_values = load_values(session, run_id=run.id, indicators=[chosen],
                                   codes=[c.code for c in child_places], periods=[period])
        value_of = {r["division_code"]: r for r in child_values.iter_rows(named=True)}
        kids = [ChildLine(c, value_of.get(c.code, {}).get("value"),
                          value_of.get(c.code, {}).get("target"),
                          value_of.get(c.code, {}).get("status")) for c in child_places]
    boards = unit_short_boards(session, catalog, place, run=run, period=period, lang=lang,
                               indicators=[chosen], limit=board_limit)
    history = load_values(session, run_id=run.id, indicators=[chosen], codes=[place.code])
    trend = tuple((int(r["period"]), r["value"]) for r in history.sort("period").iter_rows(
        named=True))
    return Dashboard(place, ancestors, run, period, tuple(lines), chosen, tuple(kids), boards,
                     access_rows(session, prefix=_prefix(place)), trend)


def access_rows(session: Session, *, prefix: str) -> int:
    """How many ``community_access`` rows lie under ``prefix`` (0 when the table is absent)."""
    if not inspect(session.get_bind()).has_table("community_access"):
        return 0
    access = sql_table("community_access", column("division_code"))
    query = select(func.count()).select_from(access)
    if prefix:
        query = query.where(access.c.division_code.startswith(prefix))
    return int(session.scalar(query) or 0)


def unit_short_boards(session: Session, catalog: IndicatorCatalog, place: Place, *,
                      run: IndicatorRun, period: int, lang: str = "zh-CN",
                      indicators: Sequence[str] | None = None, limit: int | None = None
                      ) -> pl.DataFrame:
    """Short boards among the community-level units under ``place`` (stored run)."""
    prefix = _prefix(place)
    values = load_values(session, run_id=run.id, indicators=indicators, prefix=prefix or None,
                         periods=[period]).filter(pl.col("level") == 5)
    units = places_in(session, place, level=5, run=run) if place.level < 5 else [place]
    divisions = pl.DataFrame({"code": [u.code for u in units], "name": [u.name for u in units]},
                             schema={"code": pl.String, "name": pl.String})
    return short_boards(with_direction(values, catalog), catalog, divisions=divisions,
                        people=people_of_units(session, prefix=prefix, period=period),
                        lang=lang, levels=(5,), indicators=indicators, limit=limit)


def short_boards_marker(session: Session, place: Place, *, run: IndicatorRun,
                        period: int) -> tuple[object, ...]:
    """What the short boards of ``place`` read besides the stored run, in two aggregates.

    The population rows of ``period`` under the place (count, sums and id-weighted sums of
    the person measures, so an edit of one row or a swap between rows changes it) and the
    community-level divisions in force on the run's date (count and sum of ids: a new
    version of a division is a new row).
    """
    prefix = _prefix(place)
    measures = [cast(getattr(Population, c), BigInteger) for c in PERSON_MEASURES]
    people = select(func.count(), *(func.coalesce(func.sum(m), 0) for m in measures),
                    *(func.coalesce(func.sum(m * Population.id), 0) for m in measures)
                    ).where(Population.period == period)
    units = select(func.count(), func.coalesce(func.sum(Division.id), 0)).where(
        queries.valid_on(run.as_of), Division.level == 5)
    if prefix:
        people = people.where(Population.division_code.startswith(prefix))
        units = units.where(Division.code.startswith(prefix))
    return (*session.execute(people).one(), *session.execute(units).one())


@dataclass(frozen=True, slots=True)
class _Board:
    catalog: IndicatorCatalog
    marker: tuple[object, ...]
    expires: float
    frame: pl.DataFrame


class ShortBoardCache:
    """Short boards of stored runs, held by the app so each is computed once.

    A board is a pure function of the run, the place, the period, the indicators, the
    limit, the language and the catalog, plus the population rows and divisions it reads.
    Entries are keyed by the first, and each carries :func:`short_boards_marker` of the
    second, checked on every read (two aggregate queries, far cheaper than loading the
    run's values), so a new run or an edited population row is seen at once.  The
    registry keeps no change stamp of its own, so an entry also lives at most ``ttl``
    seconds (30 by default): an edit the marker cannot see (a division renamed in place)
    shows within that.  At most ``size`` boards are kept, the least recently read dropped
    first.  Safe to share between the server's threads.
    """

    def __init__(self, *, size: int = 256, ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self._boards: OrderedDict[tuple[object, ...], _Board] = OrderedDict()
        self._lock = threading.Lock()
        self._filling = threading.Lock()

    def __len__(self) -> int:
        return len(self._boards)

    def _valid(self, key: tuple[object, ...], catalog: IndicatorCatalog,
               marker: tuple[object, ...], now: float) -> pl.DataFrame | None:
        with self._lock:
            board = self._boards.get(key)
            if board is None or board.catalog is not catalog or board.marker != marker \
                    or board.expires <= now:
                return None
            self._boards.move_to_end(key)
            return board.frame.clone()

    def short_boards(self, session: Session, catalog: IndicatorCatalog, place: Place, *,
                     run: IndicatorRun, period: int, lang: str = "zh-CN",
                     indicators: Sequence[str] | None = None, limit: int | None = None
                     ) -> pl.DataFrame:
        """The same frame as :func:`unit_short_boards`, from the cache when still valid."""
        key = (run.id, place.code, period, lang, limit,
               None if indicators is None else tuple(indicators))
        marker = short_boards_marker(session, place, run=run, period=period)
        now = self.clock()
        cached = self._valid(key, catalog, marker, now)
        if cached is not None:
            return cached
        # One filling at a time: requests that missed together wait for the first one's
        # board instead of each loading the run's values (misses are rare and short).
        with self._filling:
            cached = self._valid(key, catalog, marker, now)
            if cached is not None:
                return cached
            frame = unit_short_boards(session, catalog, place, run=run, period=period,
                                      lang=lang, indicators=indicators, limit=limit)
            with self._lock:
                self._boards[key] = _Board(catalog, marker, now + self.ttl, frame)
                self._boards.move_to_end(key)
                while len(self._boards) > self.size:
                    self._boards.popitem(last=False)
        return frame.clone()


@dataclass(frozen=True, slots=True)
class Selection:
    """An analytics request: indicators × divisions × periods."""

    indicators: tuple[str, ...]
    places: tuple[Place, ...]
    periods: tuple[int, ...]


def parse_selection(  # noqa: PLR0912 (one branch per selector form)
        session: Session, catalog: IndicatorCatalog, *, dx: str | None,
                    ou: str | None, pe: str | None, run: IndicatorRun) -> Selection:
    """Read DHIS2-style dimension strings.

    ``dx``: indicator codes separated by ``;`` (all when empty).  ``ou``: division codes
    and selectors separated by ``;`` — ``LEVEL-n`` (the divisions of level n under the
    listed units), ``CHILDREN`` (their children); the nation when empty.  ``pe``: years
    separated by ``;`` (the run's latest when empty).
    """
    problems: list[Problem] = []
    codes = tuple(c for c in (dx or "").split(";") if c) or tuple(catalog.indicators)
    for code in codes:
        if code not in catalog.indicators:
            problems.append(Problem("dx", f"unknown indicator {code!r}",
                                    hint=f"known: {', '.join(catalog.indicators)}"))
    run_periods = [int(p) for p in run.periods.split(",")]
    periods: list[int] = []
    for text in (pe or "").split(";"):
        if not text:
            continue
        if not text.isdigit() or int(text) not in run_periods:
            problems.append(Problem("pe", f"period {text!r} is not in the run",
                                    hint=f"periods: {run.periods}"))
        else:
            periods.append(int(text))
    units: list[str] = []
    selectors: list[str] = []
    for part in (ou or "").split(";"):
        if not part:
            continue
        upper = part.upper()
        if upper == "CHILDREN" or (upper.startswith("LEVEL-") and upper[6:].isdigit()
                                   and 1 <= int(upper[6:]) <= 5):
            selectors.append(upper)
        elif part.isdigit() or part.lower() == "nation":
            units.append(part)
        else:
            problems.append(Problem("ou", f"{part!r} is not a division code or selector",
                                    hint="use codes, LEVEL-n (1–5) or CHILDREN, joined by ;"))
    if problems:
        raise ValidationError(problems, summary="bad analytics request")
    roots = [place_of(session, code, as_of=run.as_of) for code in units] or [NATION]
    places: list[Place] = [] if selectors else list(roots)
    for selector in selectors:
        for root in roots:
            level = root.level + 1 if selector == "CHILDREN" else int(selector[6:])
            if level > root.level and level <= 5:
                places += places_in(session, root, level=level, run=run)
    seen: dict[str, Place] = {p.code: p for p in places}
    return Selection(codes, tuple(seen.values()), tuple(periods or [max(run_periods)]))


def analytics(session: Session, catalog: IndicatorCatalog, selection: Selection, *,
              run: IndicatorRun, lang: str = "zh-CN") -> dict[str, object]:
    """A DHIS2-shaped analytics answer: headers, rows ``[dx, ou, pe, value]``, metaData."""
    values = load_values(session, run_id=run.id, indicators=list(selection.indicators),
                         codes=[p.code for p in selection.places],
                         periods=list(selection.periods))
    values = values.filter(pl.col("value").is_not_null()).sort(
        "indicator", "division_code", "period")
    rows = [[r["indicator"], r["division_code"], str(r["period"]), f"{r['value']:.6g}"]
            for r in values.iter_rows(named=True)]
    items: dict[str, dict[str, str]] = {
        code: {"name": catalog.indicator(code).name(lang)} for code in selection.indicators}
    items.update({p.code: {"name": p.name} for p in selection.places})
    items.update({str(p): {"name": str(p)} for p in selection.periods})
    return {
        "headers": [
            {"name": "dx", "column": "Data", "valueType": "TEXT", "type": "java.lang.String"},
            {"name": "ou", "column": "Organisation unit", "valueType": "TEXT",
             "type": "java.lang.String"},
            {"name": "pe", "column": "Period", "valueType": "TEXT", "type": "java.lang.String"},
            {"name": "value", "column": "Value", "valueType": "NUMBER",
             "type": "java.lang.Double"},
        ],
        "metaData": {
            "items": items,
            "dimensions": {"dx": list(selection.indicators),
                           "ou": [p.code for p in selection.places],
                           "pe": [str(p) for p in selection.periods]},
        },
        "rows": rows,
        "height": len(rows),
        "width": 4,
        "run": {"id": run.id, "as_of": run.as_of.isoformat(), "periods": run.periods,
                "computed_at": run.computed_at.isoformat(),
                "inputs_stamp": None if run.inputs_stamp is None
                else run.inputs_stamp.isoformat()},
    }


__all__ = [
    "NATION",
    "ChildLine",
    "Dashboard",
    "IndicatorLine",
    "Place",
    "Selection",
    "ShortBoardCache",
    "analytics",
    "dashboard",
    "latest_period",
    "parse_selection",
    "people_of_units",
    "place_of",
    "places_in",
    "short_boards_marker",
    "unit_short_boards",
    "with_direction",
]
