"""Staff reminders as notifications: overdue requests and bookings to approve, per handler.

Run by the dispatcher every quarter of an hour (and by ``shequ notify reminders``); the
event id names the user, the kind and the China day, so each handler hears of each once
a day, with the count of that moment.  Bookings starting soon remind their bookers
(``booking_due``, via :func:`shequ.services.bookings.service.mark_reminded`).
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
from shequ.services.notify.service import Kind, notify
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


def staff_reminders(session: Session, *, now: dt.datetime | None = None,
                    sources: Sequence[ReminderSource] = SOURCES) -> list[Reminded]:
    """Notify every active handler with a jurisdiction of what waits for them today."""
    when = now or utc_now()
    day = i18n.china_time(when).date().isoformat()
    handlers = session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(sorted(r.value for r in HANDLER_ROLES)),
        User.jurisdiction_code.is_not(None)).order_by(User.id)).all()
    written: list[Reminded] = []
    for user in handlers:
        for kind, count_of in sources:
            count = count_of(session, user, when)
            if count:
                notify(session, user.id, kind, {"count": count},
                       f"reminder:{kind.value}:{user.id}:{day}", now=when)
                written.append(Reminded(user.id, kind, count))
    return written
