"""Keeping the registry current over HTTP: JSON under ``/api/v1`` and the page ``/upkeep``.

Staff add and correct the facilities of their jurisdiction and record each year's
population of its communities and villages (:mod:`shequ.services.upkeep`); the reads
stay public like the rest of the registry.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from shequ.http.caller import CurrentUser, OptionalUser
from shequ.api.bookings import page_context
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.api.registry import ERRORS, FacilityOut
from shequ.errors import Problem, ValidationError
from shequ.ingest.coordinates import GCJ02, WGS84
from shequ.ingest.formats import FileFormat
from shequ.registry import queries
from shequ.registry.codes import code_prefix, normalise_code
from shequ.registry.models import (
    MAX_PERIOD,
    MIN_PERIOD,
    Certification,
    Facility,
    FacilityStatus,
    WorkforceRole,
)
from shequ.registry.rules import Table
from shequ.services import upkeep
from shequ.services.accounts import STAFF_ROLES, jurisdiction_prefix, require_role
from shequ.web.forms import back, errors_back_to, login_redirect
from shequ.web.templates import render

router = APIRouter(tags=["registry"], responses=ERRORS)
pages = APIRouter(include_in_schema=False)

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
             responses=WRITE_ERRORS)
def import_upload(table: Table, file: Annotated[UploadFile, File(description=(
                      "CSV (UTF-8), XLSX or GeoJSON with the export's columns"))],
                  user: CurrentUser, ctx: ContextDep, session: SessionDep,
                  crs: Crs = "wgs84") -> ImportOut:
    """Import a file as ``shequ import`` does: checked whole, every row inside the
    caller's jurisdiction (divisions: nationwide roles only), or nothing written."""
    report = upkeep.import_upload(session, ctx.catalog, user, table,
                                  filename=file.filename or "upload.csv", content=_read(file),
                                  crs=GCJ02 if crs == "gcj02" else WGS84)
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


# ---- the page ---------------------------------------------------------------------------------

@pages.get("/upkeep", response_class=HTMLResponse)
def upkeep_page(request: Request, ctx: ContextDep, session: SessionDep, user: OptionalUser,
                code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
                q: Annotated[str | None, Query(max_length=50)] = None) -> Response:
    """One community's facilities and population, for staff to keep current."""
    if user is None:
        return login_redirect(request)
    require_role(user, *STAFF_ROLES)
    prefix = jurisdiction_prefix(user) or ""
    communities = list(queries.communities_under(session, prefix, limit=1000,
                                                 text=(q or "").strip() or None))
    chosen = None
    if code:
        chosen = next((c for c in communities if c.code == code), None) or next(
            iter(queries.communities_under(session, prefix, text=code, limit=1)), None)
        if chosen is not None and chosen not in communities:
            communities.insert(0, chosen)
    if chosen is None and communities:
        chosen = communities[0]
    facilities = list(session.scalars(select(Facility).where(
        Facility.division_code == chosen.code).order_by(Facility.id))) if chosen else []
    years = upkeep.population_of(session, chosen.code) if chosen else []
    staffing = upkeep.workforce_of(session, chosen.code) if chosen else []
    staff_year = staffing[0].period if staffing else queries.today().year
    headcount = {(w.role, w.certification): w.headcount for w in staffing
                 if w.period == staff_year}
    types = sorted(ctx.catalog.facility_types.values(), key=lambda t: t.code)
    counts = [request.query_params.get(k, "") for k in ("rows", "inserted", "updated")]
    imported = dict(zip(("rows", "inserted", "updated"), map(int, counts), strict=True)) \
        if all(c.isdigit() for c in counts) else None
    return render(request, "upkeep.html", {
        **page_context(request, ctx, user), "communities": communities, "chosen": chosen,
        "q": q or "",
        "facilities": facilities, "years": years, "types": types,
        "type_names": {t.code: t for t in types}, "statuses": [s.value for s in FacilityStatus],
        "this_year": queries.today().year, "latest": years[0] if years else None,
        "roles": [r.value for r in WorkforceRole],
        "certifications": [c.value for c in Certification],
        "staff_year": staff_year, "headcount": headcount, "imported": imported,
        "completeness": upkeep.completeness(session, ctx.catalog, prefix)[:30],
        "download_scopes": [c for c in (chosen.code if chosen else None,
                                        user.jurisdiction_code) if c],
        "last_year": queries.today().year - 1,
        "import_tables": [Table.FACILITIES.value, Table.POPULATION.value,
                          Table.WORKFORCE.value]})


@pages.post("/upkeep/facilities/{facility_id}")
@errors_back_to("/upkeep?code={code}")
def update_facility_form(facility_id: IdPath, ctx: ContextDep,
                         session: SessionDep, user: CurrentUser, *,
                         code: Annotated[str, Form(pattern=r"^\d{12}$")],
                         name: Annotated[str, Form(max_length=200)],
                         status: Annotated[str, Form(max_length=24)],
                         floor_area_m2: Annotated[str, Form(max_length=20)] = "",
                         activity_area_m2: Annotated[str, Form(max_length=20)] = "",
                         capacity: Annotated[str, Form(max_length=20)] = "",
                         opening_hours: Annotated[str, Form(max_length=500)] = "",
                         phone: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Save one row of the facility table (an empty box clears that field)."""
    upkeep.update_facility(session, ctx.catalog, user, facility_id, {
        "name": name, "status": status, "floor_area_m2": floor_area_m2,
        "activity_area_m2": activity_area_m2, "capacity": capacity,
        "opening_hours": opening_hours, "phone": phone}, source="form")
    return back(f"/upkeep?code={code}", message="upkeep.facility_saved")


@pages.post("/upkeep/facilities")
@errors_back_to("/upkeep?code={code}")
def create_facility_form(ctx: ContextDep, session: SessionDep,
                         user: CurrentUser, *,
                         code: Annotated[str, Form(pattern=r"^\d{12}$")],
                         type_code: Annotated[str, Form(max_length=48)],
                         name: Annotated[str, Form(max_length=200)],
                         status: Annotated[str, Form(max_length=24)] = "",
                         address: Annotated[str, Form(max_length=300)] = "",
                         longitude: Annotated[str, Form(max_length=20)] = "",
                         latitude: Annotated[str, Form(max_length=20)] = "",
                         floor_area_m2: Annotated[str, Form(max_length=20)] = "",
                         activity_area_m2: Annotated[str, Form(max_length=20)] = "",
                         capacity: Annotated[str, Form(max_length=20)] = "",
                         opening_hours: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Add a facility to the chosen community from the page."""
    upkeep.create_facility(session, ctx.catalog, user, {
        "division_code": normalise_code(code), "type_code": type_code, "name": name,
        "status": status, "address": address, "longitude": longitude, "latitude": latitude,
        "floor_area_m2": floor_area_m2, "activity_area_m2": activity_area_m2,
        "capacity": capacity, "opening_hours": opening_hours}, source="form")
    return back(f"/upkeep?code={code}", message="upkeep.facility_added")


@pages.post("/upkeep/population")
@errors_back_to("/upkeep?code={code}")
def record_population_form(session: SessionDep, user: CurrentUser, *,
                           code: Annotated[str, Form(pattern=r"^\d{12}$")],
                           period: Annotated[int, Form(ge=MIN_PERIOD, le=MAX_PERIOD)],
                           residents: Annotated[str, Form(max_length=12)],
                           households: Annotated[str, Form(max_length=12)],
                           age_0_2: Annotated[str, Form(max_length=12)] = "",
                           age_3_5: Annotated[str, Form(max_length=12)] = "",
                           age_6_14: Annotated[str, Form(max_length=12)] = "",
                           age_60_plus: Annotated[str, Form(max_length=12)] = "",
                           age_80_plus: Annotated[str, Form(max_length=12)] = "",
                           disabled: Annotated[str, Form(max_length=12)] = "",
                           assisted_households: Annotated[str, Form(max_length=12)] = ""
                           ) -> Response:
    """Record a year's population from the page."""
    upkeep.record_population(session, user, code, period, {
        "residents": residents, "households": households, "age_0_2": age_0_2,
        "age_3_5": age_3_5, "age_6_14": age_6_14, "age_60_plus": age_60_plus,
        "age_80_plus": age_80_plus, "disabled": disabled,
        "assisted_households": assisted_households}, source="form")
    return back(f"/upkeep?code={code}", message="upkeep.population_saved")


@pages.post("/upkeep/workforce")
@errors_back_to("/upkeep?code={code}")
def record_workforce_form(session: SessionDep, user: CurrentUser, *,
                          code: Annotated[str, Form(pattern=r"^\d{12}$")],
                          period: Annotated[int, Form(ge=MIN_PERIOD, le=MAX_PERIOD)],
                          line: Annotated[list[str], Form(max_length=50)],
                          headcount: Annotated[list[str], Form(max_length=50)]) -> Response:
    """Record a year's staffing from the page's grid: ``line`` names each box's role and
    certification ("role/certification"), ``headcount`` holds the boxes in the same order."""
    if len(line) != len(headcount):
        raise ValidationError([Problem("form", f"{len(headcount)} headcounts for {len(line)} "
                                       "lines", column="headcount",
                                       hint="fill every box (0 for none)")])
    lines = []
    for key, value in zip(line, headcount, strict=True):
        role, _, certification = key.partition("/")
        if value.strip():
            lines.append({"role": role, "certification": certification, "headcount": value})
    upkeep.record_workforce(session, user, code, period, lines, source="form")
    return back(f"/upkeep?code={code}", message="upkeep.workforce_saved")


@pages.post("/upkeep/import")
@errors_back_to("/upkeep?code={code}")
def import_form(ctx: ContextDep, session: SessionDep, user: CurrentUser, *,
                code: Annotated[str, Form(pattern=r"^\d{12}$")],
                table: Annotated[Table, Form()],
                crs: Annotated[Literal["wgs84", "gcj02"], Form()] = "wgs84",
                file: Annotated[UploadFile, File()]) -> Response:
    """Import a file from the page; the report is shown as the message."""
    report = upkeep.import_upload(session, ctx.catalog, user, table,
                                  filename=file.filename or "upload.csv", content=_read(file),
                                  crs=GCJ02 if crs == "gcj02" else WGS84)
    return back(f"/upkeep?code={code}&rows={report.rows}&inserted={report.inserted}"
                f"&updated={report.updated}", message="upkeep.imported")
