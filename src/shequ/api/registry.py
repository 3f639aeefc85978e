"""Read endpoints of the registry: divisions (tree, children, search, as of a date) and
facilities (by division, by type, near a point)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, computed_field

from shequ.errors import Problem, ValidationError
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep, one_trip
from shequ.registry import queries
from shequ.registry.codes import code_prefix, normalise_code
from shequ.registry.levels import code_authority
from shequ.registry.models import Division, Facility, FacilityStatus
from shequ.registry.summary import summarise_region


class ErrorOut(BaseModel):
    """The body of every 4xx answer: the error's kind, what is wrong and how to fix it."""

    error: str
    detail: str
    problems: list[dict[str, str | int | None]] | None = None


ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorOut, "description": "No such division or facility (as of the date)"},
    422: {"description": "A malformed code, unknown type or status, or bad parameters"},
}

router = APIRouter(tags=["registry"], responses=ERRORS)

AsOf = Annotated[dt.date | None, Query(description="Date the hierarchy is read as of "
                                       "(default: today, China Standard Time).")]


class DivisionOut(BaseModel):
    """One version of an administrative division."""

    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="12-digit NBS division code")
    level: int = Field(ge=1, le=5, description="1 province … 5 community/village")
    parent_code: str | None
    name: str
    kind: str
    urban_rural: str | None = Field(description="urban–rural class code (111…220)")
    valid_from: dt.date
    valid_to: dt.date | None
    code_source: str
    longitude: float | None
    latitude: float | None
    synthetic_geography: bool

    @computed_field(description="official (published or imported) or derived (made from "  # type: ignore[prop-decorator]
                    "the NBS digit ranges)")
    @property
    def code_authority(self) -> str:
        """Whether the code is official or derived."""
        return code_authority(self.code_source)


class DivisionTree(DivisionOut):
    """A division with its children, nested to the requested depth."""

    children: list[DivisionTree] = Field(default_factory=list)


class FacilityOut(BaseModel):
    """A service facility as stored in the registry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str | None
    type_code: str
    division_code: str
    name: str
    address: str | None
    longitude: float | None
    latitude: float | None
    floor_area_m2: float | None
    activity_area_m2: float | None
    capacity: int | None
    opening_hours: str | None
    phone: str | None
    status: str
    opened_on: dt.date | None
    closed_on: dt.date | None
    operator_kind: str | None
    operator_name: str | None
    space_for_services: bool
    funding_source: str | None
    investment_cny: float | None
    parent_id: int | None
    synthetic: bool


class NearbyFacilityOut(FacilityOut):
    """A facility with its straight-line distance from the query point."""

    distance_m: float


class FacilityTypeOut(BaseModel):
    """A facility type of the catalog."""

    code: str
    name_zh: str
    name_en: str
    service_area: str
    tier: str
    capacity_unit: str


class RegionSummary(BaseModel):
    """What the registry holds: divisions per level and facilities per type."""

    model_config = ConfigDict(from_attributes=True)

    region_code: str | None
    region_name: str | None
    synthetic: bool
    divisions_by_level: dict[int, int]
    facilities_by_type: dict[str, int]


def _division_out(unit: Division) -> DivisionOut:
    return DivisionOut.model_validate(unit)


@router.get("/divisions", response_model=list[DivisionOut], summary="Provinces, or search")
def list_divisions(session: SessionDep, as_of: AsOf = None,
                   q: Annotated[str | None, Query(max_length=50, description=(
                       "part of a name, or the start of a code"))] = None,
                   level: Annotated[int | None, Query(ge=1, le=5)] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[DivisionOut]:
    """Without ``q``: the provinces.  With ``q``: divisions whose name contains it or
    whose code starts with it."""
    if q is None:
        return [_division_out(d) for d in queries.children(session, None, as_of=as_of)]
    return [_division_out(d) for d in
            queries.search_divisions(session, q, as_of=as_of, level=level, limit=limit)]


@router.get("/divisions/{code}", response_model=DivisionOut)
@one_trip
def get_division(code: str, session: SessionDep, as_of: AsOf = None) -> DivisionOut:
    """One division as of a date."""
    return _division_out(queries.division(session, code, as_of=as_of))


@router.get("/divisions/{code}/children", response_model=list[DivisionOut])
@one_trip
def get_children(code: str, session: SessionDep, as_of: AsOf = None) -> list[DivisionOut]:
    """The divisions directly under ``code``."""
    queries.division(session, code, as_of=as_of)  # 404 for an unknown parent
    return [_division_out(d) for d in queries.children(session, code, as_of=as_of)]


@router.get("/divisions/{code}/ancestors", response_model=list[DivisionOut])
def get_ancestors(code: str, session: SessionDep, as_of: AsOf = None) -> list[DivisionOut]:
    """The chain from the province down to ``code``."""
    return [_division_out(d) for d in queries.ancestors(session, code, as_of=as_of)]


@router.get("/divisions/{code}/tree", response_model=DivisionTree)
def get_tree(code: str, session: SessionDep, as_of: AsOf = None,
             depth: Annotated[int, Query(ge=0, le=4)] = 2) -> DivisionTree:
    """``code`` and its descendants down to ``depth`` levels below it."""
    root = queries.division(session, code, as_of=as_of)
    units = queries.subtree(session, code, as_of=as_of, max_level=root.level + depth)
    nodes = {u.code: DivisionTree.model_validate(u) for u in units}
    for unit in units:
        if unit.code != root.code and unit.parent_code in nodes:
            nodes[unit.parent_code].children.append(nodes[unit.code])
    return nodes[root.code]


def _statuses(status: list[str] | None) -> list[str]:
    allowed = {s.value for s in FacilityStatus}
    chosen = status or []
    bad = [s for s in chosen if s not in allowed]
    if bad:
        raise ValidationError([Problem("status", f"unknown status {s!r}",
                                       hint=f"use one of {', '.join(sorted(allowed))}")
                               for s in bad])
    return chosen


def _types(ctx: ContextDep, types: list[str] | None) -> list[str]:
    chosen = types or []
    bad = [t for t in chosen if t not in ctx.catalog.facility_types]
    if bad:
        raise ValidationError([Problem("type", f"unknown facility type {t!r}",
                                       hint="see /api/v1/facility-types") for t in bad])
    return chosen


@router.get("/facility-types", response_model=list[FacilityTypeOut])
def list_facility_types(ctx: ContextDep) -> list[FacilityTypeOut]:
    """The facility type catalog."""
    return [FacilityTypeOut(code=t.code, name_zh=t.name_zh, name_en=t.name_en,
                            service_area=t.service_area, tier=t.tier,
                            capacity_unit=t.capacity_unit)
            for t in ctx.catalog.facility_types.values()]


# The listing reads only what it answers, as plain rows: no ORM objects, and the
# response model checks and encodes each row once.
FACILITY_OUT_COLUMNS = tuple(getattr(Facility, name) for name in FacilityOut.model_fields)


@router.get("/facilities", response_model=list[FacilityOut])
@one_trip
def list_facilities(
    ctx: ContextDep,
    session: SessionDep,
    division: Annotated[str | None, Query(description="division code; its whole subtree")] = None,
    type: Annotated[list[str] | None, Query(description="facility type code(s)")] = None,
    status: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[dict[str, object]]:
    """Facilities in a division's subtree, of some types and statuses, by id."""
    prefix = None
    if division:
        unit = queries.division(session, normalise_code(division, where="division"))
        prefix = code_prefix(unit.code, unit.level)
    query = queries.facility_query(division_prefix=prefix, type_codes=_types(ctx, type),
                                   statuses=_statuses(status))
    rows = session.execute(query.with_only_columns(*FACILITY_OUT_COLUMNS)
                           .order_by(Facility.id).offset(offset).limit(limit))
    return [dict(row) for row in rows.mappings()]


@router.get("/facilities/near", response_model=list[NearbyFacilityOut])
@one_trip
def facilities_near(
    ctx: ContextDep,
    session: SessionDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    radius: Annotated[float, Query(gt=0, le=100_000, description="metres")] = 1000,
    type: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[NearbyFacilityOut]:
    """Facilities within ``radius`` metres (straight line) of a point, nearest first."""
    found = queries.facilities_near(session, lon, lat, radius, type_codes=_types(ctx, type),
                                    statuses=_statuses(status), limit=limit)
    return [NearbyFacilityOut(**FacilityOut.model_validate(n.facility).__dict__,
                              distance_m=n.distance_m) for n in found]


@router.get("/facilities/{facility_id}", response_model=FacilityOut)
def get_facility(facility_id: IdPath, session: SessionDep) -> FacilityOut:
    """One facility by id."""
    return FacilityOut.model_validate(queries.facility(session, facility_id))


@router.get("/region", response_model=RegionSummary)
def region_summary(session: SessionDep) -> RegionSummary:
    """The loaded region: its divisions per level and facilities per type."""
    return RegionSummary.model_validate(summarise_region(session))
