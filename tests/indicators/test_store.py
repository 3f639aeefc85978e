"""The registry adapter: the same figures from a real database, stored runs, access rows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.indicators import fixture as f

from shequ.context import Context
from shequ.indicators.models import IndicatorRun, IndicatorValue
from shequ.indicators.store import compute_for_registry, latest_run, load_values
from shequ.settings import Settings

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture
def ctx(settings: Settings, sessions: sessionmaker[Session]) -> Context:
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


def test_community_access_rows_feed_life_circle_indicators(ctx: Context) -> None:
    metadata = sa.MetaData()
    access = sa.Table(
        "community_access", metadata,
        sa.Column("division_code", sa.String(12)), sa.Column("facility_type", sa.String(48)),
        sa.Column("distance_m", sa.Integer), sa.Column("covered_share", sa.Float),
        sa.Column("nearest_m", sa.Float, nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True)))
    if not sa.inspect(ctx.engine).has_table("community_access"):
        metadata.create_all(ctx.engine)
    old = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    new = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    with ctx.engine.begin() as connection:
        connection.execute(access.insert(), [
            {"division_code": f.C1, "facility_type": "comprehensive_service_facility",
             "distance_m": 1000, "covered_share": 0.1, "nearest_m": 500, "computed_at": old},
            {"division_code": f.C1, "facility_type": "comprehensive_service_facility",
             "distance_m": 300, "covered_share": 0.8, "nearest_m": 120, "computed_at": new},
            {"division_code": f.C2, "facility_type": "comprehensive_service_facility",
             "distance_m": 300, "covered_share": 0.5, "nearest_m": 280, "computed_at": new},
        ])
    run = compute_for_registry(ctx, as_of=AS_OF, periods=[2024], store=False)
    l1 = run.results.filter(pl.col("indicator") == "L1", pl.col("division_code") == f.STREET)
    # the 300 m rows only: 3000 × 0.8 + 2000 × 0.5 = 3400 of 5000 residents.
    assert l1["numerator"][0] == pytest.approx(3400.0)
    assert l1["value"][0] == pytest.approx(68.0)


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
