"""Venue booking over HTTP: JSON under ``/api/v1/bookings`` and the pages ``/bookings``.

Every route takes the caller from :mod:`shequ.http.caller` and leaves the access decision to
:mod:`shequ.services.accounts.policy` (``require_handler`` for approvals, resource set-up
and calendars; ``jurisdiction_prefix`` to filter lists); residents act on their own
bookings only.  This module also holds the few helpers the other part-2 routers share
(the caller's division, the jurisdiction shown, what every part-2 page needs); the forms'
redirects and error rule are :mod:`shequ.web.forms`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.http.caller import CurrentUser, OptionalUser, csrf_for
from shequ.http.deps import MAX_ID, ContextDep, IdPath, SessionDep
from shequ.errors import AccessDenied, NotFoundError, Problem, ValidationError
from shequ.registry.columns import CHINA_TZ
from shequ.registry.models import Facility
from shequ.services.accounts import (
    HANDLER_ROLES,
    Role,
    User,
    audit,
    jurisdiction_prefix,
    require_handler,
    require_role,
)
from shequ.services.accounts.models import Resident
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import (
    ACTIVE_BOOKING_STATUSES,
    BookableResource,
    BookerScope,
    Booking,
    BookingStatus,
)
from shequ.services.bookings.rules import BOOKABLE_FACILITY_TYPES, Booker
from shequ.web.forms import back, errors_back_to, login_redirect
from shequ.web.templates import render

router = APIRouter(tags=["bookings"])
pages = APIRouter(include_in_schema=False)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in"},
    403: {"description": "outside your role or jurisdiction"},
    404: {"description": "no such record"},
    409: {"description": "taken, or not allowed in this state"},
    422: {"description": "invalid input or a broken booking rule"}}
EARLIEST = dt.datetime(2000, 1, 1)  # noqa: DTZ001 (naive China Standard Time)
LATEST = dt.datetime(2100, 1, 1)  # noqa: DTZ001


# ---- helpers shared by the part-2 routers -------------------------------------------------

def acting_division(session: Session, user: User) -> str | None:
    """The caller's division: a resident's community, a staff member's jurisdiction."""
    if user.resident_id is not None:
        resident = session.get(Resident, user.resident_id)
        if resident is not None:
            return resident.division_code
    return user.jurisdiction_code


def visible_prefix(user: User | None) -> str:
    """The prefix of divisions whose staff lists ``user`` may see (residents: none)."""
    if user is None:
        raise AccessDenied("sign in first")
    prefix = jurisdiction_prefix(user)
    if prefix is None:
        raise AccessDenied(f"user {user.id} ({user.role}) has no jurisdiction to list")
    return prefix


def as_local(value: dt.datetime) -> dt.datetime:
    """A datetime as naive China Standard Time (aware input is converted)."""
    if value.tzinfo is not None:
        value = value.astimezone(CHINA_TZ).replace(tzinfo=None)
    return value.replace(microsecond=0)


def page_context(request: Request, ctx: ContextDep, user: User) -> dict[str, Any]:
    """What every part-2 page needs: the user, the CSRF token, the message or error."""
    return {"user": user, "csrf": csrf_for(request, ctx.settings.secret_key),
            "msg": request.query_params.get("msg"), "error": request.query_params.get("error"),
            "is_staff": Role(user.role) in HANDLER_ROLES}


def booker_of(session: Session, user: User) -> Booker:
    """The rules' view of the caller."""
    return Booker(user_id=user.id, role=user.role, division_code=acting_division(session, user))


# ---- schemas ---------------------------------------------------------------------------------

class ResourceIn(BaseModel):
    """A room or field of a facility to open for booking, with its rules."""

    facility_id: int = Field(ge=1, le=MAX_ID)
    name: str = Field(min_length=1, max_length=200)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    opening_hours: str | None = Field(default=None, max_length=500)
    slot_minutes: int = Field(default=60, ge=5, le=1440)
    approval_required: bool = True
    min_notice_minutes: int = Field(default=60, ge=0, le=100_000)
    max_advance_days: int = Field(default=30, ge=0, le=366)
    max_duration_minutes: int = Field(default=240, ge=5, le=1440 * 7)
    allowed_roles: list[Role] = Field(default=[Role.RESIDENT, Role.COMMUNITY_WORKER],
                                      min_length=1, max_length=8)
    booker_scope: BookerScope = BookerScope.TOWNSHIP
    allow_series: bool = False
    max_series_occurrences: int = Field(default=12, ge=1, le=104)


class ResourcePatch(BaseModel):
    """New values of some rules of a resource (fields left out keep their value)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    opening_hours: str | None = Field(default=None, max_length=500)
    slot_minutes: int | None = Field(default=None, ge=5, le=1440)
    approval_required: bool | None = None
    min_notice_minutes: int | None = Field(default=None, ge=0, le=100_000)
    max_advance_days: int | None = Field(default=None, ge=0, le=366)
    max_duration_minutes: int | None = Field(default=None, ge=5, le=1440 * 7)
    allowed_roles: list[Role] | None = Field(default=None, min_length=1, max_length=8)
    booker_scope: BookerScope | None = None
    allow_series: bool | None = None
    max_series_occurrences: int | None = Field(default=None, ge=1, le=104)
    active: bool | None = None


class ResourceOut(BaseModel):
    """A bookable resource and the facility it belongs to."""

    id: int
    facility_id: int
    facility_name: str
    division_code: str
    name: str
    capacity: int | None
    opening_hours: str | None
    slot_minutes: int
    approval_required: bool
    min_notice_minutes: int
    max_advance_days: int
    max_duration_minutes: int
    allowed_roles: list[str]
    booker_scope: str
    allow_series: bool


class SlotOut(BaseModel):
    """A slot of the grid and whether it is taken."""

    start: dt.datetime
    end: dt.datetime
    taken: bool


class BookingIn(BaseModel):
    """A booking request: whole slots of one resource (naive times are China time)."""

    resource_id: int = Field(ge=1, le=MAX_ID)
    starts_at: dt.datetime
    ends_at: dt.datetime
    purpose: str = Field(min_length=1, max_length=500)
    attendees: int = Field(default=1, ge=1, le=100_000)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _local(cls, value: dt.datetime) -> dt.datetime:
        local = as_local(value)
        if not EARLIEST <= local <= LATEST:
            raise ValueError("must be between 2000 and 2100")
        return local


class SeriesIn(BaseModel):
    """A weekly series: the first start, the length and how many weeks."""

    resource_id: int = Field(ge=1, le=MAX_ID)
    first_starts_at: dt.datetime
    duration_minutes: int = Field(ge=5, le=1440)
    occurrences: int = Field(ge=1, le=104)
    interval_weeks: int = Field(default=1, ge=1, le=52)
    purpose: str = Field(min_length=1, max_length=500)
    attendees: int = Field(default=1, ge=1, le=100_000)

    @field_validator("first_starts_at")
    @classmethod
    def _local(cls, value: dt.datetime) -> dt.datetime:
        local = as_local(value)
        if not EARLIEST <= local <= LATEST:
            raise ValueError("must be between 2000 and 2100")
        return local


class BookingOut(BaseModel):
    """A booking as its owner and the approving worker see it."""

    id: int
    resource_id: int
    resource_name: str
    facility_name: str
    series_id: int | None
    user_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    attendees: int
    purpose: str
    status: str
    decision_note: str | None


class DecisionIn(BaseModel):
    """A worker's note on an approval or rejection."""

    note: str | None = Field(default=None, max_length=500)


class UtilisationOut(BaseModel):
    """Booked over open hours of one facility in a period."""

    facility_id: int
    division_code: str
    type_code: str
    resources: int
    open_hours: float
    booked_hours: float
    utilisation: float | None


def _resource_out(res: BookableResource, facility: Facility) -> ResourceOut:
    return ResourceOut(
        id=res.id, facility_id=facility.id, facility_name=facility.name,
        division_code=facility.division_code, name=res.name, capacity=res.capacity,
        opening_hours=res.opening_hours or facility.opening_hours,
        slot_minutes=res.slot_minutes, approval_required=res.approval_required,
        min_notice_minutes=res.min_notice_minutes, max_advance_days=res.max_advance_days,
        max_duration_minutes=res.max_duration_minutes,
        allowed_roles=[r for r in res.allowed_roles.split(",") if r],
        booker_scope=res.booker_scope, allow_series=res.allow_series)


def _booking_out(session: Session, b: Booking) -> BookingOut:
    res = bs.resource(session, b.resource_id)
    facility = bs.resource_facility(session, res)
    return BookingOut(id=b.id, resource_id=res.id, resource_name=res.name,
                      facility_name=facility.name, series_id=b.series_id, user_id=b.user_id,
                      starts_at=b.starts_at, ends_at=b.ends_at, attendees=b.attendees,
                      purpose=b.purpose, status=b.status, decision_note=b.decision_note)


def _facility_of_booking(session: Session, b: Booking) -> Facility:
    return bs.resource_facility(session, bs.resource(session, b.resource_id))


def _owned_or_handled(session: Session, user: User, b: Booking) -> None:
    if b.user_id != user.id:
        require_handler(user, _facility_of_booking(session, b).division_code)


# ---- JSON API --------------------------------------------------------------------------------

@router.get("/bookings/resources", response_model=list[ResourceOut])
def list_resources(session: SessionDep,
                   division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
                   ) -> list[ResourceOut]:
    """Bookable rooms and fields (public), optionally under a division-code prefix."""
    return [_resource_out(r, f)
            for r, f in bs.resources_in(session, division_prefix=division or "")]


@router.post("/bookings/resources", response_model=ResourceOut, status_code=201,
             responses=ERRORS)
def create_resource(body: ResourceIn, user: CurrentUser, session: SessionDep) -> ResourceOut:
    """Open a room or field of a facility in your jurisdiction for booking."""
    facility = session.get(Facility, body.facility_id)
    if facility is None:
        raise NotFoundError(f"no facility with id {body.facility_id}")
    require_handler(user, facility.division_code)
    res = bs.create_resource(
        session, facility_id=body.facility_id, name=body.name, capacity=body.capacity,
        opening_hours=body.opening_hours, slot_minutes=body.slot_minutes,
        approval_required=body.approval_required, min_notice_minutes=body.min_notice_minutes,
        max_advance_days=body.max_advance_days, max_duration_minutes=body.max_duration_minutes,
        allowed_roles=[r.value for r in body.allowed_roles], booker_scope=body.booker_scope,
        allow_series=body.allow_series, max_series_occurrences=body.max_series_occurrences)
    audit(session, user=user, action="create", entity="booking_resource", entity_id=res.id)
    return _resource_out(res, facility)


@router.patch("/bookings/resources/{resource_id}", response_model=ResourceOut,
              responses=ERRORS)
def update_resource(resource_id: IdPath, body: ResourcePatch, user: CurrentUser,
                    session: SessionDep) -> ResourceOut:
    """Change the rules of a venue in your jurisdiction (``active: false`` closes it)."""
    res = bs.resource(session, resource_id)
    facility = bs.resource_facility(session, res)
    require_handler(user, facility.division_code)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items()
               if v is not None or k in ("capacity", "opening_hours")}
    if "allowed_roles" in changes:
        changes["allowed_roles"] = [Role(r).value for r in changes["allowed_roles"]]
    bs.update_resource(session, resource_id, **changes)
    audit(session, user=user, action="update", entity="booking_resource",
          entity_id=resource_id, detail={"changed": sorted(changes)})
    return _resource_out(res, facility)


@router.get("/bookings/resources/{resource_id}/slots", response_model=list[SlotOut],
            responses=ERRORS)
def resource_slots(resource_id: IdPath, session: SessionDep,
                   start: Annotated[dt.date | None, Query(alias="from")] = None,
                   days: Annotated[int, Query(ge=1, le=31)] = 7) -> list[SlotOut]:
    """The slots of ``days`` days from ``from`` (default today), free or taken (public)."""
    first = start or local_now().date()
    if not EARLIEST.date() <= first <= LATEST.date():
        first = local_now().date()
    a = dt.datetime.combine(first, dt.time())
    return [SlotOut(start=v.start, end=v.end, taken=v.taken)
            for v in bs.slot_views(session, resource_id, a, a + dt.timedelta(days=days))]


@router.post("/bookings", response_model=BookingOut, status_code=201, responses=ERRORS)
def create_booking(body: BookingIn, user: CurrentUser, session: SessionDep) -> BookingOut:
    """Book whole slots; 409 when a slot is taken (the database decides races)."""
    b = bs.book(session, resource_id=body.resource_id, booker=booker_of(session, user),
                starts_at=body.starts_at, ends_at=body.ends_at, purpose=body.purpose,
                attendees=body.attendees)
    audit(session, user=user, action="create", entity="booking", entity_id=b.id)
    return _booking_out(session, b)


@router.post("/bookings/series", response_model=list[BookingOut], status_code=201,
             responses=ERRORS)
def create_series(body: SeriesIn, user: CurrentUser, session: SessionDep) -> list[BookingOut]:
    """Book the same time every week(s) for a regular group; all or nothing."""
    series = bs.book_series(session, resource_id=body.resource_id,
                            booker=booker_of(session, user),
                            first_starts_at=body.first_starts_at,
                            duration_minutes=body.duration_minutes,
                            occurrences=body.occurrences, interval_weeks=body.interval_weeks,
                            purpose=body.purpose, attendees=body.attendees)
    audit(session, user=user, action="create", entity="booking_series", entity_id=series.id)
    return [_booking_out(session, b) for b, _, _ in bs.bookings_in(session, user_id=user.id)
            if b.series_id == series.id]


@router.get("/bookings/mine", response_model=list[BookingOut], responses=ERRORS)
def my_bookings(user: CurrentUser, session: SessionDep) -> list[BookingOut]:
    """Your bookings, every status, by start time."""
    return [_booking_out(session, b) for b, _, _ in bs.bookings_in(
        session, user_id=user.id, statuses=[s.value for s in BookingStatus])]


@router.get("/bookings/mine.ics", response_class=PlainTextResponse, responses=ERRORS)
def my_calendar(user: CurrentUser, session: SessionDep) -> Response:
    """Your bookings as an iCalendar (RFC 5545) file."""
    return Response(bs.export_ical(session, user_id=user.id), media_type="text/calendar",
                    headers={"Content-Disposition": 'attachment; filename="bookings.ics"'})


@router.get("/bookings/resources/{resource_id}/calendar.ics", response_class=PlainTextResponse,
            responses=ERRORS)
def resource_calendar(resource_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    """A resource's bookings as an iCalendar file (staff of its jurisdiction)."""
    res = bs.resource(session, resource_id)
    require_handler(user, bs.resource_facility(session, res).division_code)
    return Response(bs.export_ical(session, resource_id=resource_id), media_type="text/calendar")


@router.get("/bookings/pending", response_model=list[BookingOut], responses=ERRORS)
def pending_bookings(user: CurrentUser, session: SessionDep) -> list[BookingOut]:
    """Bookings waiting for approval in your jurisdiction."""
    require_role(user, *HANDLER_ROLES)
    return [_booking_out(session, b) for b, _, _ in bs.bookings_in(
        session, division_prefix=visible_prefix(user), statuses=[BookingStatus.PENDING.value])]


@router.get("/bookings/utilisation", response_model=list[UtilisationOut], responses=ERRORS)
def booking_utilisation(user: CurrentUser, session: SessionDep, start: dt.date, end: dt.date,
                        division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
                        ) -> list[UtilisationOut]:
    """Booked ÷ open hours per facility in ``[start, end)`` inside your jurisdiction."""
    prefix = visible_prefix(user)
    if division and division.startswith(prefix):
        prefix = division
    if not (EARLIEST.date() <= start < end <= LATEST.date() and (end - start).days <= 366):
        raise ValidationError([Problem("start", "the period is not start < end within one "
                                       "year between 2000 and 2100",
                                       hint="e.g. start=2026-01-01&end=2026-02-01")])
    table = bs.utilisation(session, start=dt.datetime.combine(start, dt.time()),
                           end=dt.datetime.combine(end, dt.time()), division_prefix=prefix)
    return [UtilisationOut(**{k: row[k] for k in UtilisationOut.model_fields})
            for row in table.to_dicts()]


@router.get("/bookings/{booking_id}", response_model=BookingOut, responses=ERRORS)
def get_booking(booking_id: IdPath, user: CurrentUser, session: SessionDep) -> BookingOut:
    """One booking (its owner, or staff of its jurisdiction)."""
    b = bs.booking(session, booking_id)
    _owned_or_handled(session, user, b)
    return _booking_out(session, b)


@router.post("/bookings/{booking_id}/approve", response_model=BookingOut, responses=ERRORS)
def approve_booking(booking_id: IdPath, body: DecisionIn, user: CurrentUser,
                    session: SessionDep) -> BookingOut:
    """Approve a pending booking of a venue in your jurisdiction."""
    return _decide(session, user, booking_id, approve=True, note=body.note)


@router.post("/bookings/{booking_id}/reject", response_model=BookingOut, responses=ERRORS)
def reject_booking(booking_id: IdPath, body: DecisionIn, user: CurrentUser,
                   session: SessionDep) -> BookingOut:
    """Reject a pending booking (its slots are freed)."""
    return _decide(session, user, booking_id, approve=False, note=body.note)


def _decide(session: Session, user: User, booking_id: int, *, approve: bool,
            note: str | None) -> BookingOut:
    """Approve or reject as a handler of the venue's jurisdiction, audited."""
    b = bs.booking(session, booking_id)
    require_handler(user, _facility_of_booking(session, b).division_code)
    bs.decide(session, booking_id, approve=approve, decided_by=user.id, note=note)
    audit(session, user=user, action="approve" if approve else "reject", entity="booking",
          entity_id=booking_id)
    return _booking_out(session, b)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut, responses=ERRORS)
def cancel_booking(booking_id: IdPath, user: CurrentUser, session: SessionDep) -> BookingOut:
    """Cancel your booking before it starts (staff: any in their jurisdiction)."""
    b = bs.booking(session, booking_id)
    _owned_or_handled(session, user, b)
    bs.cancel(session, booking_id)
    audit(session, user=user, action="cancel", entity="booking", entity_id=booking_id)
    return _booking_out(session, b)


# ---- pages -----------------------------------------------------------------------------------

@pages.get("/bookings", response_class=HTMLResponse)
def bookings_page(request: Request, ctx: ContextDep, session: SessionDep,
                  user: OptionalUser) -> Response:
    """Residents: venues to book and their own bookings."""
    if user is None:
        return login_redirect(request)
    division = acting_division(session, user) or ""
    # Venues near the resident first: those of their township, then the rest of the county.
    resources = bs.resources_in(session, division_prefix=division[:6])
    mine = bs.bookings_in(session, user_id=user.id, statuses=[s.value for s in BookingStatus])
    return render(request, "bookings.html", {
        **page_context(request, ctx, user), "resources": resources,
        "mine": mine, "active": ACTIVE_BOOKING_STATUSES})


@pages.get("/bookings/resources/{resource_id}", response_class=HTMLResponse)
def resource_page(request: Request, ctx: ContextDep, session: SessionDep, user: OptionalUser,
                  *, resource_id: IdPath,
                  day: Annotated[dt.date | None, Query()] = None) -> Response:
    """The slot grid of one venue for a week, with a booking form per free slot."""
    if user is None:
        return login_redirect(request)
    res = bs.resource(session, resource_id)
    facility = bs.resource_facility(session, res)
    first = day if day and EARLIEST.date() <= day <= LATEST.date() else local_now().date()
    start = dt.datetime.combine(first, dt.time())
    views = bs.slot_views(session, resource_id, start, start + dt.timedelta(days=7))
    by_day: dict[dt.date, list[bs.SlotView]] = {}
    for v in views:
        by_day.setdefault(v.start.date(), []).append(v)
    return render(request, "bookings_resource.html", {
        **page_context(request, ctx, user), "res": res, "facility": facility,
        "by_day": by_day, "first": first, "prev": first - dt.timedelta(days=7),
        "earliest": local_now() + dt.timedelta(minutes=res.min_notice_minutes),
        "next": first + dt.timedelta(days=7)})


@pages.post("/bookings/book")
@errors_back_to("/bookings/resources/{resource_id}")
def book_form(request: Request, session: SessionDep, user: CurrentUser, *,
              resource_id: Annotated[int, Form(ge=1, le=MAX_ID)],
              starts_at: Annotated[dt.datetime, Form()],
              slots: Annotated[int, Form(ge=1, le=48)] = 1,
              purpose: Annotated[str, Form(min_length=1, max_length=500)] = "活动",
              attendees: Annotated[int, Form(ge=1, le=100_000)] = 1,
              weeks: Annotated[int, Form(ge=1, le=104)] = 1) -> Response:
    """Book ``slots`` consecutive slots from ``starts_at``, for ``weeks`` weeks (the form)."""
    res = bs.resource(session, resource_id)
    start = as_local(starts_at)
    minutes = res.slot_minutes * slots
    if not EARLIEST <= start <= LATEST:
        raise ValidationError([Problem("starts_at", f"{start:%Y-%m-%d} is not between 2000 "
                                       "and 2100", hint="pick a day on the slot page")])
    booker = booker_of(session, user)
    if weeks > 1:
        series = bs.book_series(session, resource_id=resource_id, booker=booker,
                                first_starts_at=start, duration_minutes=minutes,
                                occurrences=weeks, purpose=purpose, attendees=attendees)
        entity, entity_id = "booking_series", series.id
    else:
        b = bs.book(session, resource_id=resource_id, booker=booker, starts_at=start,
                    ends_at=start + dt.timedelta(minutes=minutes), purpose=purpose,
                    attendees=attendees)
        entity, entity_id = "booking", b.id
    audit(session, user=user, action="create", entity=entity, entity_id=entity_id)
    return back("/bookings", message="resident_services.booked_pending" if res.approval_required
                else "resident_services.booked_approved")


@pages.post("/bookings/{booking_id}/cancel-form")
@errors_back_to("/bookings")
def cancel_form(session: SessionDep, user: CurrentUser, booking_id: IdPath) -> Response:
    """Cancel from the page."""
    b = bs.booking(session, booking_id)
    _owned_or_handled(session, user, b)
    bs.cancel(session, booking_id)
    audit(session, user=user, action="cancel", entity="booking", entity_id=booking_id)
    return back("/bookings", message="resident_services.cancelled")


@pages.get("/bookings/manage", response_class=HTMLResponse)
def manage_page(request: Request, ctx: ContextDep, session: SessionDep,
                user: OptionalUser) -> Response:
    """Community workers: bookings to approve and the venues of the jurisdiction."""
    if user is None:
        return login_redirect(request)
    require_role(user, *HANDLER_ROLES)
    prefix = visible_prefix(user)
    facilities = list(session.scalars(select(Facility).where(
        Facility.division_code.startswith(prefix),
        Facility.type_code.in_(sorted(BOOKABLE_FACILITY_TYPES))).order_by(Facility.name)))
    return render(request, "bookings_manage.html", {
        **page_context(request, ctx, user),
        "pending": bs.bookings_in(session, division_prefix=prefix,
                                  statuses=[BookingStatus.PENDING.value]),
        "upcoming": bs.bookings_in(session, division_prefix=prefix,
                                   statuses=[BookingStatus.APPROVED.value]),
        "resources": bs.resources_in(session, division_prefix=prefix),
        "facilities": facilities})


@pages.post("/bookings/{booking_id}/decide")
@errors_back_to("/bookings/manage")
def decide_form(session: SessionDep, user: CurrentUser, booking_id: IdPath,
                decision: Annotated[str, Form(pattern="^(approve|reject)$")],
                note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Approve or reject from the worker's page."""
    b = bs.booking(session, booking_id)
    require_handler(user, _facility_of_booking(session, b).division_code)
    bs.decide(session, booking_id, approve=decision == "approve", decided_by=user.id,
              note=note or None)
    audit(session, user=user, action=decision, entity="booking", entity_id=booking_id)
    return back("/bookings/manage", message=f"resident_services.{decision}d")


@pages.post("/bookings/resources-form")
@errors_back_to("/bookings/manage")
def resource_form(session: SessionDep, user: CurrentUser, *,
                  facility_id: Annotated[int, Form(ge=1, le=MAX_ID)],
                  name: Annotated[str, Form(min_length=1, max_length=200)],
                  capacity: Annotated[int | None, Form(ge=1, le=100_000)] = None,
                  slot_minutes: Annotated[int, Form(ge=5, le=1440)] = 60,
                  approval_required: Annotated[bool, Form()] = False,
                  allow_series: Annotated[bool, Form()] = False) -> Response:
    """Open a room of a facility for booking from the worker's page."""
    facility = session.get(Facility, facility_id)
    if facility is None:
        raise NotFoundError(f"no facility with id {facility_id}")
    require_handler(user, facility.division_code)
    res = bs.create_resource(session, facility_id=facility_id, name=name, capacity=capacity,
                             slot_minutes=slot_minutes, approval_required=approval_required,
                             allow_series=allow_series)
    audit(session, user=user, action="create", entity="booking_resource", entity_id=res.id)
    return back("/bookings/manage", message="resident_services.resource_created")
