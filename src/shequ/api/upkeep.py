"""Keeping the registry current over HTTP: JSON under ``/api/v1`` (the page ``/upkeep`` is
:mod:`shequ.web.upkeep`'s).

Staff add and correct the facilities of their jurisdiction and record each year's
population of its communities and villages (:mod:`shequ.services.upkeep`); the reads
stay public like the rest of the registry.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, File, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from shequ.api.registry import ERRORS, FacilityOut
from shequ.http.caller import CurrentUser
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.ingest.coordinates import GCJ02, WGS84
from shequ.ingest.formats import FileFormat
from shequ.registry import queries
from shequ.registry.codes import code_prefix
from shequ.registry.models import (
    MAX_PERIOD,
    MIN_PERIOD,
    Certification,
    FacilityStatus,
    WorkforceRole,
)
from shequ.registry.rules import Table
from shequ.services import upkeep

router = APIRouter(tags=["registry"], responses=ERRORS)

CodePath = Annotated[str, Path(pattern=r"^\d{12}$", description="12-digit division code")]
Year = Annotated[int, Path(ge=MIN_PERIOD, le=MAX_PERIOD,
                               description="the year the figures are for")]
Area = Annotated[float | None, Field(default=None, ge=0, le=1e7, description="m²")]


class FacilityFields(BaseModel):
    """The fields of a facility an editor may set; a null in a PATCH clears the field."""

    model_config = ConfigDict(extra="forbid")

    external_id: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=300)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    floor_area_m2: Area = None
    activity_area_m2: Area = None
    capacity: int | None = Field(default=None, ge=0, le=10_000_000)
    opening_hours: str | None = Field(default=None, max_length=500,
                                      description="OpenStreetMap opening_hours syntax")
    status: FacilityStatus | None = None
    planned_on: dt.date | None = None
    construction_started_on: dt.date | None = None
    accepted_on: dt.date | None = None
    opened_on: dt.date | None = None
    closed_on: dt.date | None = None
    investment_cny: float | None = Field(default=None, ge=0, le=1e13)
    funding_source: str | None = Field(default=None, max_length=32)
    operator_kind: str | None = Field(default=None, max_length=32)
    operator_name: str | None = Field(default=None, max_length=200)
    space_for_services: bool | None = None
    phone: str | None = Field(default=None, max_length=40)


class FacilityIn(FacilityFields):
    """A new facility: its type, division and name are required."""

    type_code: str = Field(min_length=1, max_length=48)
    division_code: str = Field(pattern=r"^\d{12}$")
    name: str = Field(min_length=1, max_length=200)


class FacilityPatch(FacilityFields):
    """Some fields of a facility; the ones left out keep their value."""

    type_code: str | None = Field(default=None, min_length=1, max_length=48)
    division_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    name: str | None = Field(default=None, min_length=1, max_length=200)


Count = Annotated[int | None, Field(default=None, ge=0, le=100_000_000)]


class PopulationIn(BaseModel):
    """One year's figures of a community or village; figures left out keep their value
    (zero for a new year)."""

    model_config = ConfigDict(extra="forbid")

    residents: int = Field(ge=0, le=100_000_000)
    households: int = Field(ge=0, le=100_000_000)
    age_0_2: Count = None
    age_3_5: Count = None
    age_6_14: Count = None
    age_60_plus: Count = None
    age_80_plus: Count = None
    disabled: Count = None
    assisted_households: Count = None


class PopulationOut(BaseModel):
    """One year's population of a community or village, as stored."""

    model_config = ConfigDict(from_attributes=True)

    division_code: str
    period: int
    residents: int
    households: int
    age_0_2: int
    age_3_5: int
    age_6_14: int
    age_60_plus: int
    age_80_plus: int
    disabled: int
    assisted_households: int
    synthetic: bool
    source: str


class WorkforceLine(BaseModel):
    """How many people of one role and certification work in the division."""

    model_config = ConfigDict(extra="forbid")

    role: WorkforceRole
    certification: Certification = Certification.NONE
    headcount: int = Field(ge=0, le=1_000_000)


class WorkforceOut(WorkforceLine):
    """One recorded line of a division's staffing in a year."""

    model_config = ConfigDict(from_attributes=True)

    division_code: str
    period: int
    synthetic: bool
    source: str


WRITE_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Not signed in"},
    403: {"description": "Not staff, or outside the editor's jurisdiction"},
}


@router.post("/facilities", response_model=FacilityOut, status_code=201,
             responses=WRITE_ERRORS)
def create_facility(body: FacilityIn, user: CurrentUser, ctx: ContextDep,
                    session: SessionDep) -> FacilityOut:
    """Add a facility inside the caller's jurisdiction."""
    facility = upkeep.create_facility(session, ctx.catalog, user,
                                      body.model_dump(exclude_none=True))
    return FacilityOut.model_validate(facility)


@router.patch("/facilities/{facility_id}", response_model=FacilityOut,
              responses=WRITE_ERRORS)
def update_facility(facility_id: IdPath, body: FacilityPatch, user: CurrentUser,
                    ctx: ContextDep, session: SessionDep) -> FacilityOut:
    """Change some fields of a facility inside the caller's jurisdiction."""
    facility = upkeep.update_facility(session, ctx.catalog, user, facility_id,
                                      body.model_dump(exclude_unset=True))
    return FacilityOut.model_validate(facility)


@router.get("/divisions/{code}/population", response_model=list[PopulationOut])
def population(code: CodePath, session: SessionDep) -> list[PopulationOut]:
    """The recorded years of a community or village, latest first."""
    unit = queries.division(session, code)
    return [PopulationOut.model_validate(p) for p in upkeep.population_of(session, unit.code)]


@router.put("/divisions/{code}/population/{period}", response_model=PopulationOut,
            responses=WRITE_ERRORS)
def record_population(code: CodePath, period: Year, body: PopulationIn, user: CurrentUser,
                      session: SessionDep) -> PopulationOut:
    """Record or correct one year's population of a community or village."""
    record = upkeep.record_population(session, user, code, period,
                                      body.model_dump(exclude_none=True))
    return PopulationOut.model_validate(record)


@router.get("/divisions/{code}/workforce", response_model=list[WorkforceOut])
def workforce(code: CodePath, session: SessionDep) -> list[WorkforceOut]:
    """The recorded staffing of a division, latest year first."""
    unit = queries.division(session, code)
    return [WorkforceOut.model_validate(w) for w in upkeep.workforce_of(session, unit.code)]


@router.put("/divisions/{code}/workforce/{period}", response_model=list[WorkforceOut],
            responses=WRITE_ERRORS)
def record_workforce(code: CodePath, period: Year,
                     body: Annotated[list[WorkforceLine], Body(max_length=50)],
                     user: CurrentUser, session: SessionDep) -> list[WorkforceOut]:
    """Replace one year's staffing of a division (lines left out are no longer recorded)."""
    records = upkeep.record_workforce(session, user, code, period,
                                      [line.model_dump() for line in body])
    return [WorkforceOut.model_validate(w) for w in records]


class ImportOut(BaseModel):
    """What an upload wrote."""

    table: Table
    rows: int
    inserted: int
    updated: int
    versioned: int


Crs = Annotated[Literal["wgs84", "gcj02"], Query(
    description="coordinate system of the file's longitude/latitude; gcj02 is converted")]


def _read(upload: UploadFile) -> bytes:
    # One byte past the limit is enough for the service to say the file is too large.
    return upload.file.read(upkeep.MAX_UPLOAD_BYTES + 1)


@router.post("/imports/{table}", response_model=ImportOut, status_code=201,
             responses={**WRITE_ERRORS, 202: {
                 "description": "a file of more than 5,000 rows: the import job started "
                                "(as GET /api/v1/jobs/{id} serves it; its result is the "
                                "report)"}})
def import_upload(table: Table, file: Annotated[UploadFile, File(description=(
                      "CSV (UTF-8), XLSX or GeoJSON with the export's columns"))],
                  user: CurrentUser, ctx: ContextDep, session: SessionDep,
                  crs: Crs = "wgs84") -> ImportOut | JSONResponse:
    """Import a file as ``shequ import`` does: checked whole, every row inside the
    caller's jurisdiction (divisions: nationwide roles only), or nothing written.  A
    file of more than 5,000 rows is imported as a job (202 and the job)."""
    from shequ.ingest.tables import ImportReport
    from shequ.services.jobs.service import job_json

    report = upkeep.import_or_start(ctx, session, user, table,
                                    filename=file.filename or "upload.csv",
                                    content=_read(file), crs=GCJ02 if crs == "gcj02" else WGS84)
    if not isinstance(report, ImportReport):
        return JSONResponse(job_json(report), status_code=202)
    return ImportOut(table=report.table, rows=report.rows, inserted=report.inserted,
                     updated=report.updated, versioned=report.versioned)


class CompletenessOut(BaseModel):
    """What a community's records lack for the indicators (see the page's table)."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    population_year: int | None
    workforce_year: int | None
    facilities: int = Field(description="facilities in service (or accepted)")
    without_floor_area: int
    without_location: int
    without_hours: int
    gaps: int


@router.get("/divisions/{code}/completeness", response_model=list[CompletenessOut])
def completeness(code: CodePath, ctx: ContextDep, session: SessionDep,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[CompletenessOut]:
    """The communities and villages under a division, those whose records lack most first."""
    unit = queries.division(session, code)
    return [CompletenessOut.model_validate(c) for c in
            upkeep.completeness(session, ctx.catalog,
                                                 code_prefix(unit.code, unit.level))[:limit]]


@router.get("/exports/{table}", response_class=Response, responses={
    200: {"description": "the file, as an attachment",
          "content": {media: {} for media in upkeep.MEDIA_TYPES.values()}}})
def export(table: Table, session: SessionDep,
           division: Annotated[str, Query(pattern=r"^\d{12}$", description=(
               "division code: its whole subtree"))],
           fmt: Annotated[FileFormat, Query(alias="format", description=(
               "csv, xlsx or geojson"))] = FileFormat.CSV) -> Response:
    """A registry table under a division as CSV, XLSX or GeoJSON, with the import's
    columns: download, correct, upload again (``POST /imports/{table}``)."""
    name, content = upkeep.export_download(session, table, division, fmt)
    return Response(content, media_type=upkeep.MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}"'})
