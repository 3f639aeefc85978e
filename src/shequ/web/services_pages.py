"""Pages of the community services: find services near me (map and list, open now),
submit and follow a request, rate it when closed; the community worker's queue with
accept, assign, update and close.  Forms post with the session's CSRF token; the decisions
are made by :mod:`shequ.services.requests.service` and the access policy, as for the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.datastructures import FormData

from shequ.errors import NotFoundError, ShequError
from shequ.http.caller import OptionalUser, csrf_for
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.registry.models import Division, Facility
from shequ.services.accounts import HANDLER_ROLES, Role, User, can_handle
from shequ.services.requests import ServiceRequest, load_request_catalog
from shequ.services.requests import service as rs
from shequ.services.requests.open311 import attributes_of, w3c
from shequ.services.requests.workflow import TRANSITIONS, is_overdue, may_reopen
from shequ.web.forms import back as back_to
from shequ.web.forms import login_redirect
from shequ.web.templates import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, ctx: ContextDep, user: User | None, template: str,
          context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    page = {"user": user, "csrf": csrf_for(request, ctx.settings.secret_key),
            "is_handler": user is not None and Role(user.role) in HANDLER_ROLES}
    page.update(context)
    return render(request, template, page, status_code=status_code)


@router.get("/services", response_class=HTMLResponse)
def find(request: Request, *, ctx: ContextDep, session: SessionDep,
         user: OptionalUser,
         lat: float | None = None, lon: float | None = None) -> HTMLResponse:
    """Services near a point: a map without tiles and a list, optionally open now."""
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        center = session.execute(select(func.avg(Facility.latitude), func.avg(Facility.longitude))
                                 .where(Facility.latitude.is_not(None))).one()
        lat, lon = (float(center[0]), float(center[1])) if center[0] is not None else (
            39.9, 116.4)
    return _page(request, ctx, user, "services_find.html", {"lat": lat, "lon": lon})


def _kinds(ctx: ContextDep) -> list[Any]:
    return list(load_request_catalog(ctx.settings.catalog_dir).services.values())


@router.get("/services/requests/new", response_class=HTMLResponse)
def new_request(request: Request, *, ctx: ContextDep, session: SessionDep,
         user: OptionalUser,
                facility: int | None = None, lat: float | None = None,
                lon: float | None = None, kind: str | None = None) -> Response:
    """The form to ask for help (residents sign in first)."""
    if user is None:
        return login_redirect(request)
    place = session.get(Facility, facility) if facility else None
    return _page(request, ctx, user, "services_new.html", {
        "kinds": _kinds(ctx), "facility": place, "lat": lat if lat is not None else (
            place.latitude if place else None),
        "lon": lon if lon is not None else (place.longitude if place else None),
        "kind": kind or ("facility_complaint" if place else "public_repair"), "error": None})


async def _form(request: Request) -> FormData:
    """The posted form, read without blocking the event loop (Starlette keeps it for the
    CSRF check, which reads it too)."""
    return await request.form()


@router.post("/services/requests", response_class=HTMLResponse)
def submit_request(request: Request, ctx: ContextDep, session: SessionDep,
                   user: OptionalUser, form: Annotated[FormData, Depends(_form)]) -> Response:
    """Create the request from the form, then show it (in the thread pool: the database
    work and a retry's wait stay off the event loop)."""
    if user is None:
        return login_redirect(request)

    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def number(name: str) -> float | None:
        value = text(name)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    kind = text("service_code") or ""
    answers = {k[5:]: str(v) for k, v in form.multi_items()
               if k.startswith(f"attr.{kind}.")}
    answers = {k.removeprefix(f"{kind}."): v for k, v in answers.items()}
    facility = text("facility_id")
    try:
        draft = rs.RequestDraft(
            service_code=kind, description=text("description"), latitude=number("latitude"),
            longitude=number("longitude"), division_code=text("division_code"),
            facility_id=int(facility) if facility and facility.isdigit() else None,
            attributes=answers, contact_phone=text("contact_phone"),
            contact_name=user.display_name)
        result = rs.retry_when_busy(session, lambda: rs.submit_request(
            session, load_request_catalog(ctx.settings.catalog_dir),
            draft, submitter=user))
    except ShequError as exc:
        session.rollback()
        return _page(request, ctx, user, "services_new.html", {
            "kinds": _kinds(ctx), "facility": None, "lat": number("latitude"),
            "lon": number("longitude"), "kind": kind, "error": str(exc)}, status_code=400)
    duplicates = ",".join(str(r.id) for r in result.possible_duplicates[:5])
    suffix = f"?duplicates={duplicates}" if duplicates else ""
    return RedirectResponse(f"/services/requests/{result.request.id}{suffix}", status_code=303)


def _division_names(session: SessionDep, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(session.execute(select(Division.code, Division.name)
                                .where(Division.code.in_(sorted(codes)))).all())


def _view(request_row: ServiceRequest, user: User, names: dict[str, str],
          catalog: Any) -> dict[str, Any]:
    definition = catalog.service(request_row.service_code)
    return {"row": request_row, "definition": definition,
            "requested": w3c(request_row.requested_at), "deadline": w3c(request_row.deadline_at),
            "overdue": is_overdue(request_row.status, rs.aware(request_row.deadline_at),
                                  rs.utcnow()),
            "responsible": names.get(request_row.responsible_code,
                                     request_row.responsible_code),
            "answers": attributes_of(request_row),
            "mine": request_row.submitter_id == user.id,
            "can_handle": can_handle(user, request_row.responsible_code),
            "actions": [a for a, moves in TRANSITIONS.items()
                        if a != "reopen" and any(s.value == request_row.status for s in moves)]}


@router.get("/services/requests", response_class=HTMLResponse)
def my_requests(request: Request, ctx: ContextDep, session: SessionDep,
                user: OptionalUser) -> Response:
    """The signed-in user's own requests, newest first."""
    if user is None:
        return login_redirect(request)
    catalog = load_request_catalog(ctx.settings.catalog_dir)
    rows = session.scalars(select(ServiceRequest).where(ServiceRequest.submitter_id == user.id)
                           .order_by(ServiceRequest.id.desc()).limit(200)).all()
    names = _division_names(session, {r.responsible_code for r in rows})
    return _page(request, ctx, user, "services_list.html",
                 {"rows": [_view(r, user, names, catalog) for r in rows]})


@router.get("/services/requests/{request_id}", response_class=HTMLResponse)
def follow(request_id: IdPath, request: Request, *, ctx: ContextDep, session: SessionDep,
           user: OptionalUser, duplicates: str | None = None) -> Response:
    """One request: status, deadline, history; rating or reopening when closed."""
    if user is None:
        return login_redirect(request)
    catalog = load_request_catalog(ctx.settings.catalog_dir)
    try:
        row = rs.get_request(session, request_id)
        rs.require_view(user, row, catalog.service(row.service_code))
    except NotFoundError:
        return _page(request, ctx, user, "services_request.html", {"view": None},
                     status_code=404)
    names = _division_names(session, {row.responsible_code})
    view = _view(row, user, names, catalog)
    view["events"] = [(w3c(e.at), e) for e in rs.events(session, row)]
    view["phone"] = rs.contact_phone(row, user=user, session=session)
    view["may_reopen"] = view["mine"] and row.status == "closed" and may_reopen(
        rs.aware(row.closed_at) if row.closed_at else None, rs.utcnow(), catalog.reopen_days)
    dup_ids = [int(x) for x in (duplicates or "").split(",") if x.isdigit()]
    assignees = ([u for u in _workers(session) if can_handle(u, row.responsible_code)]
                 if view["can_handle"] else [])
    return _page(request, ctx, user, "services_request.html",
                 {"view": view, "duplicates": dup_ids, "assignees": assignees})


@router.post("/services/requests/{request_id}/act")
def act(request_id: IdPath, request: Request, *, ctx: ContextDep, session: SessionDep,
        user: OptionalUser, action: Annotated[str, Form(max_length=16)],
        note: Annotated[str | None, Form(max_length=2000)] = None,
        assignee_id: Annotated[str | None, Form()] = None,
        back: Annotated[str | None, Form()] = None) -> Response:
    """A workflow step from a form (the CSRF check runs through OptionalUser)."""
    if user is None:
        return login_redirect(request)
    catalog = load_request_catalog(ctx.settings.catalog_dir)
    target = "/services/queue" if back == "queue" else f"/services/requests/{request_id}"
    def work() -> None:
        row = rs.get_request(session, request_id)
        rs.require_view(user, row, catalog.service(row.service_code))
        rs.act(session, catalog, row, user=user, action=action, note=note or None,
               assignee_id=int(assignee_id) if assignee_id and assignee_id.isdigit() else None)
        session.flush()  # take the write lock inside the retry

    try:
        rs.retry_when_busy(session, work)
    except ShequError as exc:
        # Shown on the page the form came from; nothing was changed.
        session.rollback()
        return back_to(target, error=str(exc))
    return RedirectResponse(target, status_code=303)


@router.post("/services/requests/{request_id}/rate")
def rate(request_id: IdPath, request: Request, *, ctx: ContextDep, session: SessionDep,
         user: OptionalUser, rating: Annotated[int, Form(ge=1, le=5)],
         comment: Annotated[str | None, Form(max_length=500)] = None) -> Response:
    """The submitter's rating of a closed request."""
    if user is None:
        return login_redirect(request)
    def work() -> None:
        row = rs.get_request(session, request_id)
        rs.rate(session, row, user=user, rating=rating, comment=comment or None)
        session.flush()  # take the write lock inside the retry

    rs.retry_when_busy(session, work)
    return RedirectResponse(f"/services/requests/{request_id}", status_code=303)


@router.get("/services/queue", response_class=HTMLResponse)
def queue(request: Request, ctx: ContextDep, session: SessionDep,
          user: OptionalUser) -> Response:
    """The requests the worker answers for, earliest deadline first."""
    if user is None:
        return login_redirect(request)
    catalog = load_request_catalog(ctx.settings.catalog_dir)
    if Role(user.role) not in HANDLER_ROLES:
        return _page(request, ctx, user, "services_queue.html", {"rows": None},
                     status_code=403)
    rows = session.scalars(rs.queue_query(user).limit(500)).all()
    names = _division_names(session, {r.responsible_code for r in rows})
    workers = _workers(session)
    views = []
    for row in rows:
        view = _view(row, user, names, catalog)
        view["assignees"] = [u for u in workers if can_handle(u, row.responsible_code)]
        views.append(view)
    return _page(request, ctx, user, "services_queue.html", {"rows": views})


def _workers(session: SessionDep) -> list[User]:
    """Active community workers and street officers (who may be assigned requests)."""
    return list(session.scalars(select(User).where(
        User.role.in_([Role.COMMUNITY_WORKER.value, Role.STREET_OFFICER.value]),
        User.active.is_(True)).order_by(User.id)))
