"""Staff reminders as notifications: overdue requests and bookings to approve, per handler;
reporting rounds due within three days or overdue, per community worker whose form is not
submitted.

Run by the dispatcher every quarter of an hour (and by ``shequ notify reminders``); the
event id names the user, the kind and the China day, so each handler hears of each once
a day, with the count of that moment (a round: once when due soon, once when overdue).
Bookings starting soon remind their bookers (``booking_due``, via
:func:`shequ.services.bookings.service.mark_reminded`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shequ import i18n
from shequ.registry.columns import utc_now
from shequ.registry.models import Facility
from shequ.services.accounts import HANDLER_ROLES, User
from shequ.services.accounts.policy import jurisdiction_prefix
from shequ.services.bookings.models import BookableResource, Booking, BookingStatus
from shequ.services.notify.models import Notification
from shequ.services.notify.service import Kind, notify
from shequ.services.reporting.models import FormStatus, ReportingRound, RoundForm
from shequ.services.requests.models import RequestStatus, ServiceRequest

# A further count of things a handler must do: (kind, counter of the user's due items).
ReminderSource = tuple[Kind, Callable[[Session, User, dt.datetime], int]]


def overdue_requests(session: Session, user: User, now: dt.datetime) -> int:
    """Unresolved requests the user answers for whose deadline has passed."""
    prefix = jurisdiction_prefix(user) or ""
    open_states = [s.value for s in RequestStatus
                   if s not in (RequestStatus.RESOLVED, RequestStatus.CLOSED)]
    return session.scalar(select(func.count()).select_from(ServiceRequest).where(
        ServiceRequest.responsible_code.startswith(prefix),
        ServiceRequest.status.in_(open_states), ServiceRequest.deadline_at < now)) or 0


def bookings_to_approve(session: Session, user: User, now: dt.datetime) -> int:
    """Pending bookings of venues in the user's jurisdiction."""
    prefix = jurisdiction_prefix(user) or ""
    return session.scalar(
        select(func.count()).select_from(Booking)
        .join(BookableResource, BookableResource.id == Booking.resource_id)
        .join(Facility, Facility.id == BookableResource.facility_id)
        .where(Booking.status == BookingStatus.PENDING.value,
               Facility.division_code.startswith(prefix))) or 0


SOURCES: tuple[ReminderSource, ...] = (
    (Kind.REQUESTS_OVERDUE, overdue_requests),
    (Kind.BOOKINGS_TO_APPROVE, bookings_to_approve),
)


@dataclass(frozen=True, slots=True)
class Reminded:
    """One reminder written: to whom, of what, how many."""

    user_id: int
    kind: Kind
    count: int


def _remind(session: Session, user_id: int, kind: Kind, params: dict[str, object],
            event_id: str, *, when: dt.datetime) -> bool:
    """Notify unless ``event_id`` was told already; whether a notification was written."""
    if session.scalar(select(Notification.id).where(Notification.event_id == event_id)):
        return False
    notify(session, user_id, kind, params, event_id, now=when)
    return True


def staff_reminders(session: Session, *, now: dt.datetime | None = None,
                    sources: Sequence[ReminderSource] = SOURCES) -> list[Reminded]:
    """Notify every active handler with a jurisdiction of what waits for them today; the
    reminders written now (none already written today)."""
    when = now or utc_now()
    day = i18n.china_time(when).date().isoformat()
    handlers = session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(sorted(r.value for r in HANDLER_ROLES)),
        User.jurisdiction_code.is_not(None)).order_by(User.id)).all()
    written: list[Reminded] = []
    for user in handlers:
        for kind, count_of in sources:
            count = count_of(session, user, when)
            if count and _remind(session, user.id, kind, {"count": count},
                                 f"reminder:{kind.value}:{user.id}:{day}", when=when):
                written.append(Reminded(user.id, kind, count))
    return written


ROUND_DUE_DAYS = 3  # a round is "due" this many days before its due date


def round_reminders(session: Session, *, now: dt.datetime | None = None) -> list[Reminded]:
    """Tell each community worker of each open round their community has not submitted:
    once when it is due within :data:`ROUND_DUE_DAYS` days, once when it is overdue."""
    when = now or utc_now()
    today = i18n.china_time(when).date()
    rounds = session.scalars(select(ReportingRound).where(
        ReportingRound.opens_on <= today,
        ReportingRound.due_on <= today + dt.timedelta(days=ROUND_DUE_DAYS))).all()
    if not rounds:
        return []
    workers = session.scalars(select(User).where(
        User.active.is_(True), User.role == "community_worker",
        User.jurisdiction_code.is_not(None)).order_by(User.id)).all()
    written: list[Reminded] = []
    for round_ in rounds:
        scope = (round_.scope_code or "")[:2]
        done = set(session.scalars(select(RoundForm.division_code).where(
            RoundForm.round_id == round_.id, RoundForm.status != FormStatus.DRAFT.value)))
        overdue = today > round_.due_on
        kind = Kind.ROUND_OVERDUE if overdue else Kind.ROUND_DUE
        for user in workers:
            code = user.jurisdiction_code or ""
            if code in done or not code.startswith(scope):
                continue
            if _remind(session, user.id, kind,
                       {"round": round_.name, "due": round_.due_on.isoformat()},
                       f"reporting_round:{round_.id}:{kind.value}:user:{user.id}", when=when):
                written.append(Reminded(user.id, kind, 1))
    return written
