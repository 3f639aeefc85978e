"""The whole path on the demo county: registry → network → life circles → community_access."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select

from shequ.access.models import CommunityAccess
from shequ.access.store import compute_region_access
from shequ.context import Context
from shequ.registry.models import Division
from shequ.settings import Settings


@pytest.fixture
def demo_ctx(settings: Settings) -> Context:
    from shequ.ingest.build import build_demo

    ctx = Context.open(settings)
    build_demo(ctx)
    return ctx


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_demo_county_report_names_uncovered_communities(demo_ctx: Context) -> None:
    result = compute_region_access(demo_ctx, store=True)
    with demo_ctx.sessions() as session:
        communities = session.scalar(select(func.count()).select_from(Division).where(
            Division.level == 5))
        stored = session.scalar(select(func.count(func.distinct(
            CommunityAccess.division_code))))
    assert stored == communities
    assert result.communities["division_code"].n_unique() == communities
    uncovered = result.uncovered()
    assert uncovered.height > 0          # the demo has real gaps …
    assert result.uncovered().height < result.communities.height  # … and covered places
    missing = uncovered.explode("missing").drop_nulls("missing")
    assert missing.height > 0
    # residents covered never exceed residents; the county total adds up its communities
    assert (result.communities["residents_covered"]
            <= result.communities["residents"] + 1e-9).all()
    county = result.divisions.filter(pl.col("level") == 3)
    for row in county.iter_rows(named=True):
        part = result.communities.filter(pl.col("tier") == row["tier"])
        assert row["residents_covered"] == pytest.approx(part["residents_covered"].sum())
    demo_ctx.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_residence_points_from_a_csv_weight_a_community(demo_ctx: Context,
                                                        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shequ.access.cli import app

    single = compute_region_access(demo_ctx)
    reached = single.community_access.filter(pl.col("covered_share") == 1.0).row(0, named=True)
    with demo_ctx.sessions() as session:
        place = session.scalars(select(Division).where(
            Division.code == reached["division_code"], Division.level == 5)).one()
    (tmp_path / "homes.csv").write_text(
        "division_code,lon,lat,population\n"
        f"{place.code},{place.longitude},{place.latitude},300\n"
        f"{place.code},0.0,0.0,100\n", encoding="utf-8")
    settings = demo_ctx.settings
    demo_ctx.close()
    result = CliRunner().invoke(app, [
        "lifecircle", "--residences", str(tmp_path / "homes.csv"), "--no-store",
        "--out", str(tmp_path / "out"), "--format", "csv", "--data-dir", str(settings.data_dir)],
        env={"SHEQU_DATABASE_URL": settings.database_url or ""})
    assert result.exit_code == 0, result.output
    table = pl.read_csv(tmp_path / "out" / "community_access.csv",
                        schema_overrides={"division_code": pl.String})
    row = table.filter((pl.col("division_code") == place.code)
                       & (pl.col("facility_type") == reached["facility_type"])
                       & (pl.col("distance_m") == reached["distance_m"]))
    assert row["covered_share"].to_list() == [0.75]  # the unsnapped 100 people are not covered
    others = table.filter(pl.col("division_code") != place.code)
    assert set(others["covered_share"].unique().to_list()) <= {0.0, 1.0}
    assert "1 residence points could not be snapped" in result.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_each_year_is_walked_with_the_facilities_of_that_year(demo_ctx: Context) -> None:
    """The demo's second wave of village stations opened in 2020: coverage stored for
    2019 leaves them out, 2020 has them, and each year's indicators read their own rows."""
    from shequ.indicators.engine import Evaluator, prepare
    from shequ.indicators.expr import Vocabulary, parse_expression
    from shequ.indicators.store import load_measure_tables
    from shequ.registry.models import Population

    csf = "comprehensive_service_facility"
    early = compute_region_access(demo_ctx, period=2019, store=True)
    later = compute_region_access(demo_ctx, period=2020, store=True)
    assert (early.meta["period"], later.meta["period"]) == (2019, 2020)

    def shares(result: object) -> dict[str, float]:  # the rural tier: 1,200 m
        table = result.community_access.filter(  # type: ignore[attr-defined]
            pl.col("facility_type") == csf, pl.col("distance_m") == 1200)
        return dict(table.select("division_code", "covered_share").iter_rows())

    before, after = shares(early), shares(later)
    assert sum(after.values()) - sum(before.values()) >= 5  # villages reached in 2020
    assert all(after[code] >= share for code, share in before.items())
    within = parse_expression(f"residents_within({csf}, 1200)",
                              Vocabulary(frozenset([csf])))
    as_of = dt.date(2020, 12, 31)
    with demo_ctx.sessions() as session:
        assert sorted(session.scalars(select(CommunityAccess.period).distinct())) == [
            2019, 2020]
        prepared = prepare(load_measure_tables(session, as_of=as_of), as_of=as_of)
        for year, share in ((2019, before), (2020, after)):
            residents = dict(session.execute(select(
                Population.division_code, Population.residents).where(
                Population.period == year)).all())
            expected = sum(residents.get(code, 0) * s for code, s in share.items())
            own = Evaluator(prepared, year).own(within)
            assert float(own.sum()) == pytest.approx(expected), year
    demo_ctx.close()
