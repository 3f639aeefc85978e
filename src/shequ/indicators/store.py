"""Adapters: load the engine's tables from the registry, store and read computed runs.

The engine (:mod:`shequ.indicators.engine`) is pure; this module is the only one of the
indicator package that talks to the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Select, func, insert, inspect, select
from sqlalchemy import table as sql_table
from sqlalchemy.orm import Session
from sqlalchemy.sql import column

from shequ.context import Context
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.indicators.definitions import IndicatorCatalog, load_indicator_catalog
from shequ.indicators.engine import (
    ACCESS_SCHEMA,
    FACILITY_SCHEMA,
    INPUT_SCHEMA,
    POPULATION_SCHEMA,
    RESULT_SCHEMA,
    WORKFORCE_SCHEMA,
    MeasureTables,
    compute_indicators,
)
from shequ.indicators.models import IndicatorInput, IndicatorRun, IndicatorValue
from shequ.indicators.remap import LINK_SCHEMA
from shequ.indicators.targets import with_status
from shequ.registry.models import Division, DivisionChange, Facility, Population, Workforce
from shequ.registry.queries import today, valid_on

AnySelect = Select[*tuple[Any, ...]]

DIVISION_COLUMNS: dict[str, pl.DataType] = {
    "code": pl.String(), "level": pl.Int64(), "parent_code": pl.String(),
    "name": pl.String(), "kind": pl.String(), "urban_rural": pl.String(),
    "valid_from": pl.Date(), "valid_to": pl.Date(), "longitude": pl.Float64(),
    "latitude": pl.Float64(), "synthetic_geography": pl.Boolean(),
}


def _frame(session: Session, query: AnySelect, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    rows = session.execute(query).all()
    return pl.DataFrame([tuple(row) for row in rows], schema=schema, orient="row")


def load_divisions(session: Session, *, as_of: dt.date) -> pl.DataFrame:
    """Every division version in force on ``as_of`` with names and representative points."""
    query = select(*(getattr(Division, name) for name in DIVISION_COLUMNS)).where(
        valid_on(as_of))
    return _frame(session, query, DIVISION_COLUMNS)


def load_access(session: Session) -> pl.DataFrame:
    """The accessibility engine's ``community_access`` rows of every year stored (empty if
    the table is absent); the engine picks each year's rows."""
    bind = session.get_bind()
    if not inspect(bind).has_table("community_access"):
        return pl.DataFrame(schema=ACCESS_SCHEMA)
    access = sql_table("community_access", column("division_code"), column("facility_type"),
                       column("distance_m"), column("covered_share"), column("period"))
    rows = session.execute(select(access.c.division_code, access.c.facility_type,
                                  access.c.distance_m, access.c.covered_share,
                                  access.c.period)).all()
    return pl.DataFrame([tuple(row) for row in rows], schema=ACCESS_SCHEMA, orient="row")


def load_measure_tables(session: Session, *, as_of: dt.date,
                        period: int | Sequence[int] | None = None) -> MeasureTables:
    """The registry as engine tables: hierarchy in force on ``as_of``, measures of ``period``.

    ``period`` is one year, several, or None for every year stored.
    """
    periods = None if period is None else ([period] if isinstance(period, int) else list(period))

    def in_periods(query: AnySelect, col: Any) -> AnySelect:
        return query if periods is None else query.where(col.in_(periods))

    facilities = _frame(session, select(
        Facility.division_code, Facility.type_code, Facility.status, Facility.floor_area_m2,
        Facility.activity_area_m2, Facility.capacity, Facility.opened_on, Facility.closed_on)
        .order_by(Facility.division_code), FACILITY_SCHEMA)
    population = _frame(session, in_periods(select(
        *(getattr(Population, name) for name in POPULATION_SCHEMA)), Population.period)
        .order_by(Population.division_code), POPULATION_SCHEMA)
    workforce = _frame(session, in_periods(select(
        *(getattr(Workforce, name) for name in WORKFORCE_SCHEMA)), Workforce.period)
        .order_by(Workforce.division_code), WORKFORCE_SCHEMA)
    inputs = _frame(session, in_periods(select(
        IndicatorInput.division_code, IndicatorInput.period, IndicatorInput.measure,
        IndicatorInput.value), IndicatorInput.period), INPUT_SCHEMA)
    stamp = session.scalar(select(func.max(Facility.updated_at)))
    if isinstance(stamp, str):  # SQLite may hand back text for server defaults
        stamp = dt.datetime.fromisoformat(stamp)
    return MeasureTables(divisions=load_divisions(session, as_of=as_of), facilities=facilities,
                         population=population, workforce=workforce,
                         access=load_access(session), inputs=inputs, stamp=stamp,
                         links=load_links(session))


def load_links(session: Session) -> pl.DataFrame:
    """The division change links (predecessor → successor, share, date), so that figures
    on codes of another date's hierarchy are mapped to the hierarchy asked for."""
    return _frame(session, select(DivisionChange.predecessor_code,
                                  DivisionChange.successor_code, DivisionChange.share,
                                  DivisionChange.effective_on), LINK_SCHEMA)


def stored_periods(session: Session) -> list[int]:
    """The years that have population figures (what can be computed)."""
    return sorted(int(p) for p in session.scalars(select(Population.period).distinct()))


def catalog_digest(catalog: IndicatorCatalog) -> str:
    """SHA-256 of the catalog files in force (reproducibility of a run)."""
    digest = hashlib.sha256()
    for path in catalog.files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class RunResult:
    """A computation: the stored run's id (None when not stored) and its tables."""

    run_id: int | None
    results: pl.DataFrame
    status: pl.DataFrame
    tables: MeasureTables
    as_of: dt.date
    periods: tuple[int, ...]


def compute_for_registry(ctx: Context, *, as_of: dt.date | None = None,
                         periods: Iterable[int] | None = None,
                         catalog: IndicatorCatalog | None = None, store: bool = True,
                         note: str | None = None) -> RunResult:
    """Load the registry, compute every indicator, add targets and status, store the run."""
    chosen = catalog or load_indicator_catalog(ctx.settings.catalog_dir)
    when = as_of or today()
    with ctx.sessions() as session:
        years = sorted(set(periods)) if periods is not None else stored_periods(session)
        if not years:
            raise ValidationError([Problem(
                "population", "no population figures are stored, so nothing can be computed",
                hint="load the registry first (e.g. `shequ demo --no-serve`)")])
        tables = load_measure_tables(session, as_of=when, period=years)
        history = _stored_history(session, excluding=years)
    results = compute_indicators(tables, chosen, as_of=when, periods=years)
    status = with_status(results, chosen, history=history)
    run_id = store_run(ctx, results, status, as_of=when, periods=years,
                       stamp=tables.stamp, catalog=chosen, note=note) if store else None
    return RunResult(run_id, results, status, tables, when, tuple(years))


def _stored_history(session: Session, *, excluding: Sequence[int]) -> pl.DataFrame | None:
    """Values of the newest stored run for periods not computed now (extends the trend)."""
    run = session.scalars(select(IndicatorRun).order_by(IndicatorRun.id.desc())).first()
    if run is None:
        return None
    older = [int(p) for p in run.periods.split(",") if int(p) not in set(excluding)]
    if not older:
        return None
    return load_values(session, run_id=run.id, periods=older).select(list(RESULT_SCHEMA))


def store_run(ctx: Context, results: pl.DataFrame, status: pl.DataFrame, *, as_of: dt.date,
              periods: Sequence[int], stamp: dt.datetime | None, catalog: IndicatorCatalog,
              note: str | None = None) -> int:
    """Write one run and its values (latest period with target, projection and status)."""
    latest = status.select("indicator", "division_code", "period", "target",
                           "target_jurisdiction", "projected", "status")
    table = results.join(latest, on=["indicator", "division_code", "period"], how="left")
    targets = status.select("indicator", "division_code",
                            pl.col("target").alias("t2"),
                            pl.col("target_jurisdiction").alias("j2"))
    table = table.join(targets, on=["indicator", "division_code"], how="left").with_columns(
        pl.col("target").fill_null(pl.col("t2")),
        pl.col("target_jurisdiction").fill_null(pl.col("j2")),
    ).drop("t2", "j2").with_columns(pl.col("level").cast(pl.Int64),
                                    pl.col("period").cast(pl.Int64))
    with ctx.sessions() as session, session.begin():
        run = IndicatorRun(computed_at=dt.datetime.now(dt.UTC), as_of=as_of,
                           periods=",".join(str(p) for p in periods), inputs_stamp=stamp,
                           catalog_digest=catalog_digest(catalog), rows=len(table), note=note)
        session.add(run)
        session.flush()
        # slices keep memory flat for national runs (millions of rows)
        for part in table.with_columns(pl.lit(run.id).alias("run_id")).iter_slices(20_000):
            session.execute(insert(IndicatorValue), part.to_dicts())
        return run.id


def latest_run(session: Session, *, hierarchy: dt.date | None = None) -> IndicatorRun:
    """The newest stored run (on the hierarchy of date ``hierarchy`` when given: figures of
    every year on that date's divisions); NotFoundError says how to make one."""
    query = select(IndicatorRun).order_by(IndicatorRun.id.desc())
    if hierarchy is not None:
        query = query.where(IndicatorRun.as_of == hierarchy)
    run = session.scalars(query).first()
    if run is None and hierarchy is not None:
        raise NotFoundError(f"no indicator run on the hierarchy of {hierarchy} is stored; "
                            f"run `shequ indicators compute --hierarchy {hierarchy}`",
                            code="indicators.no_run_on_hierarchy",
                            params={"hierarchy": hierarchy.isoformat()})
    if run is None:
        raise NotFoundError("no indicator run is stored yet; run `shequ indicators compute`")
    return run


def run_hierarchies(session: Session) -> list[dt.date]:
    """The hierarchy dates that stored runs were computed on, newest first (what a page
    offers for "figures on the hierarchy of date H")."""
    return list(session.scalars(select(IndicatorRun.as_of).distinct()
                                .order_by(IndicatorRun.as_of.desc())))


def run_period(run: IndicatorRun, year: int | None) -> int:
    """``year`` when the run holds it, the run's newest year when ``year`` is None; a year
    the run does not hold is refused, naming those it does."""
    years = sorted(int(p) for p in run.periods.split(","))
    if year is None:
        return years[-1]
    if year not in years:
        shown = ", ".join(str(y) for y in years)
        raise ValidationError([Problem(
            "year", f"the run on the hierarchy of {run.as_of} holds no figures of {year}; "
            f"it holds {shown}", column="year", code="indicators.no_year",
            params={"year": year, "years": shown, "hierarchy": run.as_of.isoformat()})])
    return year


CODES_PER_QUERY = 900
VALUE_COLUMNS: dict[str, pl.DataType] = {
    **RESULT_SCHEMA, "target": pl.Float64(), "target_jurisdiction": pl.String(),
    "projected": pl.Float64(), "status": pl.String(),
}


def load_values(session: Session, *, run_id: int | None = None,
                indicators: Sequence[str] | None = None,
                codes: Sequence[str] | None = None, prefix: str | None = None,
                periods: Sequence[int] | None = None) -> pl.DataFrame:
    """Stored values of a run (the latest by default), filtered as asked."""
    run = run_id if run_id is not None else latest_run(session).id
    if codes is not None and len(codes) > CODES_PER_QUERY:
        # databases cap the parameters of one statement: ask in batches
        batches = [load_values(session, run_id=run, indicators=indicators,
                               codes=codes[start:start + CODES_PER_QUERY], prefix=prefix,
                               periods=periods)
                   for start in range(0, len(codes), CODES_PER_QUERY)]
        return pl.concat(batches)
    query = select(*(getattr(IndicatorValue, name) for name in VALUE_COLUMNS)).where(
        IndicatorValue.run_id == run)
    if indicators:
        query = query.where(IndicatorValue.indicator.in_(list(indicators)))
    if codes is not None:
        query = query.where(IndicatorValue.division_code.in_(list(codes)))
    if prefix:
        query = query.where(IndicatorValue.division_code.startswith(prefix))
    if periods:
        query = query.where(IndicatorValue.period.in_(list(periods)))
    return _frame(session, query, VALUE_COLUMNS)


def put_inputs(session: Session, rows: Iterable[tuple[str, int, str, float]], *,
               source: str = "import") -> int:
    """Insert or replace input values ``(division_code, period, measure, value)``."""
    count = 0
    for code, period, measure, value in rows:
        existing = session.scalars(select(IndicatorInput).where(
            IndicatorInput.division_code == code, IndicatorInput.period == period,
            IndicatorInput.measure == measure)).first()
        if existing is None:
            session.add(IndicatorInput(division_code=code, period=period, measure=measure,
                                       value=value, source=source))
        else:
            existing.value, existing.source = value, source
        count += 1
    return count


__all__ = [
    "RunResult", "catalog_digest", "compute_for_registry", "latest_run", "load_access",
    "load_divisions", "load_measure_tables", "load_values", "put_inputs", "run_hierarchies",
    "run_period", "store_run", "stored_periods",
]
