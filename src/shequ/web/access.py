"""The life-circle page (/access): for a division, a tier and a year, its communities'
residents covered and not covered on a map, the gaps by community, and what a point on
the map reaches on foot (asked of ``GET /api/v1/access/point`` by static/access-map.js).
The map also draws the tier's walking catchments (``GET /api/v1/network/catchments``),
the children's shapes where the registry holds them, the streets when zoomed in, and a
community's panel on a click: what it reaches, what it lacks, its indicators.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from shequ.access.coverage import community_tiers, stored_years
from shequ.catalog import Catalog
from shequ.context import Context
from shequ.errors import AccessDenied, NotFoundError, Problem, ShequError, ValidationError
from shequ.http.deps import ContextDep, SessionDep
from shequ.registry import queries
from shequ.registry.codes import code_prefix
from shequ.services.accounts import PLANNER_ROLES
from shequ.services.any_hierarchy import life_circles_on
from shequ.web.divisions import division_of, hierarchy_crumbs, trail_of
from shequ.web.forms import FormState, back, failed
from shequ.web.indicators import STATUS_COLOURS, asked_figures
from shequ.web.page import Page, PageDep, SignedInPage, render

router = APIRouter(include_in_schema=False)

DEFAULT_TIER = "15min"


@router.get("/access", response_class=HTMLResponse)
def access_page(page: PageDep, ctx: ContextDep, session: SessionDep, *,
                division: str | None = None, tier: str = DEFAULT_TIER,
                period: str = "") -> HTMLResponse:
    """Map of covered and uncovered residents for a division, a tier and a year, the
    gaps, and a point query; for planners, the recompute (a job followed here)."""
    return _access_page(page, ctx, session, division=division, tier=tier, period=period)


def _access_page(page: Page, ctx: Context, session: Session, *, division: str | None,
                 tier: str, period: str, form: FormState | None = None,
                 status_code: int = 200) -> HTMLResponse:
    from shequ.web.plan_work import job_panel

    info = queries.meta(session)
    hierarchy = _asked(page, ctx.catalog, tier=tier, period=period)
    unit = division_of(session, division if division is not None else info.get("region_code"),
                       error_code="access.unknown_division", as_of=hierarchy)
    prefix = "" if unit is None else code_prefix(unit.code, unit.level)
    name = page.t("common.nation") if unit is None else unit.name
    years = stored_years(session, prefix="" if hierarchy else prefix)
    chosen_year = int(period) if period.isdigit() and int(period) in years else None
    kept = hierarchy.isoformat() if hierarchy else None
    crumbs = hierarchy_crumbs(page, trail_of(session, unit, as_of=hierarchy), "/access",
                              tier=tier, period=chosen_year, hierarchy=kept)
    tiers = [(code, page.t("access.tier_option", name=t.name(page.lang),
                           distance=page.t("access.distance", metres=int(t.distance_m))))
             for code, t in ctx.catalog.tiers.items()]
    base: dict[str, Any] = {
        "breadcrumbs": crumbs, "place_name": name, "unit": unit, "tier": tier,
        "tiers": tiers, "synthetic": info.get("synthetic") == "true",
        "children": queries.children(session, None if unit is None else unit.code,
                                     as_of=hierarchy)
        if unit is None or unit.level < 5 else [],
        "hierarchy": kept,
        "planner": page.role in PLANNER_ROLES, "form": form,
        # the year a recompute walks (the shown one, else this year, as the job does)
        "recompute_year": int(period) if period.isdigit() else queries.today().year,
        "job": job_panel(page, session) if page.is_staff else None,
    }
    try:
        found = (life_circles_on(ctx, session, prefix=prefix, tier=tier, period=chosen_year,
                                 hierarchy=hierarchy) if hierarchy is not None else
                 community_tiers(ctx, session, prefix=prefix, tier=tier, period=chosen_year))
    except NotFoundError:  # no street network or no community with a point yet
        return render(page, "access.html", {**base, "unavailable": True},
                      status_code=status_code)
    table = found.table
    points = [{"code": r["division_code"], "name": r["name"], "lon": r["longitude"],
               "lat": r["latitude"], "share": r["covered_share"],
               "residents": r["residents"], "missing": r["missing"]}
              for r in table.iter_rows(named=True) if r["longitude"] is not None]
    uncovered = table.filter(pl.col("covered_share") < 1.0).with_columns(
        (pl.col("residents") - pl.col("residents_covered")).alias("gap")).sort(
        "gap", descending=True)
    residents = float(table["residents"].sum()) if table.height else 0.0
    covered = float(table["residents_covered"].sum()) if table.height else 0.0
    return render(page, "access.html", {
        **base, "unavailable": False,
        "points": points, "uncovered": uncovered.head(50).to_dicts(),
        "uncovered_count": uncovered.height, "communities": table.height,
        "residents": residents, "covered": covered,
        "share": covered / residents if residents else None,
        "stored": found.stored, "computed_at": found.computed_at, "period": found.period,
        "years": years,
        "type_names": {c: t.name(page.lang) for c, t in ctx.catalog.facility_types.items()},
        "map_tier": _map_tier(page, ctx.catalog, tier, unit),
    }, status_code=status_code)


def _asked(page: Page, catalog: Catalog, *, tier: str, period: str) -> date | None:
    """The hierarchy date the address asks for (the divisions of another date), after
    refusing a tier the catalog does not hold or a year that is not one, each problem
    named by its control's label."""
    problems: list[Problem] = []
    if tier not in catalog.tiers:
        problems.append(Problem("query", f"{tier!r} is not a tier; use one of "
                                f"{', '.join(catalog.tiers)}", column="tier",
                                code="not_a_choice", params={"value": tier}))
    if period and not period.isdigit():
        problems.append(Problem("query", f"{period!r} is not a year", column="period",
                                hint="e.g. 2021", code="indicators.bad_year",
                                params={"value": period}))
    try:
        _, hierarchy = asked_figures(page)
    except ValidationError as error:
        problems.extend(error.problems)
        hierarchy = None
    if problems:
        raise ValidationError(problems)
    return hierarchy


async def _posted(request: Request) -> FormData:
    """The posted form (read once, off the handler's thread)."""
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/access/recompute", response_class=HTMLResponse)
def recompute_form(form: Posted, page: SignedInPage, ctx: ContextDep,
                   session: SessionDep) -> Response:
    """Recompute the planner's jurisdiction's life circles for the page's year as a job;
    the page follows its progress and shows the new figures once it has ended."""
    from shequ.services.analyses import start_life_circles

    user = page.require(*PLANNER_ROLES)
    division, tier, period = (_field(form, "division")[:12] or None,
                              _field(form, "tier")[:20] or DEFAULT_TIER,
                              _field(form, "period")[:4])
    session.rollback()  # the job opens its own sessions; release this one's snapshot
    try:
        job = start_life_circles(ctx, user, period=int(period) if period.isdigit() else None)
    except ShequError as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _access_page(page, ctx, session, division=division, tier=tier, period=period,
                            form=failed(FormState(), exc, page.lang), status_code=409)
    return back("/access", division=division, tier=tier, period=period or None, job=job.id)


def _map_tier(page: Page, catalog: Catalog, tier: str, unit: Any) -> dict[str, Any]:
    """What access-map.js needs to draw the tier and a community's panel (page's words)."""
    chosen = catalog.tiers[tier]
    return {
        "code": tier, "name": chosen.name(page.lang), "distance_m": chosen.distance_m,
        "division": None if unit is None else unit.code,
        "required": [{"code": code, "name": catalog.facility_types[code].name(page.lang)
                      if code in catalog.facility_types else code}
                     for code in chosen.required],
        "statuses": {code: page.t(f"indicators.status_{code}") for code in STATUS_COLOURS},
        "colours": STATUS_COLOURS,
    }


__all__ = ["router"]
