"""The page ``/upkeep``: staff keep their communities' facilities, population and
workforce current, one community at a time, and import whole files.

Every form goes through the same services as the JSON API
(:mod:`shequ.services.upkeep`).  A form that fails is drawn again at once (422) with
what was typed and each problem beside its box, in the reader's language; a form that
worked comes back to the community with a message.
"""

from __future__ import annotations

import re
from typing import Annotated

import pydantic
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from shequ import i18n
from shequ.context import Context
from shequ.errors import AccessDenied, NotFoundError, Problem, ShequError, ValidationError
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.ingest.coordinates import GCJ02, WGS84
from shequ.ingest.tables import ImportReport
from shequ.registry import queries
from shequ.registry.models import (
    Certification,
    Division,
    Facility,
    FacilityStatus,
    WorkforceRole,
)
from shequ.registry.rules import Table
from shequ.services import offline, upkeep
from shequ.services.accounts import STAFF_ROLES, jurisdiction_prefix
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.page import Crumb, Page, SignedInPage, render
from shequ.web.plan_work import job_panel

router = APIRouter(include_in_schema=False)

CODE = re.compile(r"^\d{12}$")
# The boxes of a facility's row in the table, by the column each one sets.
ROW_FIELDS = ("name", "status", "floor_area_m2", "activity_area_m2", "capacity",
              "opening_hours", "phone")
ADD_FIELDS = ("type_code", "name", "status", "address", "longitude", "latitude",
              "floor_area_m2", "activity_area_m2", "capacity", "opening_hours")
POPULATION_FIELDS = ("residents", "households", "age_0_2", "age_3_5", "age_6_14",
                     "age_60_plus", "age_80_plus", "disabled", "assisted_households")
IMPORT_TABLES = (Table.FACILITIES, Table.POPULATION, Table.WORKFORCE)
# The import form's boxes, by the column a problem names.
IMPORT_FIELDS = {"table": "table", "crs": "crs", "file": "file"}


async def _form(request: Request) -> FormData:
    """The posted form (read once, off the handler's thread; the CSRF check reads it too).
    Handlers take it first, so that a body over the limits is refused (413) before
    anything else, as it is on the API."""
    return await request.form()


Posted = Annotated[FormData, Depends(_form)]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _code(form: FormData) -> str | None:
    code = _text(form, "code").strip()
    return code if CODE.match(code) else None


def _require_community(code: str | None) -> str:
    """The chosen community; a ValidationError naming its box when none is chosen."""
    if code is None:
        raise ValidationError([Problem("form", "no community chosen",
                                       column="division_code", code="required")])
    return code


def _period(form: FormData, name: str) -> int:
    """The year typed in ``name``; a ValidationError naming the box when it is none."""
    text = _text(form, name).strip()
    try:
        return int(text)
    except ValueError:
        raise ValidationError([Problem("form", f"{text!r} is not a year", column="period",
                                       code="required" if not text else "not_a_number",
                                       params={"value": text})]) from None


def row_id(facility_id: int, column: str) -> str:
    """The id of a box of a facility's row (its problems are ``<id>-error``)."""
    return f"f{facility_id}-{column}"


def _source_text(source: str | None, synthetic: bool, lang: str) -> str:
    """Where a year's figures came from, in the reader's words."""
    if synthetic:
        return i18n.translate(lang, "upkeep.synthetic")
    text = source or ""
    if text.startswith("edit: "):
        return i18n.translate(lang, "upkeep.source_edit", user=text.removeprefix("edit: "))
    if text.startswith("upload: "):
        name, _, user = text.removeprefix("upload: ").rpartition(" by ")
        return i18n.translate(lang, "upkeep.source_upload", file=name or user,
                              user=user if name else "")
    return i18n.translate(lang, "upkeep.source_other")


def _show(page: Page, ctx: Context, session: Session, code: str | None, q: str | None = None,
          *, forms: dict[str, FormState] | None = None, status_code: int = 200
          ) -> HTMLResponse:
    """The page for the community ``code`` (else the first of the jurisdiction)."""
    user = page.require(*STAFF_ROLES)
    prefix = jurisdiction_prefix(user) or ""
    communities = list(queries.communities_under(session, prefix, limit=1000,
                                                 text=(q or "").strip() or None))
    chosen: Division | None = None
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
    this_year = queries.today().year
    staff_year = staffing[0].period if staffing else this_year
    headcount = {(w.role, w.certification): w.headcount for w in staffing
                 if w.period == staff_year}
    types = sorted(ctx.catalog.facility_types.values(), key=lambda t: t.code)
    query = page.request.query_params
    counts = [query.get(k, "") for k in ("rows", "inserted", "updated")]
    imported = dict(zip(("rows", "inserted", "updated"), map(int, counts), strict=True)) \
        if all(c.isdigit() and len(c) < 10 for c in counts) else None
    job = job_panel(page, session)  # a large file's import job (?job=)
    if job is not None and job["status"] == "done" and "inserted" in job["result"]:
        imported = {k: int(job["result"][k]) for k in ("rows", "inserted", "updated")}
    forms = dict(forms or {})
    if job is not None and job["problems"] and "import" not in forms:
        # a large file refused row by row: its report drawn as a file imported at once is
        forms["import"] = failed(FormState(), ValidationError(job["problems"]), page.lang,
                                 fields=IMPORT_FIELDS)
    scopes: list[tuple[str, str]] = []
    for scope in (chosen, user.jurisdiction_code):
        if scope is None or any(s[0] == (scope if isinstance(scope, str) else scope.code)
                                for s in scopes):
            continue
        if isinstance(scope, str):
            try:
                name = queries.division(session, scope).name
            except ShequError:
                name = scope
            scopes.append((scope, name))
        else:
            scopes.append((scope.code, scope.name))
    return render(page, "upkeep.html", {
        "communities": communities, "chosen": chosen, "q": q or "",
        "facilities": facilities, "years": [
            (p, _source_text(p.source, p.synthetic, page.lang)) for p in years],
        "types": types, "type_names": {t.code: t for t in types},
        "statuses": [s.value for s in FacilityStatus],
        "this_year": this_year, "latest": years[0] if years else None,
        "roles": [r.value for r in WorkforceRole],
        "certifications": [c.value for c in Certification],
        "staff_year": staff_year, "headcount": headcount, "imported": imported, "job": job,
        "completeness": upkeep.completeness(session, ctx.catalog, prefix)[:30],
        "download_scopes": scopes, "last_year": this_year - 1,
        "import_tables": [t.value for t in IMPORT_TABLES], "states": forms,
        "type_options": [(t.code, t.name(page.lang)) for t in types],
        "status_options": [(s.value, page.t(f"upkeep.status_{s.value}"))
                           for s in FacilityStatus],
        "table_options": [(t.value, page.t(f"upkeep.table_{t.value}"))
                          for t in IMPORT_TABLES],
        "failed_rows": {int(k.removeprefix("edit-")): v for k, v in forms.items()
                        if k.startswith("edit-")},
        "row_id": row_id,
        "breadcrumbs": [Crumb(page.t("common.workbench"), "/work"),
                        Crumb(page.t("upkeep.title"), "/upkeep"),
                        *([Crumb(chosen.name)] if chosen else [])],
    }, status_code=status_code)


def _refused(exc: Exception) -> bool:
    """Whether ``exc`` is a refusal or an unknown record (the 403 or 404 page), not a
    problem of the form."""
    return isinstance(exc, AccessDenied | NotFoundError)


@router.get("/upkeep", response_class=HTMLResponse)
def upkeep_page(page: SignedInPage, ctx: ContextDep, session: SessionDep,
                code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
                q: Annotated[str | None, Query(max_length=50)] = None) -> HTMLResponse:
    """One community's facilities and population, for staff to keep current."""
    return _show(page, ctx, session, code, q)


@router.post("/upkeep/facilities/{facility_id}", response_class=HTMLResponse)
def update_facility_form(facility_id: IdPath, form: Posted, page: SignedInPage,
                         ctx: ContextDep, session: SessionDep) -> Response:
    """Save one row of the facility table (an empty box clears that field)."""
    user = page.require(*STAFF_ROLES)
    code = _code(form)
    state = typed(form)
    try:
        offline.check_seen(state.value("seen_version"), offline.facility_snapshot(
            queries.facility(session, facility_id)), entity="facility", entity_id=facility_id)
        facility = upkeep.update_facility(session, ctx.catalog, user, facility_id, {
            name: _text(form, name) for name in ROW_FIELDS}, source="form")
    except (ShequError, pydantic.ValidationError) as exc:
        if _refused(exc):
            raise
        state = failed(state, exc, page.lang, session=session,
                       fields={name: row_id(facility_id, name) for name in ROW_FIELDS})
        return _show(page, ctx, session, code, forms={f"edit-{facility_id}": state},
                     status_code=409 if getattr(exc, "kind", "") == "conflict" else 422)
    return back("/upkeep", code=code or facility.division_code,
                message="upkeep.facility_saved")


@router.post("/upkeep/facilities", response_class=HTMLResponse)
def create_facility_form(form: Posted, page: SignedInPage, ctx: ContextDep,
                         session: SessionDep) -> Response:
    """Add a facility to the chosen community from the page."""
    user = page.require(*STAFF_ROLES)
    code = _code(form)
    state = typed(form)
    try:
        _require_community(code)
        upkeep.create_facility(session, ctx.catalog, user, {
            "division_code": code, **{name: _text(form, name) for name in ADD_FIELDS}},
            source="form")
    except (ShequError, pydantic.ValidationError) as exc:
        if _refused(exc):
            raise
        state = failed(state, exc, page.lang, session=session,
                       fields={name: name for name in ADD_FIELDS})
        return _show(page, ctx, session, code, forms={"add": state}, status_code=422)
    return back("/upkeep", code=code, message="upkeep.facility_added")


@router.post("/upkeep/population", response_class=HTMLResponse)
def record_population_form(form: Posted, page: SignedInPage, ctx: ContextDep,
                           session: SessionDep) -> Response:
    """Record a year's population from the page."""
    user = page.require(*STAFF_ROLES)
    code = _code(form)
    state = typed(form)
    try:
        upkeep.record_population(session, user, _require_community(code),
                                 _period(form, "period"), {
            name: _text(form, name) for name in POPULATION_FIELDS}, source="form")
    except (ShequError, pydantic.ValidationError) as exc:
        if _refused(exc):
            raise
        state = failed(state, exc, page.lang, session=session,
                       fields={name: name for name in ("period", *POPULATION_FIELDS)})
        return _show(page, ctx, session, code, forms={"population": state},
                     status_code=422)
    return back("/upkeep", code=code, message="upkeep.population_saved")


def box_id(line: str) -> str:
    """The id of the workforce grid's box for ``line`` ("role/certification")."""
    role, _, certification = line.partition("/")
    return f"hc-{role}-{certification}"


def _grid_failed(state: FormState, exc: ShequError | pydantic.ValidationError, lang: str,
                 *, session: Session, lines: list[str], boxes: dict[int, str]
                 ) -> FormState:
    """The workforce form with each line's problem beside its box (named by role and
    certificate in the summary) and the year's beside the year."""
    if not isinstance(exc, ValidationError):
        return failed(state, exc, lang, session=session, fields={"period": "staff_period"})
    session.rollback()
    labels = {box_id(key): i18n.translate(
        lang, "upkeep.box", role=i18n.translate(lang, f"upkeep.role_{key.partition('/')[0]}"),
        certification=i18n.translate(lang, f"upkeep.cert_{key.partition('/')[2]}"))
        for key in lines}
    colon = i18n.translate(lang, "problems.colon")
    for problem in exc.problems:
        text = i18n.describe_problem(problem, lang)
        name = boxes.get(problem.row) if problem.row else (
            "staff_period" if problem.column == "period" else None)
        if name is not None:
            state.errors.setdefault(name, []).append(text)
            state.summary.append((name, f"{labels[name]}{colon}{text}" if name in labels
                                  else text))
        else:
            state.summary.append((None, text))
    return state


@router.post("/upkeep/workforce", response_class=HTMLResponse)
def record_workforce_form(form: Posted, page: SignedInPage, ctx: ContextDep,
                          session: SessionDep) -> Response:
    """Record a year's staffing from the page's grid: ``line`` names each box's role and
    certification ("role/certification"), ``headcount`` holds the boxes in the same
    order; an empty box records nobody."""
    user = page.require(*STAFF_ROLES)
    code = _code(form)
    state = typed(form)
    lines = [v for v in form.getlist("line") if isinstance(v, str)][:50]
    counts = [v for v in form.getlist("headcount") if isinstance(v, str)][:50]
    # Each line given to the service, by its number there (1, 2 …) → the grid's box.
    boxes: dict[int, str] = {}
    try:
        community = _require_community(code)
        period = _period(form, "staff_period")
        given = []
        for key, value in zip(lines, counts, strict=False):
            role, _, certification = key.partition("/")
            if value.strip():
                given.append({"role": role, "certification": certification,
                              "headcount": value})
                boxes[len(given)] = box_id(key)
        upkeep.record_workforce(session, user, community, period, given, source="form")
    except (ShequError, pydantic.ValidationError) as exc:
        if _refused(exc):
            raise
        state = _grid_failed(state, exc, page.lang, session=session, lines=lines,
                             boxes=boxes)
        return _show(page, ctx, session, code, forms={"workforce": state}, status_code=422)
    return back("/upkeep", code=code, message="upkeep.workforce_saved")


@router.post("/upkeep/import", response_class=HTMLResponse)
def import_form(form: Posted, page: SignedInPage, ctx: ContextDep,
                session: SessionDep) -> Response:
    """Import a file from the page; the report is shown with the message."""
    user = page.require(*STAFF_ROLES)
    code = _code(form)
    state = typed({"table": _text(form, "table"), "crs": _text(form, "crs")})
    upload = form.get("file")
    try:
        problems = []
        table = next((t for t in IMPORT_TABLES if t.value == _text(form, "table")), None)
        if table is None:
            problems.append(Problem("form", "choose a table", column="table",
                                    code="not_a_choice"))
        if _text(form, "crs") not in ("wgs84", "gcj02"):
            problems.append(Problem("form", "choose a coordinate system", column="crs",
                                    code="not_a_choice"))
        if not isinstance(upload, UploadFile) or not upload.filename:
            problems.append(Problem("form", "choose a file", column="file",
                                    code="required"))
        if problems or table is None or not isinstance(upload, UploadFile):
            raise ValidationError(problems)
        content = upload.file.read(upkeep.MAX_UPLOAD_BYTES + 1)
        report = upkeep.import_or_start(
            ctx, session, user, table, filename=upload.filename or "upload.csv",
            content=content, crs=GCJ02 if _text(form, "crs") == "gcj02" else WGS84)
    except (ShequError, pydantic.ValidationError) as exc:
        if _refused(exc):
            raise
        state = failed(state, exc, page.lang, session=session, fields=IMPORT_FIELDS)
        return _show(page, ctx, session, code, forms={"import": state}, status_code=422)
    if not isinstance(report, ImportReport):  # a large file: a job the page follows
        return back("/upkeep", code=code, job=report.id)
    return back("/upkeep", code=code, rows=report.rows, inserted=report.inserted,
                updated=report.updated, message="upkeep.imported")
