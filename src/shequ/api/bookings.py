"""Venue booking over HTTP: JSON under ``/api/v1/bookings`` (the pages are
:mod:`shequ.web.bookings`).

Each route calls one use case of :mod:`shequ.services.bookings.service`, which checks the
caller's role and jurisdiction (handlers for approvals, venue set-up and calendars;
residents on their own bookings only), acts and writes the audit row.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from shequ.http.caller import CurrentUser
from shequ.http.deps import MAX_ID, IdPath, SessionDep, one_trip
from shequ.registry.models import Facility
from shequ.services.accounts import Role
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import as_local, local_now
from shequ.services.bookings.models import (
    BookableResource,
    BookerScope,
    Booking,
    BookingStatus,
)
from shequ.services.bookings.service import EARLIEST, LATEST

router = APIRouter(tags=["bookings"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in"},
    403: {"description": "outside your role or jurisdiction"},
    404: {"description": "no such record"},
    409: {"description": "taken, or not allowed in this state"},
    422: {"description": "invalid input or a broken booking rule"}}


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
    res = bs.open_resource(
        session, user, facility_id=body.facility_id, name=body.name, capacity=body.capacity,
        opening_hours=body.opening_hours, slot_minutes=body.slot_minutes,
        approval_required=body.approval_required, min_notice_minutes=body.min_notice_minutes,
        max_advance_days=body.max_advance_days, max_duration_minutes=body.max_duration_minutes,
        allowed_roles=[r.value for r in body.allowed_roles], booker_scope=body.booker_scope,
        allow_series=body.allow_series, max_series_occurrences=body.max_series_occurrences)
    return _resource_out(res, bs.resource_facility(session, res))


@router.patch("/bookings/resources/{resource_id}", response_model=ResourceOut,
              responses=ERRORS)
def update_resource(resource_id: IdPath, body: ResourcePatch, user: CurrentUser,
                    session: SessionDep) -> ResourceOut:
    """Change the rules of a venue in your jurisdiction (``active: false`` closes it)."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items()
               if v is not None or k in ("capacity", "opening_hours")}
    if "allowed_roles" in changes:
        changes["allowed_roles"] = [Role(r).value for r in changes["allowed_roles"]]
    res = bs.change_resource(session, user, resource_id, changes)
    return _resource_out(res, bs.resource_facility(session, res))


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
@one_trip
def create_booking(body: BookingIn, user: CurrentUser, session: SessionDep) -> BookingOut:
    """Book whole slots; 409 when a slot is taken (the database decides races)."""
    b = bs.book_as(session, user, resource_id=body.resource_id, starts_at=body.starts_at,
                   ends_at=body.ends_at, purpose=body.purpose, attendees=body.attendees)
    return _booking_out(session, b)


@router.post("/bookings/series", response_model=list[BookingOut], status_code=201,
             responses=ERRORS)
def create_series(body: SeriesIn, user: CurrentUser, session: SessionDep) -> list[BookingOut]:
    """Book the same time every week(s) for a regular group; all or nothing."""
    series = bs.book_series_as(session, user, resource_id=body.resource_id,
                               first_starts_at=body.first_starts_at,
                               duration_minutes=body.duration_minutes,
                               occurrences=body.occurrences,
                               interval_weeks=body.interval_weeks, purpose=body.purpose,
                               attendees=body.attendees)
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
    return Response(bs.resource_calendar(session, user, resource_id),
                    media_type="text/calendar")


@router.get("/bookings/pending", response_model=list[BookingOut], responses=ERRORS)
def pending_bookings(user: CurrentUser, session: SessionDep) -> list[BookingOut]:
    """Bookings waiting for approval in your jurisdiction."""
    return [_booking_out(session, b) for b, _, _ in bs.pending_for(session, user)]


@router.get("/bookings/utilisation", response_model=list[UtilisationOut], responses=ERRORS)
def booking_utilisation(user: CurrentUser, session: SessionDep, start: dt.date, end: dt.date,
                        division: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None
                        ) -> list[UtilisationOut]:
    """Booked ÷ open hours per facility in ``[start, end)`` inside your jurisdiction."""
    table = bs.utilisation_for(session, user, start=start, end=end, division=division)
    return [UtilisationOut(**{k: row[k] for k in UtilisationOut.model_fields})
            for row in table.to_dicts()]


@router.get("/bookings/{booking_id}", response_model=BookingOut, responses=ERRORS)
def get_booking(booking_id: IdPath, user: CurrentUser, session: SessionDep) -> BookingOut:
    """One booking (its owner, or staff of its jurisdiction)."""
    return _booking_out(session, bs.booking_for(session, user, booking_id))


@router.post("/bookings/{booking_id}/approve", response_model=BookingOut, responses=ERRORS)
def approve_booking(booking_id: IdPath, body: DecisionIn, user: CurrentUser,
                    session: SessionDep) -> BookingOut:
    """Approve a pending booking of a venue in your jurisdiction."""
    return _booking_out(session, bs.decide_as(session, user, booking_id, approve=True,
                                              note=body.note))


@router.post("/bookings/{booking_id}/reject", response_model=BookingOut, responses=ERRORS)
def reject_booking(booking_id: IdPath, body: DecisionIn, user: CurrentUser,
                   session: SessionDep) -> BookingOut:
    """Reject a pending booking (its slots are freed)."""
    return _booking_out(session, bs.decide_as(session, user, booking_id, approve=False,
                                              note=body.note))


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut, responses=ERRORS)
def cancel_booking(booking_id: IdPath, user: CurrentUser, session: SessionDep) -> BookingOut:
    """Cancel your booking before it starts (staff: any in their jurisdiction)."""
    return _booking_out(session, bs.cancel_as(session, user, booking_id))
