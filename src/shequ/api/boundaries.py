"""Division boundaries as GeoJSON: one division's, or its children's for a choropleth.

Each feature names its division and says whether its code is official or derived; a
``scale`` picks the copy simplified for the map's zoom (``full`` is the stored shape).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from shapely.geometry import mapping

from shequ.errors import NotFoundError
from shequ.http.deps import SessionDep
from shequ.registry import queries
from shequ.registry.boundaries import BoundaryRecord, boundary_records
from shequ.registry.levels import BoundaryScale, code_authority

router = APIRouter(tags=["registry"])

GEOJSON = "application/geo+json"
AsOf = Annotated[dt.date | None, Query(description="Date the hierarchy is read as of "
                                       "(default: today, China Standard Time).")]
Scale = Annotated[BoundaryScale, Query(description=(
    "full: as imported; fine (5 m), medium (25 m), coarse (100 m): simplified for maps"))]


def feature(record: BoundaryRecord, scale: BoundaryScale) -> dict[str, Any]:
    """A GeoJSON feature of one boundary with its division's identity."""
    return {"type": "Feature", "id": record.code, "geometry": mapping(record.shape),
            "properties": {"code": record.code, "name": record.name, "level": record.level,
                           "parent_code": record.parent_code,
                           "code_source": record.code_source,
                           "code_authority": record.authority, "scale": scale.value,
                           "synthetic": record.synthetic, "source": record.source}}


@router.get("/divisions/{code}/boundary", summary="A division's boundary (GeoJSON)",
            response_class=JSONResponse,
            responses={200: {"content": {GEOJSON: {}}}, 404: {
                "description": "No such division, or it holds no boundary"}})
def get_boundary(code: str, session: SessionDep, as_of: AsOf = None,
                 scale: Scale = BoundaryScale.FULL) -> JSONResponse:
    """The boundary of ``code``'s version in force, as a GeoJSON Feature."""
    unit = queries.division(session, code, as_of=as_of)
    found = boundary_records(session, codes=[unit.code], as_of=as_of, scale=scale)
    if not found:
        raise NotFoundError(f"division {unit.code} ({unit.name}) holds no boundary",
                            code="boundaries.none", params={"code": unit.code,
                                                            "name": unit.name})
    return JSONResponse(feature(found[0], scale), media_type=GEOJSON)


@router.get("/divisions/{code}/children/boundaries",
            summary="The boundaries of a division's children (GeoJSON FeatureCollection)",
            response_class=JSONResponse, responses={200: {"content": {GEOJSON: {}}}})
def get_children_boundaries(code: str, session: SessionDep, as_of: AsOf = None,
                            scale: Scale = BoundaryScale.MEDIUM) -> JSONResponse:
    """Each child of ``code`` that holds a boundary as a feature (name, code, official or
    derived); ``without_boundary`` lists the children that hold none."""
    unit = queries.division(session, code, as_of=as_of)
    records = boundary_records(session, parent_code=unit.code, as_of=as_of, scale=scale)
    held = {r.code for r in records}
    missing = [{"code": child.code, "name": child.name,
                "code_authority": code_authority(child.code_source)}
               for child in queries.children(session, unit.code, as_of=as_of)
               if child.code not in held]
    return JSONResponse({"type": "FeatureCollection", "parent_code": unit.code,
                         "parent_name": unit.name,
                         "features": [feature(r, scale) for r in records],
                         "without_boundary": missing}, media_type=GEOJSON)
