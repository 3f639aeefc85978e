"""Indicators over HTTP: catalog, DHIS2-shaped analytics and dataValueSets, dashboards,
short boards, assessment and runs (the planner's page is :mod:`shequ.web.indicators`).

``GET /api/v1/analytics?dx=N1;N2&ou=130123000000;LEVEL-5&pe=2024`` answers like DHIS2's
analytics resource (``dimension=dx:…&dimension=ou:…&dimension=pe:…`` works too);
``GET /api/v1/dataValueSets?dx=…&ou=…&pe=…`` gives ``{"dataValues": [...]}``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from shequ.errors import Problem, ValidationError
from shequ.http.caller import Planner
from shequ.http.deps import ContextDep, SessionDep
from shequ.http.language import data_language
from shequ.indicators.definitions import IndicatorCatalog, load_indicator_catalog
from shequ.indicators.export import data_value_sets, write_xlsx
from shequ.indicators.store import (
    latest_run,
    load_values,
    run_period,
)
from shequ.indicators.views import (
    ShortBoardCache,
    analytics,
    dashboard,
    parse_selection,
    place_of,
)
from shequ.registry.models import MAX_PERIOD, MIN_PERIOD
from shequ.services.analyses import run_indicators
from shequ.services.assessment import assessment_scores

router = APIRouter(tags=["indicators"])


def _catalog(ctx: ContextDep) -> IndicatorCatalog:
    return load_indicator_catalog(ctx.settings.catalog_dir)


def _board_cache(request: Request) -> ShortBoardCache:
    """The app's short-board cache (made with the app; see ``create_app``)."""
    cache: ShortBoardCache = request.app.state.short_boards
    return cache


def _dimensions(dx: str | None, ou: str | None, pe: str | None,
                dimension: list[str] | None) -> tuple[str | None, str | None, str | None]:
    """Merge ``dimension=dx:…`` parameters into dx/ou/pe."""
    found = {"dx": dx, "ou": ou, "pe": pe}
    for item in dimension or []:
        key, _, value = item.partition(":")
        if key not in found:
            raise ValidationError([Problem("dimension", f"unknown dimension {key!r}",
                                           hint="use dx:…, ou:… or pe:…")])
        found[key] = value
    return found["dx"], found["ou"], found["pe"]


class IndicatorOut(BaseModel):
    """An indicator as the catalog defines it."""

    code: str
    name: str
    group: str
    unit: str
    direction: str
    numerator: str
    denominator: str | None
    factor: float
    baseline: float | None
    baseline_year: int | None
    target: float | None
    target_year: int
    attribute: str
    confidence: str
    scope: str
    source: str


@router.get("/indicators", response_model=list[IndicatorOut])
def list_indicators(request: Request, ctx: ContextDep) -> list[IndicatorOut]:
    """Every indicator in the catalog in force (national, service, life-circle, local)."""
    lang = data_language(request)
    return [IndicatorOut(
        code=i.code, name=i.name(lang), group=i.group, unit=i.unit, direction=i.direction,
        numerator=i.numerator_text, denominator=i.denominator_text,
        factor=i.definition.factor, baseline=i.baseline, baseline_year=i.baseline_year,
        target=i.target, target_year=i.target_year, attribute=i.attribute,
        confidence=i.confidence, scope=i.scope, source=i.source)
        for i in _catalog(ctx).indicators.values()]


HierarchyQuery = Annotated[dt.date | None, Query(description=(
    "figures on the divisions in force on this date (YYYY-MM-DD): the newest run computed "
    "on that hierarchy, data on earlier or later codes mapped through the division changes"))]
YearQuery = Annotated[int | None, Query(ge=MIN_PERIOD, le=MAX_PERIOD, description=(
    "the year of the figures (default: the run's newest); any year the run holds"))]
DimensionQuery = Annotated[list[str] | None, Query(
    description="DHIS2 style: dimension=dx:N1;N2, dimension=ou:CODE;LEVEL-5, dimension=pe:2024")]


@router.get("/analytics")
def get_analytics(request: Request, ctx: ContextDep, session: SessionDep,
                  dx: str | None = None, ou: str | None = None, pe: str | None = None,
                  dimension: DimensionQuery = None,
                  hierarchy: HierarchyQuery = None) -> dict[str, Any]:
    """Indicators × divisions × periods from the newest stored run (DHIS2-shaped)."""
    catalog = _catalog(ctx)
    dx, ou, pe = _dimensions(dx, ou, pe, dimension)
    run = latest_run(session, hierarchy=hierarchy)
    selection = parse_selection(session, catalog, dx=dx, ou=ou, pe=pe, run=run)
    return analytics(session, catalog, selection, run=run, lang=data_language(request))


@router.get("/dataValueSets")
def get_data_value_sets(ctx: ContextDep, session: SessionDep, dx: str | None = None,
                        ou: str | None = None, pe: str | None = None,
                        dimension: DimensionQuery = None,
                        hierarchy: HierarchyQuery = None) -> dict[str, Any]:
    """The same selection as a DHIS2 ``dataValueSets`` payload (values as strings)."""
    catalog = _catalog(ctx)
    dx, ou, pe = _dimensions(dx, ou, pe, dimension)
    run = latest_run(session, hierarchy=hierarchy)
    selection = parse_selection(session, catalog, dx=dx, ou=ou, pe=pe, run=run)
    values = load_values(session, run_id=run.id, indicators=list(selection.indicators),
                         codes=[p.code for p in selection.places],
                         periods=list(selection.periods))
    return data_value_sets(values)


@router.get("/indicators/dashboard/{code}")
def get_dashboard(code: str, request: Request, ctx: ContextDep, session: SessionDep,
                  indicator: str | None = None, hierarchy: HierarchyQuery = None,
                  year: YearQuery = None) -> dict[str, Any]:
    """A division's indicators against targets, its children and its short boards."""
    run = latest_run(session, hierarchy=hierarchy)
    board = dashboard(session, _catalog(ctx), code, indicator=indicator,
                      lang=data_language(request), run_id=run.id, period=year)
    return {
        "division": {"code": board.place.code, "name": board.place.name,
                     "level": board.place.level,
                     "ancestors": [{"code": a.code, "name": a.name} for a in board.ancestors]},
        "period": board.period,
        "indicator": board.indicator,
        "run": {"id": board.run.id, "as_of": board.run.as_of.isoformat()},
        "indicators": [{
            "code": line.code, "name": line.name, "unit": line.unit, "value": line.value,
            "target": line.target, "target_jurisdiction": line.target_jurisdiction,
            "projected": line.projected, "status": line.status, "attribute": line.attribute,
        } for line in board.lines],
        "children": [{"code": c.place.code, "name": c.place.name, "level": c.place.level,
                      "longitude": c.place.longitude, "latitude": c.place.latitude,
                      "value": c.value, "target": c.target, "status": c.status}
                     for c in board.children],
        "short_boards": board.short_boards.to_dicts(),
    }


@router.get("/indicators/short-boards", response_model=None)
def get_short_boards(request: Request, ctx: ContextDep, session: SessionDep,
                     ou: str = "nation", dx: str | None = None, limit: int = 100,
                     format: str = "json", hierarchy: HierarchyQuery = None,
                     year: YearQuery = None) -> Response:
    """Community-level units under ``ou`` that fail a target, worst first (JSON, CSV, XLSX)."""
    catalog = _catalog(ctx)
    run = latest_run(session, hierarchy=hierarchy)
    place = place_of(session, ou, as_of=run.as_of)
    indicators = [c for c in (dx or "").split(";") if c] or None
    for code in indicators or []:
        catalog.indicator(code)
    board = _board_cache(request).short_boards(
        session, catalog, place, run=run, period=run_period(run, year),
        lang=data_language(request), indicators=indicators, limit=limit)
    if format == "csv":
        return Response(board.write_csv(), media_type="text/csv; charset=utf-8")
    if format == "xlsx":
        with tempfile.TemporaryDirectory() as folder:
            path = write_xlsx(Path(folder) / "short_boards.xlsx", {"short boards": board})
            content = path.read_bytes()
        return Response(content, media_type="application/vnd.openxmlformats-officedocument."
                        "spreadsheetml.sheet", headers={
                            "Content-Disposition": f'attachment; filename="short_boards_'
                                                   f'{place.code}.xlsx"'})
    if format != "json":
        raise ValidationError([Problem("format", f"unknown format {format!r}",
                                       hint="json, csv or xlsx")])
    # Plain str, int, float and None: JSONResponse encodes them as FastAPI would, without
    # walking every value through jsonable_encoder first.
    return JSONResponse(board.to_dicts())


@router.get("/indicators/assessment")
def get_assessment(ctx: ContextDep, session: SessionDep, level: int = 4,
                   ou: str = "nation", hierarchy: HierarchyQuery = None,
                   year: YearQuery = None) -> list[dict[str, Any]]:
    """Target-responsibility scores of the divisions of ``level`` under ``ou``, ranked;
    ``reviews`` says how many residents' reviews were given in the scheme's review window
    and how many a score needs before they count.  Divisions whose figures rest on
    reporting forms not yet signed off (when the assessment uses approved figures only)
    follow, with no score and ``withheld`` saying how many community forms wait."""
    found = assessment_scores(session, level=level, ou=ou,
                              catalog_dir=ctx.settings.catalog_dir, hierarchy=hierarchy,
                              period=year)
    start, end = found.review_window
    withheld = [{"division_code": code, "name": name, "level": level, "score": None,
                 "rank": None, "peers": None, "period": found.period,
                 "withheld": {"unapproved_forms": count}}
                for code, (name, count) in found.withheld.items()]
    return [{"division_code": s.division_code, "name": s.name, "level": s.level,
             "score": s.score, "rank": s.rank, "peers": s.peers, "period": found.period,
             "reviews": None if s.reviews is None else {
                 "count": s.reviews[0], "needed": s.reviews[1],
                 "counted": s.reviews[0] >= s.reviews[1], "given_from": start.isoformat(),
                 "given_before": end.isoformat()},
             "components": [{
                 "part": p.part, "weight": p.weight, "achievement": p.achievement,
                 "points": p.points, "detail": p.detail} for p in s.components]}
            for s in found.scores] + withheld


class RunRequest(BaseModel):
    """What to compute: the hierarchy date and the years (all stored years by default)."""

    as_of: dt.date | None = None
    periods: list[Annotated[int, Field(ge=MIN_PERIOD, le=MAX_PERIOD)]] | None = Field(
        default=None, max_length=MAX_PERIOD - MIN_PERIOD + 1)


@router.post("/indicators/runs", status_code=201)
def post_run(ctx: ContextDep, session: SessionDep, body: RunRequest,
             user: Planner) -> dict[str, Any]:
    """Compute every indicator now and store the run (planners and administrators)."""
    result = run_indicators(ctx, session, user, as_of=body.as_of, periods=body.periods)
    return {"run_id": result.run_id, "as_of": result.as_of.isoformat(),
            "periods": list(result.periods), "rows": result.results.height}


__all__ = ["router", "run_indicators"]
