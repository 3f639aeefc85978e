"""The registry's street network over HTTP, for maps zoomed in on streets.

``GET /api/v1/network/edges?west=…&south=…&east=…&north=…`` gives the walking network's
edges with at least one end inside the box as a GeoJSON FeatureCollection (one
MultiLineString, lengths in metres), at most ``limit`` edges: the maps draw the streets
from the registry itself, so they need no tile server.

``GET /api/v1/network/catchments?tier=…`` gives a life-circle tier's walking catchments:
one feature per facility type the tier requires, the area within the tier's walking
distance of any in-service facility of that type (what /access draws).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import polars as pl
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from shequ.access.isochrones import isochrones_geojson
from shequ.access.lifecircle import DEFAULT_MAX_SNAP_M, snap_facilities
from shequ.access.network import CM_PER_M
from shequ.access.store import load_region
from shequ.api.access import _network
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.http.deps import ContextDep, SessionDep
from shequ.http.language import data_language

router = APIRouter(prefix="/network", tags=["access"])

GEOJSON = "application/geo+json"
MAX_EDGES = 20_000


@router.get("/edges", summary="Street network edges in a box (GeoJSON)",
            response_class=JSONResponse, responses={200: {"content": {GEOJSON: {}}}})
def network_edges(
    request: Request, session: SessionDep,
    west: Annotated[float, Query(ge=-180, le=180, description="west longitude")],
    south: Annotated[float, Query(ge=-90, le=90, description="south latitude")],
    east: Annotated[float, Query(ge=-180, le=180, description="east longitude")],
    north: Annotated[float, Query(ge=-90, le=90, description="north latitude")],
    limit: Annotated[int, Query(ge=1, le=MAX_EDGES, description="most edges given")] = 5000,
) -> JSONResponse:
    """The walking network's edges touching the box; ``truncated`` when more than
    ``limit`` do (zoom in further)."""
    if west > east or south > north:
        raise ValidationError([Problem("west/east/south/north", "the box is empty",
                                       hint="give west ≤ east and south ≤ north")])
    try:
        network = _network(request, session)
    except NotFoundError:
        # No street network is stored: there are no streets to draw, which a map shows as
        # an empty layer, not as an error.
        return JSONResponse({"type": "FeatureCollection", "features": [], "properties": {
            "edges": 0, "truncated": False, "synthetic_network": None, "source": None}},
            media_type=GEOJSON)
    inside = ((network.lon >= west) & (network.lon <= east)
              & (network.lat >= south) & (network.lat <= north))
    row = np.repeat(np.arange(network.node_count), np.diff(network.indptr))
    col = network.indices.astype(np.int64)
    # each undirected edge once (row < col), kept when either end is in the box
    keep = np.flatnonzero((row < col) & (inside[row] | inside[col]))
    truncated = keep.size > limit
    keep = keep[:limit]
    u, v = row[keep], col[keep]
    lines = np.stack([np.column_stack((network.lon[u], network.lat[u])),
                      np.column_stack((network.lon[v], network.lat[v]))], axis=1)
    metres = network.weights[keep] / CM_PER_M
    body = {
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "geometry": {"type": "MultiLineString",
                         "coordinates": np.round(lines, 6).tolist()},
            "properties": {"length_m": np.round(metres, 2).tolist()},
        }] if keep.size else [],
        "properties": {"edges": int(keep.size), "truncated": bool(truncated),
                       "synthetic_network": network.synthetic, "source": network.source},
    }
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/catchments", summary="A tier's walking catchments, one per required type "
            "(GeoJSON)", response_class=JSONResponse, responses={200: {"content": {GEOJSON: {}}}})
def tier_catchments(request: Request, ctx: ContextDep, session: SessionDep,
                    tier: Annotated[str, Query(description="life-circle tier code")]
                    ) -> JSONResponse:
    """Per facility type the tier requires: everything within the tier's walking distance
    of an in-service facility of that type (one feature each, empty types left out)."""
    found = ctx.catalog.tiers.get(tier)
    if found is None:
        raise NotFoundError(f"no life-circle tier {tier!r}", code="maps.unknown_tier",
                            params={"tier": tier})
    network = _network(request, session)
    lang = data_language(request)
    key = (id(network), tier, lang)
    cache: dict[tuple[int, str, str], dict[str, Any]] = getattr(
        request.app.state, "tier_catchments", {})
    if key not in cache:
        facilities = load_region(session).facilities.filter(
            pl.col("type_code").is_in(list(found.required)))
        located = snap_facilities(network, facilities, max_snap_m=DEFAULT_MAX_SNAP_M,
                                  types=found.required)
        groups, props = [], []
        for code, nodes in zip(located.types, located.nodes, strict=True):
            if nodes.size:
                groups.append(nodes)
                props.append({"type": code, "type_name":
                              ctx.catalog.facility_types[code].name(lang)
                              if code in ctx.catalog.facility_types else code,
                              "facilities": int(nodes.size), "tier": tier})
        # drawn over a whole division: 25 m of simplification is below a pixel there and
        # keeps the answer a tenth of the size
        body = isochrones_geojson(network, sources=groups, properties=props,
                                  distances_m=[found.distance_m], buffer_m=50.0,
                                  simplify_m=25.0)
        if len(cache) > 16:
            cache.clear()
        cache[key] = body
        request.app.state.tier_catchments = cache
    return JSONResponse(cache[key], media_type=GEOJSON)

