"""Walking accessibility over HTTP: the point query, per-community results, isochrones
and their recomputation (the planner's map is the page of :mod:`shequ.web.access`).

``GET /api/v1/access/point?lon=…&lat=…`` answers "what is within 15 (10, 5) minutes of
here, and what is missing"; ``GET /api/v1/access/communities`` gives every community's
tiers from the stored ``community_access`` rows (computed on the fly, not stored, when
none are stored yet); ``POST /api/v1/access/compute`` recomputes and stores them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from shequ.access.coverage import community_tiers
from shequ.access.network import StreetNetwork
from shequ.access.point import answer_as_json, point_query
from shequ.access.store import load_region
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.http.caller import Planner
from shequ.http.deps import ContextDep, SessionDep
from shequ.http.language import data_language
from shequ.registry import queries
from shequ.registry.models import MAX_PERIOD, MIN_PERIOD
from shequ.services.analyses import recompute_life_circles

router = APIRouter(prefix="/access", tags=["access"])


def _network(request: Request, session: Session) -> StreetNetwork:
    """The registry's network, loaded once per folder and modification time."""
    info = queries.meta(session)
    if "network_dir" not in info:
        raise NotFoundError("the registry records no street network; build the demo region "
                            "(`shequ demo build`) or load a network first")
    folder = Path(info["network_dir"])
    stamp = (folder / "network.json").stat().st_mtime if (folder / "network.json").is_file() \
        else 0.0
    cache: dict[tuple[str, float], StreetNetwork] = getattr(request.app.state,
                                                            "access_networks", {})
    key = (str(folder), stamp)
    if key not in cache:
        cache.clear()
        cache[key] = StreetNetwork.load(folder)
        request.app.state.access_networks = cache
    return cache[key]


class ReachedType(BaseModel):
    """A required type found within the tier's distance."""

    type: str
    type_name: str
    distance_m: float


class MissingType(BaseModel):
    """A required type not found within the tier's distance."""

    type: str
    type_name: str


class TierOut(BaseModel):
    """One life-circle tier at the point."""

    code: str
    name: str
    distance_m: int
    reached: list[ReachedType]
    missing: list[MissingType]


class FacilityInReach(BaseModel):
    """A facility within walking reach, with its walking distance."""

    id: int | None
    type_code: str
    type_name: str
    name: str | None
    distance_m: float


class PointOut(BaseModel):
    """What is within a walk of the point and what each tier is missing."""

    lon: float
    lat: float
    snapped: bool = Field(description="False when the point is farther than the maximum "
                          "snap distance from every street")
    snap_distance_m: float
    node_id: int | None
    synthetic_network: bool
    facilities: list[FacilityInReach]
    tiers: list[TierOut]


@router.get("/point", response_model=PointOut)
def point(request: Request, ctx: ContextDep, session: SessionDep,
          lon: Annotated[float, Query(ge=-180, le=180)],
          lat: Annotated[float, Query(ge=-90, le=90)],
          tier: Annotated[list[str] | None, Query(description="tier codes (default all)")]
          = None,
          max_snap_m: Annotated[float, Query(gt=0, le=5000)] = 500.0) -> dict[str, Any]:
    """Facilities within walking reach of a point and, per tier, what is missing."""
    network = _network(request, session)
    facilities = load_region(session).facilities
    answer = point_query(network, lon=lon, lat=lat, facilities=facilities,
                         catalog=ctx.catalog, tiers=tier, max_snap_m=max_snap_m)
    return answer_as_json(answer, ctx.catalog, lang=data_language(request))


class CommunityTierOut(BaseModel):
    """One community's verdict for one tier."""

    division_code: str
    name: str | None
    tier: str
    distance_m: int
    longitude: float | None
    latitude: float | None
    residents: float
    age_60_plus: float
    covered_share: float = Field(ge=0, le=1)
    residents_covered: float
    reached: list[str]
    missing: list[str]


class CommunitiesOut(BaseModel):
    """Per-community results and where they come from."""

    stored: bool = Field(description="True: from stored community_access rows; False: "
                         "computed for this answer and not stored")
    period: int = Field(description="the year whose facilities were walked")
    computed_at: dt.datetime | None
    communities: list[CommunityTierOut]


Period = Annotated[int | None, Query(ge=MIN_PERIOD, le=MAX_PERIOD,
                                     description="year whose facilities count")]


@router.get("/communities", response_model=CommunitiesOut)
def communities(ctx: ContextDep, session: SessionDep,
                prefix: Annotated[str, Query(pattern=r"^\d{0,12}$")] = "",
                tier: str | None = None, period: Period = None) -> dict[str, Any]:
    """Every community's tiers: reached and missing types, residents covered (stored
    rows of ``period``, default the latest year stored)."""
    found = community_tiers(ctx, session, prefix=prefix, tier=tier, period=period)
    return {"stored": found.stored, "period": found.period, "computed_at": found.computed_at,
            "communities": found.table.to_dicts()}


class ComputeOut(BaseModel):
    """What a recomputation stored."""

    period: int
    communities: int
    rows: int
    uncovered_community_tiers: int
    unsnapped_communities: list[str]
    unsnapped_facilities: int


@router.post("/compute", response_model=ComputeOut,
             responses={401: {"description": "not signed in"},
                        403: {"description": "not a planner"}})
def compute(ctx: ContextDep, session: SessionDep, user: Planner,
            period: Period = None) -> dict[str, Any]:
    """Recompute the life circles with the facilities of ``period`` (default this year)
    and store them as that year's ``community_access`` for the communities of the
    planner's jurisdiction (all of them for national planners and administrators).

    The walk runs over the whole region, so that facilities just across the
    jurisdiction's border count as they do for residents.
    """
    return recompute_life_circles(ctx, session, user, period=period)


@router.get("/isochrones")
def isochrones(request: Request, session: SessionDep,
               facility_id: Annotated[list[int], Query()],
               distance_m: Annotated[list[float] | None, Query()] = None) -> dict[str, Any]:
    """GeoJSON catchment polygons of the given facilities (default 1000 m)."""
    from shequ.access.isochrones import isochrones_geojson
    from shequ.access.lifecircle import snap_facilities

    distances = distance_m or [1000.0]
    problems = []
    if any(not 0 < d <= 5000 for d in distances) or len(distances) > 5:
        problems.append(Problem("distance_m", "give at most 5 distances in (0, 5000] metres"))
    if not facility_id or len(facility_id) > 50 or any(
            not 0 < i < 2**63 for i in facility_id):
        problems.append(Problem("facility_id", "give 1 to 50 facility ids (positive integers)"))
    if problems:
        raise ValidationError(problems)
    network = _network(request, session)
    facilities = load_region(session).facilities.filter(pl.col("id").is_in(facility_id))
    missing = sorted(set(facility_id) - set(facilities["id"].to_list()))
    if missing:
        raise NotFoundError(f"no in-service facility with a location has id(s) {missing}")
    located = snap_facilities(network, facilities, max_snap_m=500.0)
    groups, props = [], []
    for code, nodes, rows in zip(located.types, located.nodes, located.rows, strict=True):
        for node, row in zip(nodes.tolist(), rows.tolist(), strict=True):
            groups.append([node])
            props.append({"facility_id": int(facilities["id"][row]), "type": code,
                          "name": facilities["name"][row]})
    return isochrones_geojson(network, sources=groups, properties=props,
                              distances_m=distances)


__all__ = ["router"]
