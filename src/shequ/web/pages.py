"""Pages of the registry: the home page showing the loaded region."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import ColumnElement, ColumnExpressionArgument, func, literal_column, select

from shequ.api.registry import summarise_region
from shequ.http.deps import ContextDep, SessionDep
from shequ.registry import queries
from shequ.registry.codes import code_prefix
from shequ.registry.models import Facility, Population
from shequ.web.templates import render, request_language

router = APIRouter(include_in_schema=False)


def _township_of(code: ColumnExpressionArgument[str]) -> ColumnElement[str]:
    """The first nine digits of a division code (its township), with the positions as
    SQL literals: bound parameters would differ between SELECT and GROUP BY, and
    PostgreSQL refuses to group by an expression it cannot see is the same."""
    return func.substr(code, literal_column("1"), literal_column("9"))


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """The loaded region: its townships, facility counts by type, and a facility map."""
    lang = request_language(request)
    summary = summarise_region(session)
    townships: list[dict[str, object]] = []
    region = None
    population = 0
    if summary.region_code:
        region = queries.division(session, summary.region_code)
        prefix = code_prefix(region.code, region.level)
        facility_township = _township_of(Facility.division_code)
        facilities_by_division: dict[str, int] = dict(session.execute(
            select(facility_township, func.count())
            .where(Facility.division_code.startswith(prefix))
            .group_by(facility_township)).all())
        population_township = _township_of(Population.division_code)
        residents_by_township: dict[str, int | None] = dict(session.execute(
            select(population_township, func.sum(Population.residents))
            .where(Population.division_code.startswith(prefix),
                   Population.period == select(func.max(Population.period)).scalar_subquery())
            .group_by(population_township)).all())
        for unit in queries.children(session, region.code):
            key = unit.code[:9]
            townships.append({
                "unit": unit,
                "communities": len(queries.children(session, unit.code)),
                "facilities": int(facilities_by_division.get(key, 0)),
                "residents": int(residents_by_township.get(key) or 0),
            })
        population = sum(int(t["residents"]) for t in townships)  # type: ignore[call-overload]
    types = ctx.catalog.facility_types
    facility_rows = sorted(
        ((types[code].name(lang) if code in types else code, code, n)
         for code, n in summary.facilities_by_type.items()),
        key=lambda row: -row[2])
    return render(request, "home.html", {
        "summary": summary, "region": region, "townships": townships,
        "facility_rows": facility_rows, "population": population,
        "max_facilities": max((n for _, _, n in facility_rows), default=1),
    })
