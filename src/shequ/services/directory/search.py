"""Directory queries: services by text, division, type, organization, and near a point.

Near a point: a bounding box on the facility (longitude, latitude) index narrows the
rows, the great-circle distance decides, then "open now" is evaluated on the survivors;
only the page's rows are loaded as objects.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import cast

from sqlalchemy import ARRAY, Integer, any_, bindparam, func, select
from sqlalchemy.orm import Session

from shequ.errors import Problem, ValidationError
from shequ.registry.geodesy import degree_box, great_circle_m
from shequ.registry.models import Facility
from shequ.services.directory.models import DirectoryEntry
from shequ.services.directory.opening import is_open
from shequ.services.directory.spatial import PointIndex

MAX_RADIUS_M = 50_000.0


def _open_at(moment: dt.datetime) -> Callable[[str | None], bool]:
    """``is_open`` at one moment, evaluated once per distinct hours text: a page's
    facilities mostly share a few patterns."""
    @cache
    def open_now(hours: str | None) -> bool:
        return is_open(hours, moment)

    return open_now


@dataclass(frozen=True, slots=True)
class Hit:
    """A facility with its directory ids, and distance / open state when asked."""

    facility: Facility
    entry: DirectoryEntry
    distance_m: float | None = None
    open_now: bool | None = None


@dataclass(frozen=True, slots=True)
class ServiceFilter:
    """Filters of a directory search (all optional)."""

    text: str | None = None
    division_prefix: str | None = None
    type_codes: tuple[str, ...] = ()
    organization_uuid: str | None = None
    modified_after: dt.datetime | None = None
    statuses: tuple[str, ...] = ()


def _conditions(f: ServiceFilter) -> list[object]:
    out: list[object] = []
    if f.text:
        out.append(Facility.name.contains(f.text, autoescape=True))
    if f.division_prefix:
        out.append(Facility.division_code.startswith(f.division_prefix))
    if f.type_codes:
        out.append(Facility.type_code.in_(list(f.type_codes)))
    if f.organization_uuid:
        out.append(DirectoryEntry.organization_uuid == f.organization_uuid)
    if f.modified_after:
        out.append(Facility.updated_at >= f.modified_after)
    if f.statuses:
        out.append(Facility.status.in_(list(f.statuses)))
    return out


_FACILITY = Facility.__table__
_ENTRY = DirectoryEntry.__table__


def _load(session: Session, ids: Sequence[int]) -> dict[int, tuple[Facility, DirectoryEntry]]:
    """The facilities and directory entries of ``ids``.

    One Core row carrying the columns of both tables (their names do not collide) stands
    in for both read-only objects: building ORM objects was most of a search's time.
    """
    if not ids:
        return {}
    # Core on the session's connection: Session.execute added a third to each page.
    connection = session.connection()
    statement = _LOAD_ANY if connection.dialect.name == "postgresql" else _LOAD
    rows = connection.execute(statement, {"ids": list(ids)})
    return {row.id: (cast(Facility, row), cast(DirectoryEntry, row)) for row in rows}


# Built once: SQLAlchemy then reuses the compiled statement for every page.
_PAGE_ROWS = (select(_FACILITY, *[c for c in _ENTRY.c if c.name != "facility_id"])
              .join(_ENTRY, _ENTRY.c.facility_id == _FACILITY.c.id))
_LOAD = _PAGE_ROWS.where(_FACILITY.c.id.in_(bindparam("ids", expanding=True)))
# PostgreSQL: one array parameter instead of a list of them; the statement text stays the
# same for every page size, and 20 random ids cost the server 0.34 ms instead of 0.6-0.9.
_LOAD_ANY = _PAGE_ROWS.where(_FACILITY.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))


def search_services(session: Session, f: ServiceFilter, *, page: int = 1, per_page: int = 20,
                    open_now: bool = False, when: dt.datetime | None = None
                    ) -> tuple[list[Hit], int]:
    """A page of services (by facility id) and the total matching."""
    open_at = _open_at(when or dt.datetime.now(dt.UTC))
    base = (select(Facility.id, Facility.opening_hours)
            .join(DirectoryEntry, DirectoryEntry.facility_id == Facility.id)
            .where(*_conditions(f)))  # type: ignore[arg-type]
    if open_now:
        ids = [fid for fid, hours in session.execute(base.order_by(Facility.id))
               if open_at(hours)]
        total = len(ids)
        page_ids = ids[(page - 1) * per_page: page * per_page]
    else:
        total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
        page_ids = list(session.scalars(
            base.with_only_columns(Facility.id).order_by(Facility.id)
            .offset((page - 1) * per_page).limit(per_page)))
    loaded = _load(session, page_ids)
    hits = [Hit(*loaded[i], open_now=open_at(loaded[i][0].opening_hours))
            for i in page_ids if i in loaded]
    return hits, total


def services_near(session: Session, f: ServiceFilter, *, longitude: float, latitude: float,
                  radius_m: float, page: int = 1, per_page: int = 20, open_now: bool = False,
                  when: dt.datetime | None = None, index: PointIndex | None = None
                  ) -> tuple[list[Hit], int]:
    """A page of services within ``radius_m`` of the point, nearest first, and the total.

    With a point ``index`` (kept by the server, see :mod:`.sync`) and no other filter,
    the candidates come from the index instead of the database.
    """
    problems = []
    if not -180 <= longitude <= 180:
        problems.append(Problem("longitude", f"{longitude} is outside -180…180"))
    if not -90 <= latitude <= 90:
        problems.append(Problem("latitude", f"{latitude} is outside -90…90"))
    if not 0 < radius_m <= MAX_RADIUS_M:
        problems.append(Problem("radius", f"{radius_m} m is not in (0, {MAX_RADIUS_M:g}]"))
    if problems:
        raise ValidationError(problems, summary="bad proximity search")
    open_at = _open_at(when or dt.datetime.now(dt.UTC))
    if index is not None and not open_now and f == ServiceFilter():
        ids, distances = index.within(longitude, latitude, radius_m)
        start = (page - 1) * per_page
        page_ids = [int(i) for i in ids[start:start + per_page]]
        loaded = _load(session, page_ids)
        hits = [Hit(*loaded[fid], distance_m=float(d),
                    open_now=open_at(loaded[fid][0].opening_hours))
                for fid, d in zip(page_ids, distances[start:start + per_page], strict=True)
                if fid in loaded]
        return hits, int(ids.size)
    dlon, dlat = degree_box(longitude, latitude, radius_m)
    query = (select(Facility.id, Facility.longitude, Facility.latitude, Facility.opening_hours)
             .where(Facility.longitude.between(longitude - dlon, longitude + dlon),
                    Facility.latitude.between(latitude - dlat, latitude + dlat),
                    *_conditions(f)))  # type: ignore[arg-type]
    if f.organization_uuid:
        query = query.join(DirectoryEntry, DirectoryEntry.facility_id == Facility.id)
    found: list[tuple[float, int, str | None]] = []
    for fid, lon, lat, hours in session.execute(query):
        distance = great_circle_m(longitude, latitude, lon or 0.0, lat or 0.0)
        if distance > radius_m or (open_now and not open_at(hours)):
            continue
        found.append((distance, fid, hours))
    found.sort(key=lambda item: (item[0], item[1]))
    chosen = found[(page - 1) * per_page: page * per_page]
    loaded = _load(session, [fid for _, fid, _ in chosen])
    # "open now" is evaluated for every candidate only when it filters; else for the page.
    hits = [Hit(*loaded[fid], distance_m=d, open_now=open_at(hours))
            for d, fid, hours in chosen if fid in loaded]
    return hits, len(found)


def services_by_distance(session: Session, f: ServiceFilter, *, longitude: float,
                         latitude: float, page: int = 1, per_page: int = 20,
                         open_now: bool = False, when: dt.datetime | None = None
                         ) -> tuple[list[Hit], int]:
    """A page of every matching service, nearest the point first (no radius: those
    without a location come last, by id), and the total.

    The directory of a county is a few thousand rows: their points are read once and
    the distances sorted here, as :func:`services_near` does inside its box.
    """
    problems = []
    if not -180 <= longitude <= 180:
        problems.append(Problem("longitude", f"{longitude} is outside -180…180",
                                column="lon", code="out_of_range",
                                params={"low": -180, "high": 180, "value": longitude}))
    if not -90 <= latitude <= 90:
        problems.append(Problem("latitude", f"{latitude} is outside -90…90",
                                column="lat", code="out_of_range",
                                params={"low": -90, "high": 90, "value": latitude}))
    if problems:
        raise ValidationError(problems, summary="bad distance order")
    open_at = _open_at(when or dt.datetime.now(dt.UTC))
    query = (select(Facility.id, Facility.longitude, Facility.latitude, Facility.opening_hours)
             .join(DirectoryEntry, DirectoryEntry.facility_id == Facility.id)
             .where(*_conditions(f)))  # type: ignore[arg-type]
    found: list[tuple[float, int, float | None, str | None]] = []
    for fid, lon, lat, hours in session.execute(query):
        if open_now and not open_at(hours):
            continue
        distance = (great_circle_m(longitude, latitude, lon, lat)
                    if lon is not None and lat is not None else None)
        found.append((distance if distance is not None else math.inf, fid, distance, hours))
    found.sort(key=lambda item: (item[0], item[1]))
    chosen = found[(page - 1) * per_page: page * per_page]
    loaded = _load(session, [fid for _, fid, _, _ in chosen])
    hits = [Hit(*loaded[fid], distance_m=distance, open_now=open_at(hours))
            for _, fid, distance, hours in chosen if fid in loaded]
    return hits, len(found)
