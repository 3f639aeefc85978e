"""The registry adapter: the same figures from a real database, stored runs, access rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.context import Context
from shequ.indicators.models import IndicatorRun, IndicatorValue
from shequ.indicators.store import compute_for_registry, latest_run, load_values
from shequ.settings import Settings
from tests.indicators import fixture as f

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture
def ctx(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[Context]:
    with sessions() as session, session.begin():
        f.store(session)
    context = Context.open(settings, migrate=False)
    yield context
    context.close()


def test_registry_run_matches_paper_and_is_stored(ctx: Context) -> None:
    run = compute_for_registry(ctx, as_of=AS_OF)
    assert run.periods == (2022, 2024)
    with ctx.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(IndicatorValue))
        assert stored == len(run.results)
        meta = latest_run(session)
        assert meta.as_of == AS_OF
        assert meta.periods == "2022,2024"
        assert meta.inputs_stamp is not None
        values = load_values(session, indicators=["N4", "N7"], codes=[f.COUNTY, f.C4],
                             periods=[2024])
    row = values.filter(pl.col("indicator") == "N4", pl.col("division_code") == f.COUNTY)
    assert row["value"][0] == pytest.approx(102000 / 3170)
    assert row["target"][0] == 30.0
    assert row["status"][0] == "met"
    hunan = values.filter(pl.col("indicator") == "N4", pl.col("division_code") == f.C4)
    assert hunan["value"][0] == pytest.approx(40.0)
    assert hunan["target"][0] == 43.0
    assert hunan["target_jurisdiction"][0] == f.HUNAN
    assert hunan["status"][0] != "met"
    n7 = values.filter(pl.col("indicator") == "N7", pl.col("division_code") == f.COUNTY)
    assert n7["value"][0] == pytest.approx(100000 / 6000)


def test_second_run_keeps_the_first(ctx: Context) -> None:
    first = compute_for_registry(ctx, as_of=AS_OF, periods=[2024])
    second = compute_for_registry(ctx, as_of=AS_OF, periods=[2022, 2024])
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IndicatorRun)) == 2
        assert latest_run(session).id == second.run_id
        older = load_values(session, run_id=first.run_id)
    assert set(older["period"].to_list()) == {2024}


def test_community_access_rows_feed_life_circle_indicators_year_by_year(ctx: Context
                                                                       ) -> None:
    """Each year uses the coverage computed for it, else the latest year before it, else
    the earliest after it: C1 was computed for 2022 and 2024, C2 for 2024 only."""
    metadata = sa.MetaData()
    access = sa.Table(
        "community_access", metadata,
        sa.Column("division_code", sa.String(12)), sa.Column("facility_type", sa.String(48)),
        sa.Column("distance_m", sa.Integer), sa.Column("covered_share", sa.Float),
        sa.Column("nearest_m", sa.Float, nullable=True), sa.Column("period", sa.Integer),
        sa.Column("computed_at", sa.DateTime(timezone=True)))
    if not sa.inspect(ctx.engine).has_table("community_access"):
        metadata.create_all(ctx.engine)
    when = dt.datetime(2025, 1, 10, tzinfo=dt.UTC)
    csf = "comprehensive_service_facility"
    with ctx.engine.begin() as connection:
        connection.execute(access.insert(), [
            {"division_code": code, "facility_type": csf, "distance_m": distance,
             "covered_share": share, "nearest_m": 100, "period": year, "computed_at": when}
            for code, distance, share, year in (
                (f.C1, 1000, 0.1, 2024), (f.C1, 300, 0.2, 2022), (f.C1, 300, 0.8, 2024),
                (f.C2, 300, 0.5, 2024))])
    run = compute_for_registry(ctx, as_of=AS_OF, periods=[2022, 2024], store=False)
    l1 = run.results.filter(pl.col("indicator") == "L1", pl.col("division_code") == f.STREET)
    by_year = {row["period"]: row for row in l1.iter_rows(named=True)}
    # 2024, the 300 m rows only: 3000 × 0.8 + 2000 × 0.5 = 3400 of 5000 residents.
    assert by_year[2024]["numerator"] == pytest.approx(3400.0)
    assert by_year[2024]["value"] == pytest.approx(68.0)
    # 2022: C1's own year (0.2), C2's earliest (2024, 0.5): 600 + 1000 = 1600.
    assert by_year[2022]["numerator"] == pytest.approx(1600.0)
    assert by_year[2022]["value"] == pytest.approx(32.0)


def test_a_one_year_run_projects_from_the_stored_history(ctx: Context) -> None:
    compute_for_registry(ctx, as_of=AS_OF, periods=[2022])
    later = compute_for_registry(ctx, as_of=AS_OF, periods=[2024])
    town = later.status.filter(pl.col("indicator") == "N1",
                               pl.col("division_code") == f.TOWN).row(0, named=True)
    # 0% in 2022 (stored run), 100% in 2024: +50 points a year → 150 by 2025
    assert town["periods"] == 2
    assert town["projected"] == pytest.approx(150.0)
    assert town["status"] == "met"


def test_long_code_lists_are_asked_in_batches(ctx: Context, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    from shequ.indicators import store

    compute_for_registry(ctx, as_of=AS_OF, periods=[2024])
    monkeypatch.setattr(store, "CODES_PER_QUERY", 2)
    codes = [f.C1, f.C2, f.C3, f.V1, f.V2]
    with ctx.sessions() as session:
        values = load_values(session, indicators=["N4"], codes=codes)
    assert sorted(values["division_code"].to_list()) == sorted(codes)


def test_facilities_serving_a_year_are_the_same_in_sql_and_in_the_engine(ctx: Context) -> None:
    """The life circles pick a year's facilities in SQL, the indicators in arrays: one rule.

    By hand for 2022: everything but C3's (opened 2023) and V2's (planned); V3's closed in
    June 2023 still counts.  In 2023 C3's counts and V3's does not."""
    from shequ.indicators.engine import prepare
    from shequ.indicators.store import load_measure_tables
    from shequ.registry.models import Facility
    from shequ.registry.queries import in_service_in

    with ctx.sessions() as session:
        prepared = prepare(load_measure_tables(session, as_of=AS_OF), as_of=AS_OF)
        table = prepared.facilities._table.select("division_code", "type_code")
        for year in (2018, 2019, 2022, 2023, 2024):
            by_sql = sorted((code, kind) for code, kind in session.execute(
                select(Facility.division_code, Facility.type_code).where(in_service_in(year))))
            by_engine = sorted(table.filter(pl.Series(prepared.facilities.active(year))).rows())
            assert by_sql == by_engine, year
            if year == 2022:
                assert (f.C3, f.CSF) not in by_sql and (f.V3, f.CSF) in by_sql
                assert (f.V2, f.CSF) not in by_sql and (f.V1, f.CSF) in by_sql
                assert len(by_sql) == 8
            if year == 2023:
                assert (f.C3, f.CSF) in by_sql and (f.V3, f.CSF) not in by_sql
