"""Read the registry: divisions as of a date, their children and subtrees, facilities.

Every division query takes ``as_of`` because the hierarchy is time-versioned; a
jurisdiction is a code prefix (county 110101 owns every code starting with 110101),
so subtree queries are prefix queries on the indexed code column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.registry.codes import code_prefix, normalise_code
from shequ.registry.columns import CHINA_TZ
from shequ.registry.geodesy import degree_box, great_circle_m
from shequ.registry.models import (
    ACTIVE_STATUSES,
    Division,
    Facility,
    FacilityStatus,
    RegistryMeta,
)


def valid_on(as_of: dt.date) -> ColumnElement[bool]:
    """SQL condition: the division version is in force on ``as_of``."""
    return and_(
        Division.valid_from <= as_of,
        or_(Division.valid_to.is_(None), Division.valid_to > as_of),
    )


def in_service_in(period: int) -> ColumnElement[bool]:
    """SQL condition: the facility serves residents in year ``period``.

    In service or accepted (or closed only after that year), opened on or before 31
    December (or no opening date) and not closed by then — the rule the indicator engine
    applies to its facility arrays, so that counts and walking coverage of a year agree.
    """
    end = dt.date(period, 12, 31)
    return and_(
        or_(Facility.status.in_(ACTIVE_STATUSES),
            and_(Facility.status == FacilityStatus.CLOSED.value, Facility.closed_on > end)),
        or_(Facility.opened_on.is_(None), Facility.opened_on <= end),
        or_(Facility.closed_on.is_(None), Facility.closed_on > end))


def today() -> dt.date:
    """The current date in China Standard Time, the registry's calendar."""
    return dt.datetime.now(CHINA_TZ).date()


def division(session: Session, code: str, *, as_of: dt.date | None = None) -> Division:
    """The version of division ``code`` in force on ``as_of`` (default today)."""
    code = normalise_code(code)
    when = as_of or today()
    found = session.scalars(select(Division).where(Division.code == code, valid_on(when))).first()
    if found is None:
        raise NotFoundError(f"no division with code {code} in force on {when.isoformat()}")
    return found


def children(session: Session, code: str | None, *, as_of: dt.date | None = None
             ) -> Sequence[Division]:
    """Divisions directly under ``code`` (provinces when ``code`` is None), by code."""
    when = as_of or today()
    query = select(Division).where(valid_on(when))
    if code is None:
        query = query.where(Division.level == 1)
    else:
        query = query.where(Division.parent_code == normalise_code(code))
    return session.scalars(query.order_by(Division.code)).all()


def subtree(session: Session, code: str, *, as_of: dt.date | None = None,
            max_level: int | None = None) -> Sequence[Division]:
    """``code`` and every division under it (optionally down to ``max_level``)."""
    root = division(session, code, as_of=as_of)
    when = as_of or today()
    prefix = code_prefix(root.code, root.level)
    query = select(Division).where(valid_on(when), Division.code.startswith(prefix))
    if max_level is not None:
        query = query.where(Division.level <= max_level)
    return session.scalars(query.order_by(Division.code)).all()


def communities_under(session: Session, prefix: str, *, as_of: dt.date | None = None,
                      limit: int | None = None, text: str | None = None
                      ) -> Sequence[Division]:
    """The communities and villages (level 5) whose codes start with ``prefix``, by code;
    with ``text``, those whose name contains it or whose code starts with it."""
    query = select(Division).where(valid_on(as_of or today()), Division.level == 5,
                                   Division.code.startswith(prefix)).order_by(Division.code)
    if text:
        query = query.where(Division.name.contains(text, autoescape=True)
                            | Division.code.startswith(text, autoescape=True))
    return session.scalars(query.limit(limit) if limit is not None else query).all()


def ancestors(session: Session, code: str, *, as_of: dt.date | None = None
              ) -> list[Division]:
    """The chain from the province down to ``code`` itself."""
    chain: list[Division] = []
    current: str | None = normalise_code(code)
    while current is not None:
        unit = division(session, current, as_of=as_of)
        chain.append(unit)
        current = unit.parent_code
    return list(reversed(chain))


def search_divisions(session: Session, text: str, *, as_of: dt.date | None = None,
                     level: int | None = None, limit: int = 50) -> Sequence[Division]:
    """Divisions whose name contains ``text`` or whose code starts with it."""
    text = text.strip()
    if not text:
        raise ValidationError([Problem("q", "the search text is empty",
                                       hint="give part of a name or the start of a code")])
    when = as_of or today()
    condition = (Division.code.startswith(text) if text.isdigit()
                 else Division.name.contains(text, autoescape=True))
    query = select(Division).where(valid_on(when), condition)
    if level is not None:
        query = query.where(Division.level == level)
    return session.scalars(query.order_by(Division.level, Division.code).limit(limit)).all()


def count_by_level(session: Session, *, prefix: str = "", as_of: dt.date | None = None
                   ) -> dict[int, int]:
    """How many divisions of each level are in force (under ``prefix``)."""
    when = as_of or today()
    query = (select(Division.level, func.count()).where(valid_on(when))
             .group_by(Division.level))
    if prefix:
        query = query.where(Division.code.startswith(prefix))
    return {int(level): int(n) for level, n in session.execute(query).all()}


@dataclass(frozen=True, slots=True)
class NearbyFacility:
    """A facility and its straight-line distance from the query point."""

    facility: Facility
    distance_m: float


def facility_query(*, division_prefix: str | None = None, type_codes: Sequence[str] = (),
                   statuses: Sequence[str] = ()) -> Select[Facility]:
    """A select of facilities filtered by jurisdiction prefix, types and statuses."""
    query = select(Facility)
    if division_prefix:
        query = query.where(Facility.division_code.startswith(division_prefix))
    if type_codes:
        query = query.where(Facility.type_code.in_(list(type_codes)))
    if statuses:
        query = query.where(Facility.status.in_(list(statuses)))
    return query


def facilities_near(session: Session, lon: float, lat: float, radius_m: float, *,
                    type_codes: Sequence[str] = (), statuses: Sequence[str] = (),
                    division_prefix: str | None = None, limit: int = 100
                    ) -> list[NearbyFacility]:
    """Facilities within ``radius_m`` of (lon, lat), nearest first.

    A bounding box narrows the rows in SQL (the lon/lat index), then the exact
    great-circle distance decides.
    """
    problems = []
    if not -180 <= lon <= 180:
        problems.append(Problem("lon", f"longitude {lon} is outside -180…180"))
    if not -90 <= lat <= 90:
        problems.append(Problem("lat", f"latitude {lat} is outside -90…90"))
    if not 0 < radius_m <= 100_000:
        problems.append(Problem("radius", f"radius {radius_m} m is not in (0, 100000]"))
    if problems:
        raise ValidationError(problems, summary="bad point query")
    dlon, dlat = degree_box(lon, lat, radius_m)
    query = facility_query(division_prefix=division_prefix, type_codes=type_codes,
                           statuses=statuses).where(
        Facility.longitude.between(lon - dlon, lon + dlon),
        Facility.latitude.between(lat - dlat, lat + dlat),
    )
    candidates = list(session.scalars(query))
    if not candidates:
        return []
    # One call for every candidate in the box (a call per facility costs more than the
    # distance itself).
    # (the box's bounds leave out facilities without coordinates)
    distances = great_circle_m(lon, lat, [f.longitude or 0.0 for f in candidates],
                               [f.latitude or 0.0 for f in candidates])
    found = [NearbyFacility(facility, float(distance))
             for facility, distance in zip(candidates, distances, strict=True)
             if distance <= radius_m]
    found.sort(key=lambda item: (item.distance_m, item.facility.id))
    return found[:limit]


def facility(session: Session, facility_id: int) -> Facility:
    """The facility with ``facility_id``."""
    found = session.get(Facility, facility_id)
    if found is None:
        raise NotFoundError(f"no facility with id {facility_id}")
    return found


def meta(session: Session) -> dict[str, str]:
    """Key–value facts about the loaded registry."""
    return {row.key: row.value for row in session.scalars(select(RegistryMeta))}


def set_meta(session: Session, **values: str) -> None:
    """Record facts about the loaded registry (replacing earlier values)."""
    for key, value in values.items():
        session.merge(RegistryMeta(key=key, value=value))
