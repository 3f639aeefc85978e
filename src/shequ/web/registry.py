"""The home page: the loaded region, its townships, its facilities by type and a map."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from shequ.http.deps import ContextDep, SessionDep
from shequ.registry import queries
from shequ.registry.levels import FacilityStatus
from shequ.registry.summary import summarise_region, townships_of
from shequ.web.page import PageDep, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(page: PageDep, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """The loaded region: its townships, facility counts by type, and a facility map."""
    summary = summarise_region(session)
    region = queries.division(session, summary.region_code) if summary.region_code else None
    townships = townships_of(session, region) if region is not None else []
    types = ctx.catalog.facility_types
    facility_rows = sorted(
        ((types[code].name(page.lang) if code in types else code, code, n)
         for code, n in summary.facilities_by_type.items()),
        key=lambda row: -row[2])
    return render(page, "home.html", {
        "summary": summary, "region": region, "townships": townships,
        "facility_rows": facility_rows,
        "population": sum(t.residents for t in townships),
        "max_facilities": max((n for _, _, n in facility_rows), default=1),
        "statuses": {s.value: page.t(f"registry.status_{s.value}") for s in FacilityStatus},
    })
