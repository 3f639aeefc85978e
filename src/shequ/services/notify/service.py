"""Notifications: written with their event, read and marked in-app, rendered per language.

:func:`notify` is called by the service that makes an event, inside the event's own
transaction: the notification and its deliveries are committed with the event or not at
all (the outbox pattern), and the same ``event_id`` twice gives the one notification.
The dispatcher (:mod:`shequ.services.notify.dispatcher`) delivers what is due.

Messages are rendered when shown or sent, from ``notify.<kind>.title`` and
``notify.<kind>.body`` of the user's language; their ``params`` hold ids, dates and names
of places, never a person's name, number or address.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shequ import i18n
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.registry.columns import utc_now
from shequ.services.accounts import HANDLER_ROLES, User, audit
from shequ.services.accounts.policy import in_jurisdiction
from shequ.services.notify.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationPreference,
)


class Kind(StrEnum):
    """What a notification tells; each has ``notify.<kind>.title`` and ``.body``."""

    REQUEST_ACCEPTED = "request_accepted"
    REQUEST_RESOLVED = "request_resolved"
    REQUEST_CLOSED = "request_closed"
    REQUEST_REOPENED = "request_reopened"
    BOOKING_APPROVED = "booking_approved"
    BOOKING_REFUSED = "booking_refused"
    BOOKING_DUE = "booking_due"
    CARE_OFFERED = "care_offered"
    CARE_LAPSED = "care_lapsed"
    HOURS_CONFIRMED = "hours_confirmed"
    ROUND_DUE = "round_due"
    ROUND_OVERDUE = "round_overdue"
    FIGURES_APPROVED = "figures_approved"
    FIGURES_UNAPPROVED = "figures_unapproved"
    # Staff reminders of the periodic job (shequ.services.notify.reminders).
    REQUESTS_OVERDUE = "requests_overdue"
    BOOKINGS_TO_APPROVE = "bookings_to_approve"
    ROUNDS_DUE = "rounds_due"
    # A division change re-pointed the account's jurisdiction (shequ.services.hierarchy).
    JURISDICTION_REPOINTED = "jurisdiction_repointed"


# Where each kind leads in the app (``{name}`` filled from the params).
LINKS: dict[Kind, str] = {
    Kind.REQUEST_ACCEPTED: "/services/requests/{request}",
    Kind.REQUEST_RESOLVED: "/services/requests/{request}",
    Kind.REQUEST_CLOSED: "/services/requests/{request}",
    Kind.REQUEST_REOPENED: "/services/requests/{request}",
    Kind.BOOKING_APPROVED: "/bookings",
    Kind.BOOKING_REFUSED: "/bookings",
    Kind.BOOKING_DUE: "/bookings",
    Kind.CARE_OFFERED: "/care",
    Kind.CARE_LAPSED: "/care",
    Kind.HOURS_CONFIRMED: "/volunteers",
    Kind.ROUND_DUE: "/work",
    Kind.ROUND_OVERDUE: "/work",
    Kind.FIGURES_APPROVED: "/work",
    Kind.FIGURES_UNAPPROVED: "/work",
    Kind.REQUESTS_OVERDUE: "/services/queue",
    Kind.BOOKINGS_TO_APPROVE: "/bookings/manage",
    Kind.ROUNDS_DUE: "/work",
    Kind.JURISDICTION_REPOINTED: "/work",
}

EVENT_ID_MAX = 160  # the column's length
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


@dataclass(frozen=True, slots=True)
class Message:
    """A notification as its reader sees it: title, body and where it leads."""

    title: str
    body: str
    link: str


def render(kind: str, params: Mapping[str, object], lang: str) -> Message:
    """The message of ``kind`` in ``lang`` (zh-CN when the kind has no English text)."""
    link = LINKS.get(Kind(kind), "/") if kind in Kind._value2member_map_ else "/"
    try:
        link = link.format(**params)
    except (KeyError, IndexError):
        link = "/"
    return Message(title=i18n.translate(lang, f"notify.{kind}.title", **params),
                   body=i18n.translate(lang, f"notify.{kind}.body", **params), link=link)


def message_of(row: Notification, lang: str) -> Message:
    """The stored notification ``row`` rendered in ``lang``."""
    return render(row.kind, json.loads(row.params or "{}"), lang)


def in_quiet_hours(pref: NotificationPreference | None, when: dt.datetime) -> dt.datetime:
    """``when``, or the end of the user's quiet hours when ``when`` falls inside them.

    Quiet hours are minutes after midnight in China time, ``[start, end)``; ``start >
    end`` spans midnight (22:00–07:00).
    """
    if pref is None or pref.quiet_start is None or pref.quiet_end is None \
            or pref.quiet_start == pref.quiet_end:
        return when
    local = i18n.china_time(when)
    minute = local.hour * 60 + local.minute
    start, end = pref.quiet_start, pref.quiet_end
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return when
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ends = midnight + dt.timedelta(minutes=end)
    if ends <= local:
        ends += dt.timedelta(days=1)
    return ends.astimezone(dt.UTC)


def stored_preference(session: Session, user_id: int) -> NotificationPreference | None:
    """The user's saved preferences, if they saved any."""
    return session.scalar(select(NotificationPreference).where(
        NotificationPreference.user_id == user_id))


def preference_of(session: Session, user_id: int) -> NotificationPreference:
    """The user's preferences; a fresh, unsaved default (in-app only, zh-CN) if none."""
    pref = stored_preference(session, user_id)
    if pref is None:
        pref = NotificationPreference(user_id=user_id, language=i18n.DEFAULT_LANGUAGE,
                                      email_on=False, sms_on=False, wechat_on=False)
    return pref


def channels_of(pref: NotificationPreference) -> list[Channel]:
    """The channels besides in-app that ``pref`` turns on and gives an address for."""
    wanted = [(Channel.EMAIL, pref.email_on, pref.email),
              (Channel.SMS, pref.sms_on, pref.phone),
              (Channel.WECHAT, pref.wechat_on, pref.wechat_openid)]
    return [channel for channel, on, address in wanted if on and address]


def notify(session: Session, user_id: int, kind: str | Kind, params: Mapping[str, object],
           event_id: str, *, now: dt.datetime | None = None) -> Notification:
    """Tell user ``user_id`` about the event ``event_id``, in the caller's transaction.

    Writes the in-app notification and one pending delivery per channel the user has on
    (due now, or when their quiet hours end).  The same ``event_id`` again returns the
    notification already written and adds nothing.
    """
    kind = Kind(kind)
    if len(event_id) > EVENT_ID_MAX:
        raise ValueError(f"event id longer than {EVENT_ID_MAX} characters: {event_id!r}")
    existing = session.scalar(select(Notification).where(Notification.event_id == event_id))
    if existing is not None:
        return existing
    when = now or utc_now()
    row = Notification(event_id=event_id, user_id=user_id, kind=kind.value,
                       params=json.dumps(dict(params), ensure_ascii=False, sort_keys=True,
                                         default=str),
                       created_at=when)
    session.add(row)
    session.flush()
    pref = stored_preference(session, user_id)
    if pref is not None:
        due = in_quiet_hours(pref, when)
        for channel in channels_of(pref):
            session.add(Delivery(notification_id=row.id, channel=channel.value,
                                 status=DeliveryStatus.PENDING.value, attempts=0,
                                 next_attempt_at=due))
    return row


def notify_staff(session: Session, division_code: str, kind: str | Kind,
                 params: Mapping[str, object], event_id: str, *,
                 now: dt.datetime | None = None) -> list[Notification]:
    """Tell every active handler whose jurisdiction covers ``division_code`` (community
    workers, street officers above it; administrators are not told of every case).

    Each gets ``<event_id>:user:<id>``; for events of a division such as a reporting
    round due or figures approved.
    """
    roles = sorted(r.value for r in HANDLER_ROLES if r.value != "admin")
    staff = session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(roles), User.jurisdiction_code.is_not(None))
        .order_by(User.id)).all()
    told = []
    for user in staff:
        if in_jurisdiction(user, division_code):
            told.append(notify(session, user.id, kind, params,
                               f"{event_id}:user:{user.id}", now=now))
    return told


def notify_division_workers(session: Session, division_code: str, kind: str | Kind,
                            params: Mapping[str, object], event_id: str, *,
                            skip_user_id: int | None = None,
                            now: dt.datetime | None = None) -> list[Notification]:
    """Tell the active staff whose jurisdiction is exactly ``division_code`` (a
    community's workers), except ``skip_user_id`` (who made the event): for what happens
    to that division's own work, such as its figures signed off or sent back.

    Each gets ``<event_id>:user:<id>``.
    """
    staff = session.scalars(select(User).where(
        User.active.is_(True), User.jurisdiction_code == division_code,
        User.role != "resident").order_by(User.id)).all()
    return [notify(session, user.id, kind, params, f"{event_id}:user:{user.id}", now=now)
            for user in staff if user.id != skip_user_id]


def unread_count(session: Session, user_id: int) -> int:
    """How many of the user's notifications are unread (the bell's number)."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def notifications_of(session: Session, user: User, *, unread_only: bool = False,
                     limit: int = 50, before_id: int | None = None) -> Sequence[Notification]:
    """The user's notifications, newest first (``before_id``: the next page)."""
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return session.scalars(query.order_by(Notification.id.desc()).limit(limit)).all()


def mark_read(session: Session, user: User, notification_id: int, *,
              now: dt.datetime | None = None) -> Notification:
    """Mark one of the user's own notifications read (once; later calls keep the time)."""
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"you have no notification {notification_id}; GET "
                            "/api/v1/notifications lists yours",
                            code="notify.no_notification", params={"id": notification_id})
    if row.read_at is None:
        row.read_at = now or utc_now()
    return row


def mark_all_read(session: Session, user: User, *, now: dt.datetime | None = None) -> int:
    """Mark every unread notification of the user read; how many were."""
    result = session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=now or utc_now()).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def parse_time_of_day(text: str | None, column: str) -> tuple[int | None, Problem | None]:
    """``"22:30"`` as minutes after midnight; empty is None; else a problem of ``column``."""
    if not text:
        return None, None
    match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", text.strip())
    if match is None:
        return None, Problem("preferences", f"{text!r} is not a time HH:MM", column=column,
                             code="notify.bad_time", params={"value": text})
    return int(match.group(1)) * 60 + int(match.group(2)), None


def save_preferences(session: Session, user: User, *, language: str, email_on: bool,
                     email: str | None, sms_on: bool, phone: str | None, wechat_on: bool,
                     wechat_openid: str | None, quiet_start: str | None,
                     quiet_end: str | None) -> NotificationPreference:
    """Store the user's channels, addresses, language and quiet hours, audited.

    A channel turned on needs its address; quiet hours need both ends or neither.
    """
    email = (email or "").strip() or None
    phone = (phone or "").replace(" ", "").replace("-", "") or None
    wechat_openid = (wechat_openid or "").strip() or None
    problems: list[Problem] = []
    for column, value, pattern, on in (("email", email, _EMAIL, email_on),
                                       ("phone", phone, _PHONE, sms_on),
                                       ("wechat_openid", wechat_openid, _OPENID, wechat_on)):
        if value is not None and not pattern.match(value):
            problems.append(Problem("preferences", f"{column} is not valid", column=column,
                                    code=f"notify.bad_{column}"))
        elif on and value is None:
            problems.append(Problem("preferences", f"turning {column} on needs it",
                                    column=column, code="notify.address_needed"))
    start, start_problem = parse_time_of_day(quiet_start, "quiet_start")
    end, end_problem = parse_time_of_day(quiet_end, "quiet_end")
    problems += [p for p in (start_problem, end_problem) if p is not None]
    if (start is None) != (end is None) and not (start_problem or end_problem):
        column = "quiet_end" if end is None else "quiet_start"
        problems.append(Problem("preferences", "quiet hours need a start and an end",
                                column=column, code="notify.quiet_both"))
    if problems:
        raise ValidationError(problems)
    pref = stored_preference(session, user.id)
    if pref is None:
        pref = NotificationPreference(user_id=user.id)
        session.add(pref)
    pref.language = i18n.normalise_language(language)
    pref.email_on, pref.email = email_on, email
    pref.sms_on, pref.phone = sms_on, phone
    pref.wechat_on, pref.wechat_openid = wechat_on, wechat_openid
    pref.quiet_start, pref.quiet_end = start, end
    pref.updated_at = utc_now()
    audit(session, user=user, action="update", entity="notification_preference",
          entity_id=user.id, detail={"email": email_on, "sms": sms_on, "wechat": wechat_on,
                                     "quiet": [start, end], "language": pref.language})
    return pref


def time_of_day(minutes: int | None) -> str:
    """Minutes after midnight as ``HH:MM`` ("" for none)."""
    return "" if minutes is None else f"{minutes // 60:02d}:{minutes % 60:02d}"


def delivery_log(session: Session, user: User, notification_id: int
                 ) -> Sequence[Delivery]:
    """The deliveries of one of the user's notifications (channel, state, attempts)."""
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFoundError(f"you have no notification {notification_id}",
                            code="notify.no_notification", params={"id": notification_id})
    return session.scalars(select(Delivery).where(Delivery.notification_id == row.id)
                           .order_by(Delivery.channel)).all()
