"""Re-running the analyses from the registry as staff have left it: the life circles of
a jurisdiction and every indicator, audited.  The JSON API (``POST /api/v1/access/compute``,
``POST /api/v1/indicators/runs``) and the planner's workbench both call these."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from shequ.access.store import compute_region_access, store_community_access
from shequ.context import Context
from shequ.indicators.store import RunResult, compute_for_registry
from shequ.services.accounts import User, audit, jurisdiction_prefix


def recompute_life_circles(ctx: Context, session: Session, user: User, *,
                           period: int | None = None) -> dict[str, Any]:
    """Recompute and store the life circles of ``user``'s jurisdiction for ``period``
    (default this year), audited: the year, the communities and rows stored, the
    community tiers left uncovered and what could not be placed on the network.

    The walk runs over the whole region, so that facilities just across the
    jurisdiction's border count as they do for residents.
    """
    prefix = jurisdiction_prefix(user) or ""
    result = compute_region_access(ctx, period=period)
    mine = pl.col("division_code").str.starts_with(prefix)
    rows = result.community_access.filter(mine)
    store_community_access(session, rows, period=result.meta["period"])
    audit(session, user=user, action="compute", entity="community_access",
          entity_id=result.meta["period"], detail={"prefix": prefix, "rows": rows.height})
    return {"period": result.meta["period"],
            "communities": rows["division_code"].n_unique(),
            "rows": rows.height,
            "uncovered_community_tiers": result.uncovered().filter(mine).height,
            "unsnapped_communities": result.unsnapped_residences.filter(mine)[
                "division_code"].to_list(),
            "unsnapped_facilities": result.unsnapped_facilities.height}


def run_indicators(ctx: Context, session: Session, user: User, *,
                   as_of: dt.date | None = None, periods: list[int] | None = None
                   ) -> RunResult:
    """Compute every indicator from the registry as committed, store the run, audit it."""
    result = compute_for_registry(ctx, as_of=as_of, periods=periods)
    audit(session, user=user, action="compute", entity="indicator_run",
          entity_id=result.run_id, detail={"periods": list(result.periods)})
    return result


def start_life_circles(ctx: Context, user: User, *, period: int | None = None) -> Any:
    """Recompute the life circles of ``user``'s jurisdiction for ``period`` (default this
    year) as a job — planners' work, as ``POST /api/v1/access/compute`` is."""
    from shequ.services.accounts import PLANNER_ROLES, Role
    from shequ.services.jobs.service import submit

    if Role(user.role) not in PLANNER_ROLES:
        from shequ.errors import AccessDenied

        raise AccessDenied("recomputing is planners' work", code="accounts.role_needed")
    return submit(ctx, user, kind="access.life_circles",
                  division_code=_jurisdiction_code(user),
                  parameters={"period": period, "user_id": user.id})


def start_indicators(ctx: Context, user: User, *, periods: list[int] | None = None) -> Any:
    """Compute every indicator as a job (one per jurisdiction at a time)."""
    from shequ.services.jobs.service import submit

    return submit(ctx, user, kind="indicators.run", division_code=_jurisdiction_code(user),
                  parameters={"periods": periods, "user_id": user.id})


def _jurisdiction_code(user: User) -> str:
    prefix = jurisdiction_prefix(user)
    if prefix is None:
        from shequ.errors import AccessDenied

        raise AccessDenied("analyses are staff work", code="accounts.role_needed")
    return prefix.ljust(12, "0")


def life_circles_job(ctx: Context, parameters: dict[str, Any], progress: Any
                     ) -> dict[str, Any]:
    """The work of an ``access.life_circles`` job."""
    with ctx.sessions.begin() as session:
        user = session.get(User, parameters["user_id"])
        if user is None:
            raise LookupError(f"user {parameters['user_id']} is gone")
        progress(0.1, "life_circles")
        return recompute_life_circles(ctx, session, user, period=parameters.get("period"))


def indicators_job(ctx: Context, parameters: dict[str, Any], progress: Any) -> dict[str, Any]:
    """The work of an ``indicators.run`` job."""
    with ctx.sessions.begin() as session:
        user = session.get(User, parameters["user_id"])
        if user is None:
            raise LookupError(f"user {parameters['user_id']} is gone")
        progress(0.1, "indicators")
        result = run_indicators(ctx, session, user, periods=parameters.get("periods"))
        return {"run_id": result.run_id, "periods": list(result.periods)}


def start_refresh(ctx: Context, user: User) -> Any:
    """Recompute the jurisdiction's life circles, then every indicator, as one job (what
    the planner's recompute buttons start)."""
    from shequ.services.accounts import PLANNER_ROLES, Role
    from shequ.services.jobs.service import submit

    if Role(user.role) not in PLANNER_ROLES:
        from shequ.errors import AccessDenied

        raise AccessDenied("recomputing is planners' work", code="accounts.role_needed")
    return submit(ctx, user, kind="analyses.refresh", division_code=_jurisdiction_code(user),
                  parameters={"user_id": user.id})


def refresh_job(ctx: Context, parameters: dict[str, Any], progress: Any) -> dict[str, Any]:
    """The work of an ``analyses.refresh`` job: life circles, then every indicator."""
    with ctx.sessions.begin() as session:
        user = session.get(User, parameters["user_id"])
        if user is None:
            raise LookupError(f"user {parameters['user_id']} is gone")
        progress(0.05, "life_circles")
        circles = recompute_life_circles(ctx, session, user)
    with ctx.sessions.begin() as session:
        user = session.get(User, parameters["user_id"])
        assert user is not None
        progress(0.6, "indicators")
        result = run_indicators(ctx, session, user)
    return {"life_circles": circles, "indicator_run_id": result.run_id,
            "periods": list(result.periods)}
