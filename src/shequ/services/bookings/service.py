"""Venue booking on the registry: resources, booking, approval, cancellation, series,
reminders, iCalendar export and utilisation.

The database decides who gets a slot: :func:`book` inserts one ``booking_slot`` row per
slot, whose primary key ``(resource_id, slot_start)`` admits one active booking.  When
two residents race for a slot, the loser's insert fails with an integrity error, its
transaction is rolled back and :class:`~shequ.errors.ConflictError` is raised.  Because
the rollback ends the caller's transaction, a booking is the last write of a unit of
work (the API commits one booking per request).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, ConflictError, NotFoundError, Problem, ValidationError
from shequ.registry.codes import LEVEL_DIGITS
from shequ.registry.models import Facility, FacilityStatus
from shequ.services.accounts import HANDLER_ROLES, User, audit, require_handler, require_role
from shequ.services.accounts.acting import acting_division, visible_prefix
from shequ.services.bookings.clock import as_local, local_now
from shequ.services.bookings.ical import EVENT_STATUS, CalendarEvent, calendar
from shequ.services.bookings.models import (
    ACTIVE_BOOKING_STATUSES,
    BookableResource,
    BookerScope,
    Booking,
    BookingSeries,
    BookingSlot,
    BookingStatus,
)
from shequ.services.bookings.rules import BOOKABLE_FACILITY_TYPES, Booker, booking_problems
from shequ.services.bookings.slots import (
    Slot,
    covering_slots,
    open_minutes,
    parse_opening_hours,
    slots_between,
)
from shequ.services.notify.service import Kind, notify


def resource(session: Session, resource_id: int) -> BookableResource:
    """The resource with ``resource_id``; NotFoundError when there is none."""
    row = session.get(BookableResource, resource_id)
    if row is None:
        raise NotFoundError(f"no bookable resource with id {resource_id}; GET "
                            "/api/v1/bookings/resources lists them",
                            code="bookings.no_resource", params={"id": resource_id})
    return row


def resource_facility(session: Session, res: BookableResource) -> Facility:
    """The registry facility the resource belongs to."""
    facility = session.get(Facility, res.facility_id)
    if facility is None:  # the foreign key cascades, so only a dangling id gets here
        raise NotFoundError(f"facility {res.facility_id} of resource {res.id} does not exist",
                            code="bookings.no_facility", params={"id": res.facility_id})
    return facility


def bookable_facility(session: Session, facility_id: int) -> Facility:
    """The registry facility ``facility_id``; NotFoundError when there is none."""
    facility = session.get(Facility, facility_id)
    if facility is None:
        raise NotFoundError(f"no facility with id {facility_id}; GET "
                            "/api/v1/facilities?division=… lists them",
                            code="bookings.no_facility", params={"id": facility_id})
    return facility


def effective_hours(res: BookableResource, facility: Facility) -> str:
    """The resource's own opening hours, else its facility's; ValidationError if neither."""
    hours = res.opening_hours or facility.opening_hours
    if not hours:
        raise ValidationError([Problem(
            f"resource {res.id} ({res.name})", "has no opening hours", column="opening_hours",
            hint="set the facility's opening_hours (OSM syntax) or the resource's own",
            code="bookings.no_opening_hours")])
    return hours


def create_resource(session: Session, *, facility_id: int, name: str,
                    capacity: int | None = None, opening_hours: str | None = None,
                    slot_minutes: int = 60, approval_required: bool = True,
                    min_notice_minutes: int = 60, max_advance_days: int = 30,
                    max_duration_minutes: int = 240,
                    allowed_roles: Sequence[str] = ("resident", "community_worker"),
                    booker_scope: BookerScope = BookerScope.TOWNSHIP,
                    allow_series: bool = False, max_series_occurrences: int = 12,
                    now: dt.datetime | None = None) -> BookableResource:
    """Make a room or field of a registry facility bookable, with its rules.

    The facility must be of a bookable type (community rooms, cultural stations and
    centres, sports fields and venues) and in service; the opening hours (the resource's
    or else the facility's) must parse.
    """
    facility = bookable_facility(session, facility_id)
    where = f"facility {facility_id}"
    problems: list[Problem] = []
    if facility.type_code not in BOOKABLE_FACILITY_TYPES:
        problems.append(Problem(where, f"type {facility.type_code!r} has no bookable rooms",
                                hint="bookable: " + ", ".join(sorted(BOOKABLE_FACILITY_TYPES)),
                                column="facility_id", code="bookings.type_not_bookable"))
    if facility.status != FacilityStatus.IN_SERVICE.value:
        problems.append(Problem(where, f"is {facility.status}, not in service",
                                column="facility_id", code="bookings.facility_not_in_service"))
    hours = opening_hours or facility.opening_hours
    if not hours:
        problems.append(Problem(where, "has no opening hours", column="opening_hours",
                                hint="give the resource opening_hours in OSM syntax",
                                code="bookings.no_opening_hours"))
    if not 5 <= slot_minutes <= 1440:
        problems.append(Problem(where, "slot_minutes must be 5 to 1440", column="slot_minutes",
                                code="out_of_range", params={"low": 5, "high": 1440}))
    if max_duration_minutes < slot_minutes:
        problems.append(Problem(where, "max_duration_minutes is shorter than one slot",
                                column="max_duration_minutes",
                                code="bookings.duration_below_slot"))
    if problems:
        raise ValidationError(problems)
    if hours:
        parse_opening_hours(hours)
    res = BookableResource(
        facility_id=facility_id, name=name, capacity=capacity, opening_hours=opening_hours,
        slot_minutes=slot_minutes, approval_required=approval_required,
        min_notice_minutes=min_notice_minutes, max_advance_days=max_advance_days,
        max_duration_minutes=max_duration_minutes, allowed_roles=",".join(allowed_roles),
        booker_scope=BookerScope(booker_scope).value, allow_series=allow_series,
        max_series_occurrences=max_series_occurrences, active=True,
        created_at=now or local_now())
    session.add(res)
    session.flush()
    return res


RULE_FIELDS = ("name", "capacity", "opening_hours", "slot_minutes", "approval_required",
               "min_notice_minutes", "max_advance_days", "max_duration_minutes",
               "allowed_roles", "booker_scope", "allow_series", "max_series_occurrences",
               "active")


def update_resource(session: Session, resource_id: int, **changes: object) -> BookableResource:
    """Change a resource's rules (only the fields in :data:`RULE_FIELDS`).

    Bookings already made keep their slots; a new slot length applies to new bookings.
    """
    res = resource(session, resource_id)
    unknown = sorted(set(changes) - set(RULE_FIELDS))
    if unknown:
        raise ValidationError([Problem(f"resource {resource_id}", f"{k!r} is not a rule",
                                       hint="rules: " + ", ".join(RULE_FIELDS),
                                       code="bookings.unknown_rule", params={"value": k})
                               for k in unknown])
    for key, given in changes.items():
        value = given
        if key == "allowed_roles" and isinstance(given, list | tuple):
            value = ",".join(str(v) for v in given)
        if key == "booker_scope":
            value = BookerScope(str(given)).value
        setattr(res, key, value)
    if res.max_duration_minutes < res.slot_minutes:
        raise ValidationError([Problem(f"resource {resource_id}", "max_duration_minutes is "
                                       "shorter than one slot", column="max_duration_minutes",
                                       code="bookings.duration_below_slot")])
    if res.opening_hours:
        parse_opening_hours(res.opening_hours)
    session.flush()
    return res


@dataclass(frozen=True, slots=True)
class SlotView:
    """A slot of the grid and whether an active booking holds it."""

    start: dt.datetime
    end: dt.datetime
    taken: bool


def slot_views(session: Session, resource_id: int, start: dt.datetime, end: dt.datetime
               ) -> list[SlotView]:
    """The resource's slots starting in ``[start, end)``, marked free or taken."""
    res = resource(session, resource_id)
    hours = effective_hours(res, resource_facility(session, res))
    grid = slots_between(hours, start, end, slot_minutes=res.slot_minutes)
    taken = set(session.scalars(select(BookingSlot.slot_start).where(
        BookingSlot.resource_id == resource_id, BookingSlot.slot_start >= start,
        BookingSlot.slot_start < end)))
    return [SlotView(s.start, s.end, s.start in taken) for s in grid]


def _validated_slots(session: Session, res: BookableResource, *, booker: Booker,
                     starts_at: dt.datetime, ends_at: dt.datetime, attendees: int,
                     now: dt.datetime, series: bool = False) -> list[Slot]:
    facility = resource_facility(session, res)
    problems = booking_problems(res, facility_division=facility.division_code, booker=booker,
                                starts_at=starts_at, ends_at=ends_at, attendees=attendees,
                                now=now, series=series)
    if problems:
        raise ValidationError(problems, summary="the booking breaks the venue's rules")
    return covering_slots(effective_hours(res, facility), starts_at, ends_at,
                          slot_minutes=res.slot_minutes)


def _taken(session: Session, resource_id: int, starts: Sequence[dt.datetime]
           ) -> list[dt.datetime]:
    if not starts:
        return []
    return sorted(session.scalars(select(BookingSlot.slot_start).where(
        BookingSlot.resource_id == resource_id, BookingSlot.slot_start.in_(list(starts)))))


def _insert(session: Session, bookings: Sequence[tuple[Booking, list[Slot]]]) -> None:
    """Insert bookings and their slot rows; the primary key decides every race."""
    try:
        for booking, _ in bookings:
            session.add(booking)
        session.flush()
        session.add_all(BookingSlot(resource_id=b.resource_id, slot_start=s.start,
                                    booking_id=b.id) for b, slots in bookings for s in slots)
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        first = bookings[0][0]
        raise ConflictError(
            f"the slot at {first.starts_at:%Y-%m-%d %H:%M} of resource {first.resource_id} "
            "was just booked by someone else; choose another slot",
            code="bookings.slot_just_taken",
            params={"time": f"{first.starts_at:%Y-%m-%d %H:%M}"}) from exc


def book(session: Session, *, resource_id: int, booker: Booker, starts_at: dt.datetime,
         ends_at: dt.datetime, purpose: str, attendees: int = 1,
         now: dt.datetime | None = None) -> Booking:
    """Book ``[starts_at, ends_at)`` of a resource (whole slots) for ``booker``.

    The booking is approved at once unless the resource needs approval, then pending.
    Raises ValidationError for a broken rule, ConflictError when a slot is taken (also
    when another booking wins a race for it: the database's key decides).
    """
    now = now or local_now()
    res = resource(session, resource_id)
    slots = _validated_slots(session, res, booker=booker, starts_at=starts_at,
                             ends_at=ends_at, attendees=attendees, now=now)
    taken = _taken(session, resource_id, [s.start for s in slots])
    if taken:
        times = ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in taken)
        raise ConflictError(f"resource {resource_id} is already booked at {times}; "
                            "choose a free slot", code="bookings.slots_taken",
                            params={"times": times})
    status = BookingStatus.PENDING if res.approval_required else BookingStatus.APPROVED
    booking = Booking(resource_id=resource_id, user_id=booker.user_id,
                      division_code=booker.division_code, starts_at=starts_at, ends_at=ends_at,
                      attendees=attendees, purpose=purpose, status=status.value,
                      created_at=now)
    _insert(session, [(booking, slots)])
    return booking


def book_series(session: Session, *, resource_id: int, booker: Booker,
                first_starts_at: dt.datetime, duration_minutes: int, occurrences: int,
                purpose: str, interval_weeks: int = 1, attendees: int = 1,
                now: dt.datetime | None = None) -> BookingSeries:
    """Book the same time every ``interval_weeks`` weeks, ``occurrences`` times.

    All or nothing: when any occurrence breaks a rule or is taken, nothing is booked and
    the error lists every such date.
    """
    now = now or local_now()
    res = resource(session, resource_id)
    where = f"resource {resource_id} ({res.name})"
    if not res.allow_series:
        raise ValidationError([Problem(where, "does not take recurring bookings",
                                       column="occurrences", code="bookings.no_series")])
    if not 1 <= occurrences <= res.max_series_occurrences:
        raise ValidationError([Problem(
            where, f"a series has 1 to {res.max_series_occurrences} occurrences, not "
            f"{occurrences}", column="occurrences", code="bookings.series_length",
            params={"limit": res.max_series_occurrences, "value": occurrences})])
    if interval_weeks < 1:
        raise ValidationError([Problem(where, "interval_weeks must be at least 1",
                                       column="interval_weeks", code="bookings.interval")])
    duration = dt.timedelta(minutes=duration_minutes)
    step = dt.timedelta(weeks=interval_weeks)
    planned: list[tuple[dt.datetime, list[Slot]]] = []
    problems: list[Problem] = []
    for k in range(occurrences):
        start = first_starts_at + k * step
        try:
            slots = _validated_slots(session, res, booker=booker, starts_at=start,
                                     ends_at=start + duration, attendees=attendees, now=now,
                                     series=True)
        except ValidationError as exc:
            problems += [Problem(f"occurrence {k + 1} ({start:%Y-%m-%d})", p.reason,
                                 column=p.column, hint=p.hint, code=p.code,
                                 params=p.params) for p in exc.problems]
            continue
        taken = _taken(session, resource_id, [s.start for s in slots])
        if taken:
            problems.append(Problem(f"occurrence {k + 1} ({start:%Y-%m-%d})",
                                    "already booked", hint="move the series or skip the date",
                                    code="bookings.occurrence_taken",
                                    params={"n": k + 1, "date": f"{start:%Y-%m-%d}"}))
        planned.append((start, slots))
    if problems:
        raise ValidationError(problems, summary="the series cannot be booked")
    series = BookingSeries(resource_id=resource_id, user_id=booker.user_id,
                           first_starts_at=first_starts_at, duration_minutes=duration_minutes,
                           interval_weeks=interval_weeks, occurrences=occurrences,
                           purpose=purpose, created_at=now)
    session.add(series)
    session.flush()
    status = BookingStatus.PENDING if res.approval_required else BookingStatus.APPROVED
    _insert(session, [
        (Booking(resource_id=resource_id, series_id=series.id, user_id=booker.user_id,
                 division_code=booker.division_code, starts_at=start,
                 ends_at=start + duration, attendees=attendees, purpose=purpose,
                 status=status.value, created_at=now), slots)
        for start, slots in planned])
    return series


def booking(session: Session, booking_id: int) -> Booking:
    """The booking with ``booking_id``; NotFoundError when there is none."""
    row = session.get(Booking, booking_id)
    if row is None:
        raise NotFoundError(f"no booking with id {booking_id}; GET /api/v1/bookings/mine "
                            "lists yours, /api/v1/bookings/pending those awaiting a decision",
                            code="bookings.no_booking", params={"id": booking_id})
    return row


def _release(session: Session, booking_id: int) -> None:
    session.execute(delete(BookingSlot).where(BookingSlot.booking_id == booking_id))


def decide(session: Session, booking_id: int, *, approve: bool, decided_by: int,
           note: str | None = None, now: dt.datetime | None = None) -> Booking:
    """Approve or reject a pending booking; a rejection frees its slots."""
    b = booking(session, booking_id)
    if b.status != BookingStatus.PENDING.value:
        raise ConflictError(f"booking {booking_id} is {b.status}; only a pending booking "
                            "can be approved or rejected", code="bookings.not_pending",
                            params={"id": booking_id})
    if approve and b.user_id == decided_by:
        # Nobody approves their own booking: the approval is a second pair of eyes.
        raise AccessDenied(f"booking {booking_id} is your own; another community worker, "
                           "street officer or administrator whose jurisdiction covers the "
                           "venue can approve it", code="bookings.own_booking",
                           params={"id": booking_id})
    b.status = (BookingStatus.APPROVED if approve else BookingStatus.REJECTED).value
    b.decided_by = decided_by
    b.decided_at = now or local_now()
    b.decision_note = note
    if not approve:
        _release(session, booking_id)
    session.flush()
    if b.user_id != decided_by:
        notify(session, b.user_id, Kind.BOOKING_APPROVED if approve else Kind.BOOKING_REFUSED,
               _told(session, b), f"booking:{b.id}:{b.status}")
    return b


def _told(session: Session, b: Booking) -> dict[str, object]:
    """What a notification of booking ``b`` says: its number, venue and start."""
    return {"booking": b.id, "time": f"{b.starts_at:%Y-%m-%d %H:%M}",
            "place": resource_facility(session, resource(session, b.resource_id)).name}


def cancel(session: Session, booking_id: int, *, now: dt.datetime | None = None) -> Booking:
    """Cancel a pending or approved booking that has not started; its slots are freed."""
    now = now or local_now()
    b = booking(session, booking_id)
    if b.status not in ACTIVE_BOOKING_STATUSES:
        raise ConflictError(f"booking {booking_id} is already {b.status}",
                            code="bookings.already_closed", params={"id": booking_id})
    if b.starts_at <= now:
        raise ConflictError(f"booking {booking_id} started at {b.starts_at:%Y-%m-%d %H:%M}; "
                            "a booking can be cancelled only before it starts",
                            code="bookings.already_started",
                            params={"id": booking_id, "time": f"{b.starts_at:%Y-%m-%d %H:%M}"})
    b.status = BookingStatus.CANCELLED.value
    b.cancelled_at = now
    _release(session, booking_id)
    session.flush()
    return b


def due_reminders(session: Session, *, now: dt.datetime | None = None,
                  within: dt.timedelta = dt.timedelta(hours=24)) -> list[Booking]:
    """Approved bookings starting in ``(now, now + within]`` not yet reminded, by start."""
    now = now or local_now()
    return list(session.scalars(select(Booking).where(
        Booking.status == BookingStatus.APPROVED.value, Booking.reminder_sent_at.is_(None),
        Booking.starts_at > now, Booking.starts_at <= now + within,
    ).order_by(Booking.starts_at, Booking.id)))


def mark_reminded(session: Session, bookings: Sequence[Booking], *,
                  now: dt.datetime | None = None) -> None:
    """Notify the bookers of ``bookings`` that they start soon (each once: they are not
    due again)."""
    stamp = now or local_now()
    for b in bookings:
        b.reminder_sent_at = stamp
        notify(session, b.user_id, Kind.BOOKING_DUE, _told(session, b), f"booking:{b.id}:due")
    session.flush()


def bookings_in(session: Session, *, division_prefix: str = "",
                statuses: Sequence[str] = ACTIVE_BOOKING_STATUSES,
                user_id: int | None = None) -> list[tuple[Booking, BookableResource, Facility]]:
    """Bookings of resources whose facility lies under ``division_prefix``, by start."""
    query = (select(Booking, BookableResource, Facility)
             .join(BookableResource, Booking.resource_id == BookableResource.id)
             .join(Facility, BookableResource.facility_id == Facility.id)
             .where(Booking.status.in_(list(statuses)))
             .order_by(Booking.starts_at, Booking.id))
    if division_prefix:
        query = query.where(Facility.division_code.startswith(division_prefix))
    if user_id is not None:
        query = query.where(Booking.user_id == user_id)
    return [(b, r, f) for b, r, f in session.execute(query)]


def resources_in(session: Session, *, division_prefix: str = ""
                 ) -> list[tuple[BookableResource, Facility]]:
    """Active resources whose facility lies under ``division_prefix``, by facility."""
    query = (select(BookableResource, Facility)
             .join(Facility, BookableResource.facility_id == Facility.id)
             .where(BookableResource.active.is_(True))
             .order_by(Facility.division_code, Facility.name, BookableResource.name))
    if division_prefix:
        query = query.where(Facility.division_code.startswith(division_prefix))
    return [(r, f) for r, f in session.execute(query)]


def export_ical(session: Session, *, user_id: int | None = None, resource_id: int | None = None,
                now: dt.datetime | None = None) -> str:
    """An iCalendar of a user's bookings or a resource's (active and decided)."""
    query = (select(Booking, BookableResource, Facility)
             .join(BookableResource, Booking.resource_id == BookableResource.id)
             .join(Facility, BookableResource.facility_id == Facility.id)
             .order_by(Booking.starts_at, Booking.id))
    if user_id is not None:
        query = query.where(Booking.user_id == user_id)
    if resource_id is not None:
        query = query.where(Booking.resource_id == resource_id)
    events = [CalendarEvent(
        uid=f"booking-{b.id}@shequ", starts_at=b.starts_at, ends_at=b.ends_at,
        summary=f"{r.name} · {b.purpose}", location=f"{f.name} {f.address or ''}".strip(),
        description=f"Shequ booking {b.id}, {b.attendees} attendee(s), status {b.status}",
        status=EVENT_STATUS[b.status]) for b, r, f in session.execute(query)]
    return calendar(events, name="社区场地预约 Shequ bookings", stamp=now or local_now())


@dataclass(slots=True)
class _Usage:
    division_code: str
    type_code: str
    resources: int = 0
    open_hours: float = 0.0
    booked_hours: float = 0.0


def utilisation(session: Session, *, start: dt.datetime, end: dt.datetime,
                division_prefix: str = "") -> pl.DataFrame:
    """Booked hours over open hours per facility in ``[start, end)``, an indicator input.

    utilisation = Σ approved booked hours ÷ Σ open hours, both summed over the facility's
    active resources; a booking counts only the part inside the period.  Columns:
    ``facility_id, division_code, type_code, period_start, period_end, resources,
    open_hours, booked_hours, utilisation`` (utilisation is null when open_hours is 0).
    Roll up to any division level by grouping on a prefix of ``division_code`` and
    dividing the sums (not averaging the ratios).
    """
    usage: dict[int, _Usage] = {}
    for res, facility in resources_in(session, division_prefix=division_prefix):
        entry = usage.setdefault(facility.id, _Usage(facility.division_code, facility.type_code))
        entry.resources += 1
        hours = res.opening_hours or facility.opening_hours
        if hours:
            entry.open_hours += open_minutes(hours, start, end) / 60
    booked = session.execute(
        select(BookableResource.facility_id, Booking.starts_at, Booking.ends_at)
        .join(Booking, Booking.resource_id == BookableResource.id)
        .where(Booking.status == BookingStatus.APPROVED.value, Booking.starts_at < end,
               Booking.ends_at > start, BookableResource.active.is_(True)))
    for facility_id, a, b in booked:
        if facility_id in usage:
            usage[facility_id].booked_hours += (min(b, end) - max(a, start)).total_seconds() / 3600
    rows = [{"facility_id": fid, "division_code": u.division_code, "type_code": u.type_code,
             "period_start": start, "period_end": end, "resources": u.resources,
             "open_hours": u.open_hours, "booked_hours": u.booked_hours}
            for fid, u in usage.items()]
    frame = pl.DataFrame(rows, schema={
        "facility_id": pl.Int64, "division_code": pl.Utf8, "type_code": pl.Utf8,
        "period_start": pl.Datetime, "period_end": pl.Datetime, "resources": pl.Int64,
        "open_hours": pl.Float64, "booked_hours": pl.Float64})
    return frame.with_columns(
        pl.when(pl.col("open_hours") > 0)
        .then(pl.col("booked_hours") / pl.col("open_hours"))
        .otherwise(None).alias("utilisation")).sort("facility_id")


def utilisation_by_division(session: Session, *, start: dt.datetime, end: dt.datetime,
                            level: int, division_prefix: str = "") -> pl.DataFrame:
    """:func:`utilisation` rolled up to the divisions of ``level`` (1 province … 5 community).

    utilisation(d) = Σ booked hours ÷ Σ open hours over the facilities in division d
    (a ratio of sums, so a large venue weighs more than a small room).  Columns:
    ``division_code`` (12 digits), ``period_start, period_end, facilities, open_hours,
    booked_hours, utilisation``.
    """
    digits = LEVEL_DIGITS[level]
    table = utilisation(session, start=start, end=end, division_prefix=division_prefix)
    return (table.with_columns(pl.col("division_code").str.slice(0, digits)
                               .str.pad_end(12, "0"))
            .group_by("division_code")
            .agg(pl.len().alias("facilities"), pl.col("open_hours").sum(),
                 pl.col("booked_hours").sum())
            .with_columns(pl.lit(start).alias("period_start"), pl.lit(end).alias("period_end"),
                          pl.when(pl.col("open_hours") > 0)
                          .then(pl.col("booked_hours") / pl.col("open_hours"))
                          .otherwise(None).alias("utilisation"))
            .select("division_code", "period_start", "period_end", "facilities", "open_hours",
                    "booked_hours", "utilisation")
            .sort("division_code"))


# ---- use cases: whether the caller may, the act and its audit row (API and pages) --------

EARLIEST = dt.datetime(2000, 1, 1)  # noqa: DTZ001 (naive China Standard Time)
LATEST = dt.datetime(2100, 1, 1)  # noqa: DTZ001


def booker_of(session: Session, user: User) -> Booker:
    """The rules' view of the caller: their id, role and the division they act in."""
    return Booker(user_id=user.id, role=user.role, division_code=acting_division(session, user))


def open_resource(session: Session, user: User, *, facility_id: int, name: str,
                  capacity: int | None = None, opening_hours: str | None = None,
                  slot_minutes: int = 60, approval_required: bool = True,
                  min_notice_minutes: int = 60, max_advance_days: int = 30,
                  max_duration_minutes: int = 240,
                  allowed_roles: Sequence[str] = ("resident", "community_worker"),
                  booker_scope: BookerScope = BookerScope.TOWNSHIP,
                  allow_series: bool = False, max_series_occurrences: int = 12
                  ) -> BookableResource:
    """A handler opens a room or field of a facility in their jurisdiction, audited."""
    facility = bookable_facility(session, facility_id)
    require_handler(user, facility.division_code)
    res = create_resource(
        session, facility_id=facility_id, name=name, capacity=capacity,
        opening_hours=opening_hours, slot_minutes=slot_minutes,
        approval_required=approval_required, min_notice_minutes=min_notice_minutes,
        max_advance_days=max_advance_days, max_duration_minutes=max_duration_minutes,
        allowed_roles=allowed_roles, booker_scope=booker_scope, allow_series=allow_series,
        max_series_occurrences=max_series_occurrences)
    audit(session, user=user, action="create", entity="booking_resource", entity_id=res.id)
    return res


def change_resource(session: Session, user: User, resource_id: int,
                    changes: Mapping[str, object]) -> BookableResource:
    """A handler of the venue's jurisdiction changes its rules (see :data:`RULE_FIELDS`)."""
    res = resource(session, resource_id)
    require_handler(user, resource_facility(session, res).division_code)
    update_resource(session, resource_id, **changes)
    audit(session, user=user, action="update", entity="booking_resource",
          entity_id=resource_id, detail={"changed": sorted(changes)})
    return res


def book_as(session: Session, user: User, *, resource_id: int, starts_at: dt.datetime,
            ends_at: dt.datetime, purpose: str, attendees: int = 1) -> Booking:
    """The caller books ``[starts_at, ends_at)`` (see :func:`book`), audited."""
    b = book(session, resource_id=resource_id, booker=booker_of(session, user),
             starts_at=starts_at, ends_at=ends_at, purpose=purpose, attendees=attendees)
    audit(session, user=user, action="create", entity="booking", entity_id=b.id)
    return b


def book_series_as(session: Session, user: User, *, resource_id: int,
                   first_starts_at: dt.datetime, duration_minutes: int, occurrences: int,
                   purpose: str, interval_weeks: int = 1, attendees: int = 1) -> BookingSeries:
    """The caller books a weekly series (see :func:`book_series`), audited."""
    series = book_series(session, resource_id=resource_id, booker=booker_of(session, user),
                         first_starts_at=first_starts_at, duration_minutes=duration_minutes,
                         occurrences=occurrences, interval_weeks=interval_weeks,
                         purpose=purpose, attendees=attendees)
    audit(session, user=user, action="create", entity="booking_series", entity_id=series.id)
    return series


def book_slots(session: Session, user: User, *, resource_id: int, starts_at: dt.datetime,
               slots: int, weeks: int, purpose: str, attendees: int
               ) -> Booking | BookingSeries:
    """The slot grid's booking: ``slots`` consecutive slots from ``starts_at``, once or on
    ``weeks`` weeks running (a series)."""
    res = resource(session, resource_id)
    start = as_local(starts_at)
    if not EARLIEST <= start <= LATEST:
        raise ValidationError([Problem("starts_at", f"{start:%Y-%m-%d} is not between 2000 "
                                       "and 2100", column="starts_at",
                                       hint="pick a day on the slot page",
                                       code="bookings.outside_years")])
    minutes = res.slot_minutes * slots
    if weeks > 1:
        return book_series_as(session, user, resource_id=resource_id, first_starts_at=start,
                              duration_minutes=minutes, occurrences=weeks, purpose=purpose,
                              attendees=attendees)
    return book_as(session, user, resource_id=resource_id, starts_at=start,
                   ends_at=start + dt.timedelta(minutes=minutes), purpose=purpose,
                   attendees=attendees)


def _facility_of_booking(session: Session, b: Booking) -> Facility:
    return resource_facility(session, resource(session, b.resource_id))


def booking_for(session: Session, user: User, booking_id: int) -> Booking:
    """A booking its owner, or a handler of the venue's jurisdiction, may see."""
    b = booking(session, booking_id)
    if b.user_id != user.id:
        require_handler(user, _facility_of_booking(session, b).division_code)
    return b


def decide_as(session: Session, user: User, booking_id: int, *, approve: bool,
              note: str | None = None) -> Booking:
    """A handler of the venue's jurisdiction approves or rejects a booking, audited."""
    b = booking(session, booking_id)
    require_handler(user, _facility_of_booking(session, b).division_code)
    decide(session, booking_id, approve=approve, decided_by=user.id, note=note)
    audit(session, user=user, action="approve" if approve else "reject", entity="booking",
          entity_id=booking_id)
    return b


def cancel_as(session: Session, user: User, booking_id: int) -> Booking:
    """The owner (or a handler of the venue's jurisdiction) cancels a booking, audited."""
    b = booking_for(session, user, booking_id)
    cancel(session, booking_id)
    audit(session, user=user, action="cancel", entity="booking", entity_id=booking_id)
    return b


def resource_calendar(session: Session, user: User, resource_id: int) -> str:
    """A venue's bookings as iCalendar text, for handlers of its jurisdiction."""
    res = resource(session, resource_id)
    require_handler(user, resource_facility(session, res).division_code)
    return export_ical(session, resource_id=resource_id)


def pending_for(session: Session, user: User
                ) -> list[tuple[Booking, BookableResource, Facility]]:
    """Bookings waiting for a decision in a handler's jurisdiction."""
    require_role(user, *HANDLER_ROLES)
    return bookings_in(session, division_prefix=visible_prefix(user),
                       statuses=[BookingStatus.PENDING.value])


def utilisation_for(session: Session, user: User, *, start: dt.date, end: dt.date,
                    division: str | None = None) -> pl.DataFrame:
    """:func:`utilisation` in ``[start, end)`` inside the caller's jurisdiction (or the
    division under it they name)."""
    prefix = visible_prefix(user)
    if division and division.startswith(prefix):
        prefix = division
    if not (EARLIEST.date() <= start < end <= LATEST.date() and (end - start).days <= 366):
        raise ValidationError([Problem("start", "the period is not start < end within one "
                                       "year between 2000 and 2100", column="start",
                                       hint="e.g. start=2026-01-01&end=2026-02-01",
                                       code="bookings.bad_period")])
    return utilisation(session, start=dt.datetime.combine(start, dt.time()),
                       end=dt.datetime.combine(end, dt.time()), division_prefix=prefix)


def venues_near(session: Session, user: User) -> list[tuple[BookableResource, Facility]]:
    """Venues a resident sees first: those of the county they act in (all when unknown)."""
    return resources_in(session, division_prefix=(acting_division(session, user) or "")[:6])


@dataclass(frozen=True, slots=True)
class Desk:
    """A handler's view of the bookings of their jurisdiction."""

    pending: list[tuple[Booking, BookableResource, Facility]]
    upcoming: list[tuple[Booking, BookableResource, Facility]]
    resources: list[tuple[BookableResource, Facility]]
    facilities: list[Facility]


def desk(session: Session, user: User) -> Desk:
    """Bookings to decide, approved bookings, venues and the facilities that could have
    venues, in a handler's jurisdiction."""
    require_role(user, *HANDLER_ROLES)
    prefix = visible_prefix(user)
    facilities = list(session.scalars(select(Facility).where(
        Facility.division_code.startswith(prefix),
        Facility.type_code.in_(sorted(BOOKABLE_FACILITY_TYPES)),
        Facility.status == FacilityStatus.IN_SERVICE.value).order_by(Facility.name)))
    return Desk(
        pending=bookings_in(session, division_prefix=prefix,
                            statuses=[BookingStatus.PENDING.value]),
        upcoming=bookings_in(session, division_prefix=prefix,
                             statuses=[BookingStatus.APPROVED.value]),
        resources=resources_in(session, division_prefix=prefix), facilities=facilities)
