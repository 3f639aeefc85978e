"""Each community's life circles as people read them: per community and tier, the
residents covered and the facility types reached and missing, from the stored
``community_access`` rows of a year (or walked now when none are stored).

Read by ``GET /api/v1/access/communities`` and by the life-circle page, so that both show
the same figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.access.lifecircle import tiers_from_access
from shequ.access.models import CommunityAccess
from shequ.access.store import compute_region_access, load_community_access, load_region
from shequ.context import Context
from shequ.errors import Problem, ValidationError
from shequ.registry.models import Division


@dataclass(frozen=True, slots=True)
class CommunityTiers:
    """Per community and tier (``table``: the columns of
    :func:`shequ.access.lifecircle.tiers_from_access` and the community's ``name``),
    the year whose facilities were walked, and whether the rows were stored (and when)
    or walked for this answer."""

    table: pl.DataFrame
    stored: bool
    computed_at: dt.datetime | None
    period: int


def community_tiers(ctx: Context, session: Session, *, prefix: str = "",
                    tier: str | None = None, period: int | None = None) -> CommunityTiers:
    """The communities under ``prefix`` with their tiers (``tier`` alone when given) for
    ``period`` (default: the latest year stored): the stored rows if there are any, else
    walked now over the whole region (not stored), so that facilities just across the
    prefix's border count as they do for residents."""
    if tier is not None and tier not in ctx.catalog.tiers:
        raise ValidationError([Problem(
            "tier", f"unknown tier {tier!r}", column="tier", code="not_a_choice",
            hint=f"known: {', '.join(ctx.catalog.tiers)}", params={"value": tier})])
    region = load_region(session, prefix=prefix)
    access = load_community_access(session, prefix=prefix, period=period)
    stored = access.height > 0
    computed_at = access["computed_at"].max() if stored else None
    if stored:
        year = int(access["period"][0])
    else:
        result = compute_region_access(ctx, period=period)
        access = result.community_access.filter(
            pl.col("division_code").str.starts_with(prefix))
        year = int(result.meta["period"])
    table = tiers_from_access(access, region.communities, ctx.catalog,
                              tiers=[tier] if tier else None)
    rows = session.execute(select(Division.code, Division.name).where(
        Division.level == 5, Division.code.startswith(prefix)))
    names: dict[str, str] = {row.code: row.name for row in rows}
    table = table.with_columns(pl.col("division_code").replace_strict(
        names, default=None, return_dtype=pl.String).alias("name"))
    return CommunityTiers(table, stored,
                          computed_at if isinstance(computed_at, dt.datetime) else None, year)


def stored_years(session: Session, *, prefix: str = "") -> list[int]:
    """The years with stored ``community_access`` rows (under ``prefix``), newest first."""
    query = select(CommunityAccess.period).distinct()
    if prefix:
        query = query.where(CommunityAccess.division_code.startswith(prefix))
    return sorted(session.scalars(query), reverse=True)


__all__ = ["CommunityTiers", "community_tiers", "stored_years"]
