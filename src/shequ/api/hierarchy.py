"""Division changes over HTTP: ``POST /api/v1/hierarchy/changes`` (a change file, or the
changes as JSON) and ``GET /api/v1/hierarchy/changes`` (what was recorded).

Nationwide and provincial roles only (a province's planners within their province); every
batch is audited, and a refused batch names every problem (RFC 9457, 422) and writes
nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

import shapely
import shapely.errors
import shapely.geometry
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry.base import BaseGeometry
from starlette.datastructures import UploadFile

from shequ.api.registry import ERRORS
from shequ.errors import PayloadTooLarge, Problem, ValidationError
from shequ.http.caller import CurrentUser
from shequ.http.deps import SessionDep
from shequ.ingest.changes import read_change_bytes
from shequ.registry.changes import ChangeEvent, NewUnit
from shequ.registry.codes import code_prefix, level_of
from shequ.services.hierarchy import (
    ChangeOutcome,
    apply_change_file,
    apply_division_changes,
    list_changes,
    require_change_rights,
)

router = APIRouter(tags=["registry"], responses=ERRORS)

MAX_FILE_BYTES = 8 * 2**20
Code = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit division code")]


class NewUnitIn(BaseModel):
    """A successor: its code and name; a split part's share and what it takes."""

    model_config = ConfigDict(extra="forbid")

    code: Code | None = Field(default=None, description="null: the next free code under "
                              "``parent`` (a re-parent)")
    name: str | None = Field(default=None, max_length=100)
    share: float | None = Field(default=None, description="a split part's share of the "
                                "people (the parts add up to 1)")
    parent: Code | None = None
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    facilities: list[str] = Field(default_factory=list, max_length=10_000,
                                  description="facility ids or external ids it takes")
    people: list[int] = Field(default_factory=list, max_length=100_000,
                              description="resident ids it takes")
    units: list[str] = Field(default_factory=list, max_length=10_000,
                             description="codes of the units under a split unit it takes")
    boundary: dict[str, Any] | None = Field(
        default=None, description="a split part's boundary, a GeoJSON Polygon or "
        "MultiPolygon in WGS84: a split by boundaries (the shares may then be left out)")


class ChangeIn(BaseModel):
    """One change with its effective date."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rename", "recode", "reparent", "merge", "split", "abolish", "create"]
    effective_on: dt.date
    old: list[Code] = Field(default_factory=list, max_length=1000)
    new: list[NewUnitIn] = Field(default_factory=list, max_length=1000)
    note: str | None = Field(default=None, max_length=500)


class ChangesIn(BaseModel):
    """A batch of changes, checked whole."""

    model_config = ConfigDict(extra="forbid")

    changes: list[ChangeIn] = Field(min_length=1, max_length=20_000)


class ChangesOut(BaseModel):
    """What a batch did."""

    events: list[int]
    opened: int = Field(description="division versions opened")
    closed: int = Field(description="division versions closed")
    moved: dict[str, int] = Field(description="rows carried to successors, by table")
    notices: int = Field(description="accounts told their jurisdiction moved")


class ChangeOut(BaseModel):
    """One recorded change."""

    id: int
    kind: str
    effective_on: dt.date
    old_codes: list[str]
    new_codes: list[str | None]
    shares: dict[str, float | None] | None
    recorded_by: str | None
    recorded_at: dt.datetime
    source: str


class ChangeListOut(BaseModel):
    """A page of recorded changes, newest effective date first."""

    total: int
    items: list[ChangeOut]


def _geometry(given: dict[str, Any] | None, where: str) -> BaseGeometry | None:
    if given is None:
        return None
    try:
        return shapely.geometry.shape(given)
    except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException):
        raise ValidationError([Problem("body", f"{where}: not a GeoJSON geometry",
                                       column="boundary", code="changes.bad_boundary",
                                       params={"where": where},
                                       hint='{"type": "Polygon", "coordinates": [[[lon, '
                                            'lat], …]]}')]) from None


def _events(body: ChangesIn) -> list[ChangeEvent]:
    return [ChangeEvent(c.kind, c.effective_on, old=tuple(c.old), new=tuple(
        NewUnit(n.code, n.name, share=n.share, parent=n.parent, longitude=n.longitude,
                latitude=n.latitude, facilities=tuple(n.facilities), people=tuple(n.people),
                units=tuple(n.units),
                boundary=_geometry(n.boundary, f"changes.{i}.new.{j}.boundary"))
        for j, n in enumerate(c.new)), rows=(i,), note=c.note)
        for i, c in enumerate(body.changes, start=1)]


def _out(outcome: ChangeOutcome) -> ChangesOut:
    report = outcome.report
    return ChangesOut(events=report.events, opened=report.opened, closed=report.closed,
                      moved=dict(report.moved), notices=len(report.notices))


@router.post("/hierarchy/changes", response_model=ChangesOut, status_code=201,
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": ChangesIn.model_json_schema()},
                 "multipart/form-data": {"schema": {
                     "type": "object", "properties": {"file": {
                         "type": "string", "format": "binary",
                         "description": "CSV or XLSX: 原代码, 原名称, 变更类型, 新代码, 新名称, "
                                        "日期 (or the English headers)"},
                         "boundaries": {
                             "type": "string", "format": "binary",
                             "description": "the split parts' boundaries by new code "
                                            "(GeoJSON, zipped Shapefile, GeoPackage)"},
                         "crs": {"type": "string", "enum": ["wgs84", "gcj02"]}},
                     "required": ["file"]}}}, "required": True}})
async def post_changes(request: Request, user: CurrentUser, session: SessionDep
                       ) -> ChangesOut:
    """Apply division changes: a change file (multipart ``file``) or JSON ``changes``.
    Checked whole, every problem named with its row; nothing is written on any."""
    require_change_rights(user, [])
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationError([Problem("file", "send the change file as 'file'",
                                           code="changes.file_missing")])
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"a change file is at most {MAX_FILE_BYTES // 2**20} MiB",
                                  code="changes.file_too_large")
        shapes = form.get("boundaries")
        boundaries = None
        if isinstance(shapes, UploadFile):
            shape_data = await shapes.read(MAX_FILE_BYTES + 1)
            if len(shape_data) > MAX_FILE_BYTES:
                raise PayloadTooLarge(f"a boundary file is at most "
                                      f"{MAX_FILE_BYTES // 2**20} MiB",
                                      code="changes.file_too_large")
            boundaries = (shape_data, shapes.filename or "boundaries.geojson")
        crs = str(form.get("crs") or "wgs84")
        changes = read_change_bytes(data, upload.filename or "changes.csv",
                                    boundaries=boundaries, crs=crs)
        require_change_rights(user, changes.events)
        return _out(apply_change_file(session, user, changes))
    try:
        body = ChangesIn.model_validate(json.loads(await request.body() or b"null"))
    except (ValueError, json.JSONDecodeError) as exc:
        problems = getattr(exc, "errors", None)
        named = [Problem("body", f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}",
                         code="changes.bad_body") for e in problems()] if callable(
            problems) else [Problem("body", "not JSON", code="changes.bad_body")]
        raise ValidationError(named) from None
    return _out(apply_division_changes(session, user, _events(body), source="api"))


@router.get("/hierarchy/changes", response_model=ChangeListOut)
def get_changes(session: SessionDep,
                division: Annotated[str, Query(pattern=r"^\d{2,12}$", description=(
                    "only changes touching codes that start with this"))] = "",
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> ChangeListOut:
    """The recorded division changes (public, like the rest of the hierarchy)."""
    prefix = code_prefix(division, level_of(division)) if len(division) == 12 else division
    total, rows = list_changes(session, prefix=prefix, limit=limit, offset=offset)
    return ChangeListOut(total=total, items=[ChangeOut(
        id=r.id, kind=r.kind, effective_on=r.effective_on, old_codes=json.loads(r.old_codes),
        new_codes=json.loads(r.new_codes),
        shares=json.loads(r.shares) if r.shares else None, recorded_by=r.recorded_by,
        recorded_at=r.recorded_at, source=r.source) for r in rows])
