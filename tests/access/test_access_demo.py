"""The whole path on the demo county: registry → network → life circles → community_access."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import func, select

from shequ.access.lifecircle import compute_region_access
from shequ.access.models import CommunityAccess
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
