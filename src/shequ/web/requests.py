"""Reporting a problem and following it: the report form (a pin on the map, the reader's
location or a facility; photos; who will handle it and by when, before sending), the
reader's own requests, one request with its photos and history, the rating once closed;
and the community worker's queue with accept, assign, update and close.

The decisions are the services' own (:mod:`shequ.services.requests.service`, the photo
rules of :mod:`shequ.services.requests.media`), as for the JSON API and Open311.  A form
that fails is drawn again with what was typed and each problem beside its field
(:mod:`shequ.web.forms`); one that works redirects with a message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Annotated

import pydantic
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from shequ.context import Context
from shequ.errors import AccessDenied, NotFoundError, Problem, ShequError, ValidationError
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.http.urls import photo_url
from shequ.registry.models import Division, Facility
from shequ.services import offline
from shequ.services.accounts import HANDLER_ROLES, Role, User, can_handle
from shequ.services.directory import ServiceFilter
from shequ.services.directory.search import services_by_distance
from shequ.services.requests import ServiceRequest, load_request_catalog, media
from shequ.services.requests import service as rs
from shequ.services.requests.definitions import RequestCatalog, ServiceDefinition
from shequ.services.requests.handling import describe_handling
from shequ.services.requests.open311 import attributes_of
from shequ.services.requests.workflow import TRANSITIONS, is_overdue, may_reopen
from shequ.web.directory import directory_centre
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)

PHOTO_FIELD = "photos"
# The facilities the report form offers to choose from: the nearest to its point.
NEAR_FACILITIES = 10
# History events the catalog names (services.event_<action>).
EVENT_ACTIONS = frozenset({"submit", "accept", "assign", "start", "update", "resolve",
                           "close", "reopen", "rate", "escalate"})


def _catalog(ctx: Context) -> RequestCatalog:
    return load_request_catalog(ctx.settings.catalog_dir)


def _crumbs(page: Page, *more: Crumb) -> list[Crumb]:
    return [Crumb(page.t("common.home"), "/"), Crumb(page.t("services.nav"), "/services"),
            *more]


# ---- reporting ---------------------------------------------------------------------------


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _facility_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) < 2**31 else None


def _nearby(session: Session, lat: float | None, lon: float | None,
            chosen: Facility | None) -> list[Facility]:
    """The facilities the form offers: the chosen one, then those nearest the point."""
    found: list[Facility] = [chosen] if chosen is not None else []
    if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
        hits, _ = services_by_distance(session, ServiceFilter(), longitude=lon, latitude=lat,
                                       per_page=NEAR_FACILITIES)
        found.extend(h.facility for h in hits
                     if chosen is None or h.facility.id != chosen.id)
    return found


def _handling_lines(page: Page, session: Session, catalog: RequestCatalog, kind: str, *,
                    facility_id: int | None, lat: float | None,
                    lon: float | None) -> list[str]:
    """Who will handle the request as placed now, and by when (empty until placed)."""
    if kind not in catalog.services or (facility_id is None and (lat is None or lon is None)):
        return []
    try:
        handling = rs.handling_for(session, catalog, kind, facility_id=facility_id,
                                   longitude=lon, latitude=lat)
    except ShequError:
        return []  # the form's own check names the problem when it is sent
    return describe_handling(handling, catalog, page.lang)


def _report_form(page: Page, ctx: Context, session: Session, *, form: FormState | None,
                 kind: str, facility_id: int | None, lat: float | None, lon: float | None,
                 photos_sent: bool = False, status_code: int = 200) -> HTMLResponse:
    catalog = _catalog(ctx)
    chosen = session.get(Facility, facility_id) if facility_id is not None else None
    if chosen is not None and (lat is None or lon is None):
        lat, lon = chosen.latitude, chosen.longitude
    centre = (lat, lon) if lat is not None and lon is not None else directory_centre(session)
    placed_by_pin = form.value("latitude") != "" if form is not None else (
        chosen is None and lat is not None)
    return render(page, "requests_new.html", {
        "form": form, "kinds": list(catalog.services.values()), "kind": kind,
        "chosen": chosen, "facilities": _nearby(session, lat, lon, chosen),
        "lat": lat if placed_by_pin else None, "lon": lon if placed_by_pin else None,
        "map": {"centre": list(centre), "pin": [lat, lon] if placed_by_pin else None},
        "handling": _handling_lines(page, session, catalog, kind,
                                    facility_id=chosen.id if chosen is not None else None,
                                    lat=lat, lon=lon),
        "photos_sent": photos_sent, "max_photos": media.MAX_PHOTOS_PER_REQUEST,
        "max_megabytes": f"{ctx.settings.max_photo_bytes / (1 << 20):g}",
        "breadcrumbs": _crumbs(page, Crumb(page.t("services.new_request")))},
        status_code=status_code)


@router.get("/services/requests/new", response_class=HTMLResponse)
def new_request(page: SignedInPage, ctx: ContextDep, session: SessionDep, *,
                facility: int | None = None, lat: float | None = None,
                lon: float | None = None, kind: str | None = None) -> HTMLResponse:
    """The form to report a problem (residents sign in first)."""
    catalog = _catalog(ctx)
    chosen = facility if facility is not None and 0 < facility < 2**31 else None
    if chosen is not None and session.get(Facility, chosen) is None:
        raise NotFoundError(f"no facility with id {chosen}", code="services.facility_not_found",
                            params={"id": chosen})
    if kind not in catalog.services:
        kind = "facility_complaint" if chosen is not None and (
            "facility_complaint" in catalog.services) else next(iter(catalog.services))
    assert kind is not None
    ok = (lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180)
    return _report_form(page, ctx, session, form=None, kind=kind, facility_id=chosen,
                        lat=lat if ok else None, lon=lon if ok else None)


async def _posted(request: Request) -> tuple[FormData, list[media.PhotoUpload]]:
    """The posted form and its photos, read without blocking the event loop (Starlette
    keeps the form for the CSRF check, which reads it too).  A photo is read one byte
    past the limit: enough for it to be refused as too large."""
    ctx: Context = request.app.state.ctx
    form = await request.form()
    limit = ctx.settings.max_photo_bytes + 1
    photos = []
    for item in form.getlist(PHOTO_FIELD):
        if isinstance(item, UploadFile) and (item.filename or item.size):
            content = await item.read(limit)
            if content or item.filename:
                photos.append(media.PhotoUpload(content=content, filename=item.filename,
                                                content_type=item.content_type))
    return form, photos


Posted = Annotated[tuple[FormData, list[media.PhotoUpload]], Depends(_posted)]


def _named_answers(exc: ValidationError, definition: ServiceDefinition | None,
                   lang: str) -> ValidationError:
    """``exc`` with each question's problem naming the question as the form shows it."""
    if definition is None:
        return exc
    names = {a.code: a.description(lang) for a in definition.attributes}
    problems = [dataclasses.replace(p, params={**p.params, "field": names[p.column]})
                if p.column in names else p for p in exc.problems]
    return ValidationError(problems, summary=str(exc).split("\n", 1)[0], code=exc.code,
                           params=exc.params)


def _fields(definition: ServiceDefinition | None) -> dict[str, str]:
    """Problem columns → the form's field names."""
    fields = {"photo": PHOTO_FIELD, "location": "location", "latitude": "location",
              "longitude": "location", "description": "description",
              "service_code": "service_code", "contact_phone": "contact_phone",
              "phone": "contact_phone"}
    if definition is not None:
        fields.update({a.code: f"attr.{definition.code}.{a.code}"
                       for a in definition.attributes})
    return fields


@router.post("/services/requests", response_class=HTMLResponse)
def submit_request(page: SignedInPage, ctx: ContextDep, session: SessionDep,
                   posted: Posted) -> Response:
    """Store the request and its photos, then show it (in the thread pool: the photos'
    checks, the database work and a retry's wait stay off the event loop)."""
    user = page.require()
    form, uploads = posted
    state = typed(form)
    catalog = _catalog(ctx)

    def text(name: str) -> str | None:
        value = state.value(name).strip()
        return value or None

    kind = text("service_code") or ""
    definition = catalog.services.get(kind)
    lat, lon = _number(text("latitude")), _number(text("longitude"))
    facility_id = _facility_id(text("facility_id"))
    store = media.PhotoStore.of(ctx.settings)
    try:
        problems: list[Problem] = []
        prepared: list[media.PreparedPhoto] = []
        if definition is None:
            catalog.service(kind)  # names the unknown kind
        assert definition is not None
        answers = {name.removeprefix(f"attr.{kind}."): value
                   for name, value in state.values.items() if name.startswith(f"attr.{kind}.")}
        try:
            definition.check_answers(answers)
        except ValidationError as exc:
            problems.extend(exc.problems)
        if uploads:
            try:
                prepared = media.prepare_photos(uploads, max_bytes=store.max_bytes)
            except ValidationError as exc:
                problems.extend(exc.problems)
        for name, value in (("latitude", text("latitude")), ("longitude", text("longitude"))):
            if value is not None and _number(value) is None:
                problems.append(Problem(name, f"{value!r} is not a number", column="location",
                                        code="not_a_number", params={"value": value}))
        if (lat is None or lon is None) and facility_id is None:
            problems.append(Problem("location", "a request needs a place on the map or a "
                                    "facility", column="location", code="services.no_location"))
        if problems:
            raise ValidationError(problems, summary="request rejected")
        draft = rs.RequestDraft(
            service_code=kind, description=text("description"), latitude=lat, longitude=lon,
            facility_id=facility_id, attributes=answers, contact_phone=text("contact_phone"),
            contact_name=user.display_name)

        def work() -> rs.StoredRequest:
            stored = rs.store_request(session, catalog, draft, submitter=user)
            if prepared:
                media.add_photos(session, store, stored.id, prepared, created_by=user)
            return stored

        result = rs.retry_when_busy(session, work)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        if isinstance(exc, ValidationError):
            exc = _named_answers(exc, definition, page.lang)
        state = failed(state, exc, page.lang, fields=_fields(definition), session=session)
        return _report_form(page, ctx, session, form=state,
                            kind=kind if definition is not None else next(iter(
                                catalog.services)),
                            facility_id=facility_id, lat=lat, lon=lon,
                            photos_sent=bool(uploads), status_code=422)
    duplicates = ",".join(str(i) for i in result.duplicate_ids[:5]) or None
    return back(f"/services/requests/{result.id}", message="services.submitted_message",
                duplicates=duplicates)


# ---- following ---------------------------------------------------------------------------


def _division_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {str(code): str(name) for code, name in session.execute(
        select(Division.code, Division.name).where(Division.code.in_(sorted(codes)))).all()}


@dataclasses.dataclass
class Shown:
    """A request as its pages show it."""

    row: ServiceRequest
    definition: ServiceDefinition
    overdue: bool
    responsible: str
    answers: dict[str, str]
    mine: bool
    can_handle: bool
    actions: list[str]
    photos: list[dict[str, str]]
    assignees: list[User] = dataclasses.field(default_factory=list)


def _photos(request: Request, session: Session, ids: Sequence[int]
            ) -> dict[int, list[dict[str, str]]]:
    return {rid: [{"url": photo_url(request, p.token),
                   "thumbnail": photo_url(request, p.token, thumbnail=True)} for p in found]
            for rid, found in media.photos_of(session, list(ids)).items()}


def _shown(rows: Sequence[ServiceRequest], user: User, page: Page, session: Session,
           catalog: RequestCatalog) -> list[Shown]:
    names = _division_names(session, {r.responsible_code for r in rows})
    photos = _photos(page.request, session, [r.id for r in rows])
    now = rs.utcnow()
    return [Shown(
        row=r, definition=catalog.service(r.service_code),
        overdue=is_overdue(r.status, rs.aware(r.deadline_at), now),
        responsible=names.get(r.responsible_code, r.responsible_code),
        answers=attributes_of(r), mine=r.submitter_id == user.id,
        can_handle=can_handle(user, r.responsible_code),
        actions=[a for a, moves in TRANSITIONS.items()
                 if a != "reopen" and any(s.value == r.status for s in moves)],
        photos=photos.get(r.id, []))
        for r in rows if r.service_code in catalog.services]


@router.get("/services/requests", response_class=HTMLResponse)
def my_requests(page: SignedInPage, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """The signed-in user's own requests, newest first."""
    user = page.require()
    rows = session.scalars(select(ServiceRequest).where(ServiceRequest.submitter_id == user.id)
                           .order_by(ServiceRequest.id.desc()).limit(200)).all()
    return render(page, "requests_list.html", {
        "rows": _shown(rows, user, page, session, _catalog(ctx)),
        "breadcrumbs": _crumbs(page, Crumb(page.t("services.my_requests")))})


def _workers(session: Session) -> list[User]:
    """Active community workers and street officers (who may be assigned requests)."""
    return list(session.scalars(select(User).where(
        User.role.in_([Role.COMMUNITY_WORKER.value, Role.STREET_OFFICER.value]),
        User.active.is_(True)).order_by(User.id)))


def _event_note(action: str, note: str | None, names: Mapping[str, str]) -> str:
    """An event's note; an escalation's "from → to" codes as the divisions' names."""
    if action == "escalate" and note and " → " in note:
        before, after = note.split(" → ", 1)
        return f"{names.get(before, before)} → {names.get(after, after)}"
    return note or ""


def _request_page(page: Page, ctx: Context, session: Session, request_id: int, *,
                  duplicates: str | None = None, form: FormState | None = None,
                  status_code: int = 200) -> HTMLResponse:
    user = page.require()
    catalog = _catalog(ctx)
    row = rs.get_request(session, request_id)
    rs.require_view(user, row, catalog.service(row.service_code))
    shown = _shown([row], user, page, session, catalog)[0]
    history = list(rs.events(session, row))
    escalations = {c for e in history if e.action == "escalate" and e.note
                   for c in e.note.split(" → ")}
    names = _division_names(session, escalations)
    events = [{"at": e.at, "action": e.action, "known": e.action in EVENT_ACTIONS,
               "status": e.to_status, "note": _event_note(e.action, e.note, names)}
              for e in history]
    if shown.can_handle:
        shown.assignees = [u for u in _workers(session) if can_handle(u, row.responsible_code)]
    closed_at = rs.aware(row.closed_at) if row.closed_at else None
    return render(page, "requests_request.html", {
        "view": shown, "events": events, "form": form,
        "phone": rs.contact_phone(row, user=user, session=session),
        "description": rs.whole_description(row, user=user, session=session),
        "may_reopen": shown.mine and row.status == "closed" and may_reopen(
            closed_at, rs.utcnow(), catalog.reopen_days),
        "duplicates": [int(x) for x in (duplicates or "").split(",") if x.isdigit()][:5],
        "breadcrumbs": _crumbs(page, Crumb(page.t("services.request_number", id=row.id)))},
        status_code=status_code)


@router.get("/services/requests/{request_id}", response_class=HTMLResponse)
def follow(request_id: IdPath, page: SignedInPage, ctx: ContextDep, session: SessionDep,
           duplicates: str | None = None) -> HTMLResponse:
    """One request: status, office, time limit, photos, history; rating or reopening
    when closed; the handler's actions."""
    return _request_page(page, ctx, session, request_id,
                         duplicates=(duplicates or "")[:100])


def _queue_page(page: Page, ctx: Context, session: Session, *, form: FormState | None = None,
                status_code: int = 200) -> HTMLResponse:
    user = page.require(*HANDLER_ROLES)
    catalog = _catalog(ctx)
    rows = session.scalars(rs.queue_query(user).limit(500)).all()
    shown = _shown(rows, user, page, session, catalog)
    workers = _workers(session)
    for item in shown:
        item.assignees = [u for u in workers if can_handle(u, item.row.responsible_code)]
    return render(page, "requests_queue.html", {
        "rows": shown, "form": form,
        "breadcrumbs": _crumbs(page, Crumb(page.t("services.queue")))},
        status_code=status_code)


@router.get("/services/queue", response_class=HTMLResponse)
def queue(page: SignedInPage, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """The requests the worker answers for, earliest deadline first."""
    return _queue_page(page, ctx, session)


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


@router.post("/services/requests/{request_id}/act", response_class=HTMLResponse)
def act(request_id: IdPath, page: SignedInPage, ctx: ContextDep, session: SessionDep,
        posted: FormDep) -> Response:
    """A workflow step from the request page or the queue."""
    user = page.require()
    state = typed(posted)
    catalog = _catalog(ctx)
    action = state.value("action")[:16]
    note = state.value("note").strip()[:2000] or None
    assignee = state.value("assignee_id")
    from_queue = state.value("back") == "queue"

    def work() -> None:
        row = rs.get_request(session, request_id)
        rs.require_view(user, row, catalog.service(row.service_code))
        offline.check_seen(state.value("seen_version"), offline.request_snapshot(row),
                           entity="request", entity_id=row.id)
        rs.act(session, catalog, row, user=user, action=action, note=note,
               assignee_id=int(assignee) if assignee.isdigit() and len(assignee) < 10
               else None)
        session.flush()  # take the write lock inside the retry

    try:
        rs.retry_when_busy(session, work)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        state = failed(state, exc, page.lang, fields={"assignee_id": "assignee_id"},
                       session=session)
        status = 409 if getattr(exc, "kind", "") == "conflict" else 422
        if from_queue:
            return _queue_page(page, ctx, session, form=state, status_code=status)
        return _request_page(page, ctx, session, request_id, form=state, status_code=status)
    if from_queue:
        return back("/services/queue", message="services.saved")
    return back(f"/services/requests/{request_id}", message="services.saved")


@router.post("/services/requests/{request_id}/rate", response_class=HTMLResponse)
def rate(request_id: IdPath, page: SignedInPage, ctx: ContextDep, session: SessionDep,
         posted: FormDep) -> Response:
    """The submitter's rating of a closed request."""
    user = page.require()
    state = typed(posted)
    value = state.value("rating")
    comment = state.value("comment").strip()[:500] or None

    def work() -> None:
        row = rs.get_request(session, request_id)
        if not value.isdigit() or len(value) > 2:
            raise ValidationError([Problem("rating", f"{value!r} is not 1–5", column="rating",
                                           code="out_of_range",
                                           params={"low": 1, "high": 5, "value": value})])
        rs.rate(session, row, user=user, rating=int(value), comment=comment)
        session.flush()  # take the write lock inside the retry

    try:
        rs.retry_when_busy(session, work)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        state = failed(state, exc, page.lang, fields={"rating": "rating"}, session=session)
        return _request_page(page, ctx, session, request_id, form=state,
                             status_code=409 if getattr(exc, "kind", "") == "conflict"
                             else 422)
    return back(f"/services/requests/{request_id}", message="services.thanks")

