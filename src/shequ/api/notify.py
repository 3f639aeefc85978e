"""Notifications over HTTP: JSON under ``/api/v1/notifications`` (the pages are
:mod:`shequ.web.notify`).

Each signed-in user reads their own notifications (rendered in ``?lang=`` or else the
language of their preferences), the unread count of the bell, marks them read, sees how
each was delivered, and sets their channels and quiet hours.  The use cases are
:mod:`shequ.services.notify.service`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from shequ import i18n
from shequ.http.caller import CurrentUser
from shequ.http.deps import IdPath, SessionDep
from shequ.http.problems import error_responses
from shequ.services.notify import service as notices
from shequ.services.notify.models import Notification, NotificationPreference

router = APIRouter(tags=["notifications"])
ERRORS = error_responses(401, 404, 422)


class NotificationOut(BaseModel):
    """One notification, rendered in the reader's language."""

    id: int
    kind: str
    title: str
    body: str
    link: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class UnreadOut(BaseModel):
    """The bell's number."""

    unread: int


class MarkedOut(BaseModel):
    """How many notifications were marked read."""

    marked: int


class DeliveryOut(BaseModel):
    """One channel's copy of a notification: its state, tries and last error."""

    channel: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str | None


class PreferencesIn(BaseModel):
    """Channels besides in-app (each needs its address), language and quiet hours
    (``HH:MM`` China time, both or neither)."""

    language: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    email_on: bool = False
    email: str | None = Field(default=None, max_length=200)
    sms_on: bool = False
    phone: str | None = Field(default=None, max_length=20)
    wechat_on: bool = False
    wechat_openid: str | None = Field(default=None, max_length=64)
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)


class PreferencesOut(PreferencesIn):
    """The stored preferences."""


def _language(request: Request, pref: NotificationPreference) -> str:
    asked = i18n.negotiate(request.query_params.get("lang"))
    return asked or pref.language or i18n.DEFAULT_LANGUAGE


def _out(row: Notification, lang: str) -> NotificationOut:
    message = notices.message_of(row, lang)
    return NotificationOut(id=row.id, kind=row.kind, title=message.title, body=message.body,
                           link=message.link, created_at=row.created_at, read_at=row.read_at)


def _prefs_out(pref: NotificationPreference) -> PreferencesOut:
    return PreferencesOut(
        language=pref.language or i18n.DEFAULT_LANGUAGE, email_on=bool(pref.email_on),
        email=pref.email, sms_on=bool(pref.sms_on), phone=pref.phone,
        wechat_on=bool(pref.wechat_on), wechat_openid=pref.wechat_openid,
        quiet_start=notices.time_of_day(pref.quiet_start) or None,
        quiet_end=notices.time_of_day(pref.quiet_end) or None)


@router.get("/notifications", response_model=list[NotificationOut], responses=ERRORS)
def list_notifications(
        request: Request, user: CurrentUser, session: SessionDep,
        unread: Annotated[bool, Query(description="only the unread ones")] = False,
        before: Annotated[int | None, Query(gt=0, description="ids below this (next page)")
                          ] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[NotificationOut]:
    """Your notifications, newest first."""
    lang = _language(request, notices.preference_of(session, user.id))
    rows = notices.notifications_of(session, user, unread_only=unread, limit=limit,
                                    before_id=before)
    return [_out(row, lang) for row in rows]


@router.get("/notifications/unread", response_model=UnreadOut, responses=ERRORS)
def unread(user: CurrentUser, session: SessionDep) -> UnreadOut:
    """How many of your notifications are unread."""
    return UnreadOut(unread=notices.unread_count(session, user.id))


@router.post("/notifications/read-all", response_model=MarkedOut, responses=ERRORS)
def read_all(user: CurrentUser, session: SessionDep) -> MarkedOut:
    """Mark every notification of yours read."""
    return MarkedOut(marked=notices.mark_all_read(session, user))


@router.get("/notifications/preferences", response_model=PreferencesOut, responses=ERRORS)
def preferences(user: CurrentUser, session: SessionDep) -> PreferencesOut:
    """Your channels, language and quiet hours (in-app only when never set)."""
    return _prefs_out(notices.preference_of(session, user.id))


@router.put("/notifications/preferences", response_model=PreferencesOut, responses=ERRORS)
def set_preferences(body: PreferencesIn, user: CurrentUser, session: SessionDep
                    ) -> PreferencesOut:
    """Set your channels, language and quiet hours; an address is kept encrypted."""
    return _prefs_out(notices.save_preferences(session, user, **body.model_dump()))


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut,
             responses=ERRORS)
def read(request: Request, notification_id: IdPath, user: CurrentUser,
         session: SessionDep) -> NotificationOut:
    """Mark one of your notifications read."""
    row = notices.mark_read(session, user, notification_id)
    return _out(row, _language(request, notices.preference_of(session, user.id)))


@router.get("/notifications/{notification_id}/deliveries", response_model=list[DeliveryOut],
            responses=ERRORS)
def deliveries(notification_id: IdPath, user: CurrentUser, session: SessionDep
               ) -> list[DeliveryOut]:
    """How one of your notifications went out on each channel."""
    return [DeliveryOut(channel=d.channel, status=d.status, attempts=d.attempts,
                        next_attempt_at=d.next_attempt_at, sent_at=d.sent_at,
                        last_error=d.last_error)
            for d in notices.delivery_log(session, user, notification_id)]
