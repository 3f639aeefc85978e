"""The venue-booking pages: a resident's venues and bookings, a venue's week of slots with
the booking form, and the handler's approvals and venues.

Each form calls the same use case of :mod:`shequ.services.bookings.service` as the API
(permission, act, audit).  A form that fails is drawn again with what was typed and each
problem beside its field (:mod:`shequ.web.forms`); one that works goes back with a message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, get_origin

import pydantic
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import FormData

from shequ import i18n
from shequ.errors import AccessDenied, ConflictError, NotFoundError, ShequError
from shequ.http.deps import MAX_ID, IdPath, SessionDep
from shequ.services.accounts import HANDLER_ROLES
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import as_aware, local_now
from shequ.services.bookings.models import (
    ACTIVE_BOOKING_STATUSES,
    BookableResource,
    BookingStatus,
)
from shequ.services.bookings.rules import allowed_roles
from shequ.services.bookings.service import EARLIEST, LATEST
from shequ.services.bookings.slots import weekly_hours
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)


async def posted_form(request: Request) -> FormData:
    """The posted form, read without blocking the event loop (Starlette keeps it for the
    CSRF check, which reads it too)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], state: FormState) -> M:
    """``state``'s values as ``model`` (an empty optional field takes its default, a list
    field takes every value given); pydantic's ValidationError names each wrong field."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is list:
            values[name] = [v for v in state.multi.get(name, []) if v.strip()]
        elif name in state.values and (state.values[name].strip() or info.is_required()):
            values[name] = state.values[name].strip()
    return model.model_validate(values)


def problem_status(exc: ShequError | pydantic.ValidationError) -> int:
    """The status of a form drawn again: 409 for a state that forbids it, else 422."""
    return 409 if isinstance(exc, ConflictError) else 422


def local_formats(page: Page) -> dict[str, Any]:
    """Formats of the naive China Standard Time the services keep (the layout's
    ``datetime`` and ``date`` read a naive value as UTC)."""
    def when(value: dt.datetime | None, form: str = "short") -> str:
        return i18n.datetime_text(as_aware(value) if value else None, page.lang, form=form)

    def clock(value: dt.datetime) -> str:
        return f"{value:%H:%M}"

    return {"when": when, "clock": clock}


def hours_text(page: Page, expression: str | None, week_of: dt.date) -> str:
    """Opening hours as the notice board says them (``周一至周五 08:30–17:30``)."""
    if not expression:
        return page.t("resident_services.hours_unknown")
    try:
        runs = weekly_hours(expression, week_of)
    except ShequError:
        return page.t("resident_services.hours_unknown")
    if not runs:
        return page.t("resident_services.closed_week")
    parts = []
    for run in runs:
        days = page.t(f"resident_services.weekday_{run.first}")
        if run.last != run.first:
            days = page.t("resident_services.day_range", first=days,
                          last=page.t(f"resident_services.weekday_{run.last}"))
        times = page.t("resident_services.list_separator").join(f"{a}–{b}" for a, b in run.times)
        parts.append(f"{days} {times}")
    return page.t("resident_services.run_separator").join(parts)


def who_may_book(page: Page, res: BookableResource) -> str:
    """The venue's roles and booker scope in the reader's words."""
    separator = page.t("resident_services.list_separator")
    roles = separator.join(page.t(f"common.role_{role}") for role in allowed_roles(res))
    return page.t("resident_services.who_may_book", roles=roles,
                  scope=page.t(f"resident_services.scope_{res.booker_scope}"))


def _crumbs(page: Page, *tail: Crumb) -> list[Crumb]:
    return [Crumb(page.t("common.home"), "/"),
            Crumb(page.t("resident_services.bookings"), "/bookings"), *tail]


# ---- the resident's pages --------------------------------------------------------------------

def _bookings_page(page: Page, session: SessionDep, form: FormState | None = None, *,
                   status_code: int = 200) -> HTMLResponse:
    user = page.require()
    today = local_now().date()
    venues = [(res, facility, hours_text(page, res.opening_hours or facility.opening_hours,
                                         today))
              for res, facility in bs.venues_near(session, user)]
    mine = bs.bookings_in(session, user_id=user.id, statuses=[s.value for s in BookingStatus])
    return render(page, "bookings.html", {
        "venues": venues, "mine": mine, "active": ACTIVE_BOOKING_STATUSES, "form": form,
        "now": local_now(), **local_formats(page),
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("resident_services.bookings"))]},
        status_code=status_code)


@router.get("/bookings", response_class=HTMLResponse)
def bookings_page(page: SignedInPage, session: SessionDep) -> HTMLResponse:
    """Residents: venues to book (their county's first) and their own bookings."""
    return _bookings_page(page, session)


def _resource_page(page: Page, session: SessionDep, resource_id: int, day: dt.date | None,
                   form: FormState | None = None, *, status_code: int = 200) -> HTMLResponse:
    page.require()
    res = bs.resource(session, resource_id)
    facility = bs.resource_facility(session, res)
    today = local_now().date()
    first = day if day and EARLIEST.date() <= day <= LATEST.date() else today
    start = dt.datetime.combine(first, dt.time())
    try:
        views = bs.slot_views(session, resource_id, start, start + dt.timedelta(days=7))
    except ShequError:  # the venue has no usable opening hours: no slots to offer
        views = []
    by_day: dict[dt.date, list[bs.SlotView]] = {}
    for v in views:
        by_day.setdefault(v.start.date(), []).append(v)
    return render(page, "bookings_resource.html", {
        "res": res, "facility": facility, "by_day": by_day, "first": first,
        "prev": first - dt.timedelta(days=7), "next": first + dt.timedelta(days=7),
        "earliest": local_now() + dt.timedelta(minutes=res.min_notice_minutes),
        "hours": hours_text(page, res.opening_hours or facility.opening_hours, first),
        "who": who_may_book(page, res),
        "form": form, **local_formats(page),
        "breadcrumbs": _crumbs(page, Crumb(f"{facility.name} · {res.name}"))},
        status_code=status_code)


@router.get("/bookings/resources/{resource_id}", response_class=HTMLResponse)
def resource_page(page: SignedInPage, session: SessionDep, resource_id: IdPath,
                  day: Annotated[dt.date | None, Query()] = None) -> HTMLResponse:
    """The slots of one venue for a week, each free one a button of the booking form."""
    return _resource_page(page, session, resource_id, day)


class BookForm(BaseModel):
    """The slot grid's form: the slot pressed, how many slots, weeks, purpose, people."""

    resource_id: int = Field(ge=1, le=MAX_ID)
    starts_at: dt.datetime
    slots: int = Field(default=1, ge=1, le=48)
    purpose: str = Field(min_length=1, max_length=500)
    attendees: int = Field(default=1, ge=1, le=100_000)
    weeks: int = Field(default=1, ge=1, le=104)


# Problems of the booking rules name columns; the slot grid's fields are these.
BOOK_FIELDS: Mapping[str, str] = {"ends_at": "slots", "occurrences": "weeks",
                                  "interval_weeks": "weeks"}


@router.post("/bookings/book", response_class=HTMLResponse)
def book_form(page: SignedInPage, session: SessionDep, posted: PostedForm) -> Response:
    """Book from the slot grid: ``slots`` slots from the one pressed, for ``weeks`` weeks."""
    user = page.require()
    state = typed(posted)
    resource_id = state.values.get("resource_id", "")
    if not resource_id.isdigit() or not 1 <= int(resource_id) <= MAX_ID:
        raise NotFoundError(f"no bookable resource with id {resource_id!r}",
                            code="bookings.no_resource", params={"id": resource_id})
    try:
        body = parse(BookForm, state)
        res = bs.resource(session, body.resource_id)
        bs.book_slots(session, user, resource_id=body.resource_id,
                             starts_at=body.starts_at, slots=body.slots, weeks=body.weeks,
                             purpose=body.purpose, attendees=body.attendees)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        form = failed(state, exc, page.lang, fields=BOOK_FIELDS, session=session)
        return _resource_page(page, session, int(resource_id), _day_of(state), form,
                              status_code=problem_status(exc))
    return back("/bookings", message="resident_services.booked_pending"
                if res.approval_required else "resident_services.booked_approved")


def _day_of(state: FormState) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(state.values.get("starts_at", "")).date()
    except ValueError:
        return None


@router.post("/bookings/{booking_id}/cancel-form", response_class=HTMLResponse)
def cancel_form(page: SignedInPage, session: SessionDep, booking_id: IdPath,
                posted: PostedForm) -> Response:
    """Cancel a booking from the resident's page (or a handler's)."""
    user = page.require()
    try:
        bs.cancel_as(session, user, booking_id)
    except ConflictError as exc:
        form = failed(typed(posted), exc, page.lang, session=session)
        return _bookings_page(page, session, form, status_code=409)
    return back("/bookings", message="resident_services.cancelled")


# ---- the handler's page ----------------------------------------------------------------------

def _manage_page(page: Page, session: SessionDep, form: FormState | None = None, *,
                 decided_id: int | None = None, resource_form: FormState | None = None,
                 status_code: int = 200) -> HTMLResponse:
    """``form``: the decision on booking ``decided_id`` that failed (its problems above
    the lists and its note as typed); ``resource_form``: the venue form that failed."""
    user = page.require(*HANDLER_ROLES)
    desk = bs.desk(session, user)
    return render(page, "bookings_manage.html", {
        "desk": desk, "form": form, "decided_id": decided_id, "resource_form": resource_form,
        "facility_options": [(f.id, f.name) for f in desk.facilities], **local_formats(page),
        "who": {res.id: who_may_book(page, res) for res, _ in desk.resources},
        "breadcrumbs": _crumbs(page, Crumb(page.t("resident_services.approvals")))},
        status_code=status_code)


@router.get("/bookings/manage", response_class=HTMLResponse)
def manage_page(page: SignedInPage, session: SessionDep) -> HTMLResponse:
    """Handlers: bookings to approve, approved bookings and venues of the jurisdiction."""
    return _manage_page(page, session)


class DecisionForm(BaseModel):
    """A handler's decision on one booking."""

    decision: str = Field(pattern="^(approve|reject)$")
    note: str | None = Field(default=None, max_length=500)


@router.post("/bookings/{booking_id}/decide", response_class=HTMLResponse)
def decide_form(page: SignedInPage, session: SessionDep, booking_id: IdPath,
                posted: PostedForm) -> Response:
    """Approve or reject from the handler's page."""
    user = page.require(*HANDLER_ROLES)
    state = typed(posted)
    try:
        body = parse(DecisionForm, state)
        bs.decide_as(session, user, booking_id, approve=body.decision == "approve",
                     note=body.note)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        form = failed(state, exc, page.lang, session=session)
        return _manage_page(page, session, form, decided_id=booking_id,
                            status_code=problem_status(exc))
    return back("/bookings/manage", message=f"resident_services.{body.decision}d")


class ResourceForm(BaseModel):
    """The handler's form opening a room of a facility for booking."""

    facility_id: int = Field(ge=1, le=MAX_ID)
    name: str = Field(min_length=1, max_length=200)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    slot_minutes: int = Field(default=60, ge=5, le=1440)
    approval_required: bool = False
    allow_series: bool = False


@router.post("/bookings/resources-form", response_class=HTMLResponse)
def resource_form(page: SignedInPage, session: SessionDep, posted: PostedForm) -> Response:
    """Open a room of a facility for booking from the handler's page."""
    user = page.require(*HANDLER_ROLES)
    state = typed(posted)
    try:
        body = parse(ResourceForm, state)
        bs.open_resource(session, user, facility_id=body.facility_id, name=body.name,
                         capacity=body.capacity, slot_minutes=body.slot_minutes,
                         approval_required=body.approval_required,
                         allow_series=body.allow_series)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        form = failed(state, exc, page.lang, session=session)
        return _manage_page(page, session, resource_form=form,
                            status_code=problem_status(exc))
    return back("/bookings/manage", message="resident_services.resource_created")
