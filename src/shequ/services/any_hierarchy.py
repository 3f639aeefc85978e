"""Life-circle figures on any hierarchy.

The life circles are figured on the communities in force today (their residents and
points; the reach walked and stored per community).  Asked for the divisions in force on
another date H, each community's counts
(residents, residents covered, residents aged 60+) follow the division change links to H
by :func:`shequ.indicators.remap.code_mapping` — a merge sums its predecessors, a split
shares its unit out by the stored shares, going back undoes them — and each unit on H
then has::

    covered share = Σ residents covered ÷ Σ residents        (of the communities mapped to it)
    missing       = the facility types any of them misses
    reached       = the types they all reach

so a series across a merge is continuous, like the indicators'.  A service (it joins the
two analyses), called by the life-circle page.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.access.coverage import CommunityTiers, community_tiers
from shequ.context import Context
from shequ.indicators.remap import code_mapping, remap_counts
from shequ.indicators.store import load_links
from shequ.registry.models import Division
from shequ.registry.queries import today, valid_on

COUNTED = ["residents", "residents_covered", "age_60_plus"]
COUNTY_DIGITS = 6


def life_circles_on(ctx: Context, session: Session, *, prefix: str, hierarchy: dt.date,
                    tier: str | None = None, period: int | None = None) -> CommunityTiers:
    """The communities under ``prefix`` on the hierarchy of ``hierarchy`` with their tiers
    (``tier`` alone when given) for ``period`` (default: the latest year stored)."""
    links = load_links(session)
    found = community_tiers(ctx, session, prefix=prefix, tier=tier, period=period)
    since = today()  # the figures are on the communities in force today
    if not links.is_empty():
        # communities under another county today whose figures the changes bring here
        touched = pl.concat([links["predecessor_code"], links["successor_code"]]
                            ).drop_nulls().unique()
        reach = code_mapping(touched, links, since=since, as_of=hierarchy)
        sources = reach.filter(pl.col("target").str.starts_with(prefix)
                               & ~pl.col("division_code").str.starts_with(prefix))
        tables = [found.table]
        for county in sorted({c[:COUNTY_DIGITS] for c in sources["division_code"]}):
            other = community_tiers(ctx, session, prefix=county, tier=tier,
                                    period=found.period).table
            tables.append(other.filter(pl.col("division_code").is_in(
                sources["division_code"].implode())))
        table = pl.concat(tables, how="vertical_relaxed")
        mapping = code_mapping(table["division_code"].unique(), links, since=since,
                               as_of=hierarchy)
        table = remap_counts(table, mapping, COUNTED)
    else:
        table = found.table
    return CommunityTiers(_on_units(session, table, prefix=prefix, hierarchy=hierarchy),
                          found.stored, found.computed_at, found.period)


def _on_units(session: Session, table: pl.DataFrame, *, prefix: str, hierarchy: dt.date
              ) -> pl.DataFrame:
    """One row per community in force on ``hierarchy`` and tier, with its name and point
    on that date (rows mapped to no such community are left out)."""
    units = session.execute(select(Division.code, Division.name, Division.longitude,
                                   Division.latitude)
                            .where(valid_on(hierarchy), Division.level == 5,
                                   Division.code.startswith(prefix))).all()
    places = pl.DataFrame([tuple(u) for u in units], schema={
        "division_code": pl.String, "name": pl.String, "longitude": pl.Float64,
        "latitude": pl.Float64}, orient="row")
    grouped = (table.group_by("division_code", "tier", "distance_m", maintain_order=True)
               .agg(*(pl.col(c).sum() for c in COUNTED),
                    pl.col("missing").explode().drop_nulls().unique().sort().alias("missing"),
                    pl.col("reached").explode().drop_nulls().unique().sort().alias("reached")))
    grouped = grouped.with_columns(
        pl.col("reached").list.set_difference(pl.col("missing")).list.sort(),
        pl.when(pl.col("residents") > 0)
        .then(pl.col("residents_covered") / pl.col("residents"))
        .otherwise((pl.col("missing").list.len() == 0).cast(pl.Float64))
        .alias("covered_share"))
    joined = grouped.join(places, on="division_code", how="inner")
    return joined.select(table.columns).sort("division_code", "tier")


__all__ = ["life_circles_on"]
