"""The service directory's pages: find a service (keyword, kind of facility, open now,
nearest a point first, page by page) and one service's page (what it offers, its hours in
words, where it is, how to book it or ask for help there).

The searches are the directory's own (:mod:`shequ.services.directory.search`, as the
HSDS API uses them); the hours are read by the opening_hours parser
(:func:`shequ.services.directory.opening.weekly_hours`) and put in words here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequ.errors import NotFoundError
from shequ.http.deps import ContextDep, SessionDep
from shequ.http.directory import directory_in_step
from shequ.i18n import china_time
from shequ.registry.levels import FacilityStatus
from shequ.registry.models import Facility
from shequ.services.bookings.models import BookableResource
from shequ.services.directory import ServiceFilter, search_services
from shequ.services.directory.models import DirectoryEntry
from shequ.services.directory.opening import WeeklyHours, is_open, weekly_hours
from shequ.services.directory.search import Hit, services_by_distance
from shequ.web.page import Crumb, Page, PageDep, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(directory_in_step)])

PER_PAGE = 20
# The statuses residents are shown in the list: facilities open to them.
LISTED_STATUSES = (FacilityStatus.IN_SERVICE.value,)


def hours_in_words(groups: list[WeeklyHours] | None, page: Page) -> list[str]:
    """A week's opening times as lines of the reader's language:
    "周一至周五 08:00–17:00" / "Mon–Fri 08:00–17:00"; empty when unknown."""
    if groups is None:
        return []
    if not groups:
        return [page.t("directory.closed_all_week")]
    lines = []
    for group in groups:
        days = _days_in_words(group.days, page)
        if group.all_day:
            lines.append(page.t("directory.hours_all_day", days=days))
            continue
        times = page.t("directory.times_separator").join(
            f"{start}–{end}" for start, end in group.times)
        lines.append(page.t("directory.hours_line", days=days, times=times))
    return lines


def _days_in_words(days: tuple[int, ...], page: Page) -> str:
    if len(days) == 7:
        return page.t("directory.every_day")
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        names = [page.t(f"directory.day_{d}") for d in run]
        if len(run) >= 3:
            parts.append(page.t("directory.day_range", first=names[0], last=names[-1]))
        else:
            parts.extend(names)
    return page.t("directory.days_separator").join(parts)


def distance_in_words(metres: float | None, page: Page) -> str:
    """A distance as the reader's language writes it (metres below a kilometre)."""
    if metres is None:
        return ""
    if metres < 1000:
        return page.t("directory.metres", value=int(round(metres / 10) * 10))
    return page.t("directory.kilometres", value=f"{metres / 1000:.1f}")


@dataclass(frozen=True, slots=True)
class Listed:
    """A service as the list shows it."""

    hit: Hit
    type_name: str
    distance: str
    hours: list[str]


def _type_name(ctx: ContextDep, code: str, lang: str) -> str:
    kind = ctx.catalog.facility_types.get(code)
    return kind.name(lang) if kind is not None else code


def _listed_types(session: Session) -> list[str]:
    """The kinds of facility the directory lists, by code."""
    return list(session.scalars(
        select(Facility.type_code).join(DirectoryEntry, DirectoryEntry.facility_id == Facility.id)
        .where(Facility.status.in_(LISTED_STATUSES)).group_by(Facility.type_code)
        .order_by(Facility.type_code)))


def directory_centre(session: Session) -> tuple[float, float]:
    """Where a map of the directory starts: the middle of the facilities."""
    row = session.execute(select(func.avg(Facility.latitude), func.avg(Facility.longitude))
                          .where(Facility.latitude.is_not(None))).one()
    return (float(row[0]), float(row[1])) if row[0] is not None else (39.9, 116.4)


def _today() -> dt.date:
    return china_time(dt.datetime.now(dt.UTC)).date()


def _degrees(text: str | None, limit: float) -> float | None:
    """``text`` as degrees within ±``limit``, else None."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and abs(value) <= limit else None


@router.get("/services", response_class=HTMLResponse)
def find(page: PageDep, ctx: ContextDep, session: SessionDep, *,
         q: Annotated[str | None, Query(max_length=100)] = None,
         type: Annotated[str | None, Query(max_length=64)] = None,
         lat: Annotated[str | None, Query(max_length=40)] = None,
         lon: Annotated[str | None, Query(max_length=40)] = None,
         open_now: bool = False,
         number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
         per_page: Annotated[int, Query(ge=1, le=100)] = PER_PAGE) -> HTMLResponse:
    """Services by keyword and kind, open now or not, nearest a point first when one is
    given (the map's click or the reader's location), a page at a time."""
    text = (q or "").strip() or None
    kinds = _listed_types(session)
    chosen_type = type if type in kinds else None
    f = ServiceFilter(text=text, type_codes=(chosen_type,) if chosen_type else (),
                      statuses=LISTED_STATUSES)
    # The search form's point fields are filled by the map or the reader's location; empty
    # or unreadable ones mean "no point" (the search goes on without it), not an error.
    latitude, longitude = _degrees(lat, 90), _degrees(lon, 180)
    point = latitude is not None and longitude is not None
    if point:
        assert latitude is not None and longitude is not None
        hits, total = services_by_distance(session, f, longitude=longitude, latitude=latitude,
                                           page=number, per_page=per_page, open_now=open_now)
        centre = (latitude, longitude)
    else:
        hits, total = search_services(session, f, page=number, per_page=per_page,
                                      open_now=open_now)
        centre = directory_centre(session)
    today = _today()
    listed = [Listed(hit, _type_name(ctx, hit.facility.type_code, page.lang),
                     distance_in_words(hit.distance_m, page),
                     hours_in_words(weekly_hours(hit.facility.opening_hours, week_of=today),
                                    page))
              for hit in hits]
    pages = max(1, math.ceil(total / per_page))
    query: dict[str, Any] = {"q": text, "type": chosen_type, "open_now": "true" if open_now
                             else None, "lat": f"{latitude:.5f}" if point and latitude is not None
                             else None, "lon": f"{longitude:.5f}" if point and longitude is not None
                             else None, "per_page": per_page if per_page != PER_PAGE else None}
    markers = [{"id": item.hit.facility.id, "name": item.hit.facility.name,
                "lat": item.hit.facility.latitude, "lon": item.hit.facility.longitude,
                "open": bool(item.hit.open_now), "url": f"/services/{item.hit.facility.id}"}
               for item in listed if item.hit.facility.latitude is not None]
    return render(page, "directory_find.html", {
        "listed": listed, "total": total, "page_number": number, "pages": pages,
        "first": (number - 1) * per_page + 1 if listed else 0,
        "last": (number - 1) * per_page + len(listed),
        "query": query, "q": text or "", "chosen_type": chosen_type,
        "types": [(code, _type_name(ctx, code, page.lang)) for code in kinds],
        "open_now": open_now, "point": point, "centre": centre,
        "map": {"centre": list(centre), "point": [latitude, longitude] if point else None,
                "markers": markers},
        "breadcrumbs": [Crumb(page.t("common.home"), "/"), Crumb(page.t("services.nav"))]})


@router.get("/services/{facility_id:int}", response_class=HTMLResponse)
def service(facility_id: int, page: PageDep, ctx: ContextDep,
            session: SessionDep) -> HTMLResponse:
    """One service: what it offers, its hours in words, where it is, and how to book it
    or ask for help there."""
    facility = session.get(Facility, facility_id) if 0 < facility_id < 2**31 else None
    if facility is None:
        raise NotFoundError(f"no service with id {facility_id}",
                            code="directory.not_found", params={"id": facility_id})
    kind = ctx.catalog.facility_types.get(facility.type_code)
    resources = list(session.scalars(
        select(BookableResource).where(BookableResource.facility_id == facility.id,
                                      BookableResource.active.is_(True))
        .order_by(BookableResource.id)))
    groups = weekly_hours(facility.opening_hours, week_of=_today())
    return render(page, "directory_service.html", {
        "facility": facility, "type_name": _type_name(ctx, facility.type_code, page.lang),
        "area_key": f"directory.area_{kind.service_area}" if kind is not None else None,
        "hours": hours_in_words(groups, page),
        "hours_unreadable": bool(facility.opening_hours) and groups is None,
        "open_now": is_open(facility.opening_hours, dt.datetime.now(dt.UTC)),
        "resources": resources,
        "map": {"centre": [facility.latitude, facility.longitude], "point": None,
                "markers": [{"id": facility.id, "name": facility.name,
                             "lat": facility.latitude, "lon": facility.longitude,
                             "open": False, "url": ""}]}
        if facility.latitude is not None and facility.longitude is not None else None,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("services.nav"), "/services"), Crumb(facility.name)]})
