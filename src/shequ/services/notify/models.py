"""Tables of notifications: one outbox of events, each delivered on a user's channels.

``notification`` is the event a person hears about (its ``event_id`` unique, written in the
same transaction as the event; in-app it is the row itself).  ``notification_delivery`` is
one channel's copy of it (unique per notification and channel, so an event is delivered
once per channel), claimed by a dispatcher under a lease; ``notification_attempt`` logs
every try.  ``notification_preference`` holds a user's channels, their addresses
(encrypted), language and quiet hours.  No text is stored: messages are rendered from the
catalog when delivered, from ``kind`` and ``params`` (which hold no personal data).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import AwareDateTime, enum_check, utc_now
from shequ.registry.models import Base
from shequ.services.accounts.crypto import EncryptedText


class Channel(StrEnum):
    """Where a notification goes besides the in-app list."""

    EMAIL = "email"
    SMS = "sms"
    WECHAT = "wechat"


class DeliveryStatus(StrEnum):
    """A delivery's state: waiting (or waiting to retry), leased by a dispatcher, sent,
    given up after its last attempt, or skipped (no address, or the channel is off)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Notification(Base):
    """One event told to one user."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable name of the event for this user, e.g. ``service_request_event:42``.
    event_id: Mapped[str] = mapped_column(String(160), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    # JSON object of the message's placeholders (ids, dates, names of places; no person).
    params: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime(), default=utc_now)
    read_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime())


class Delivery(Base):
    """One notification on one channel: its state, attempts and the next try."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel"),
        enum_check("channel", Channel, name="channel_value"),
        enum_check("status", DeliveryStatus, name="status_value"),
        Index("ix_notification_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notification.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(AwareDateTime())
    # The claim of a dispatcher: its random token and until when it holds the delivery.
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[dt.datetime | None] = mapped_column(AwareDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime())


class DeliveryAttempt(Base):
    """The delivery log: one try of one delivery and how it ended."""

    __tablename__ = "notification_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notification_delivery.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(AwareDateTime())
    # "sent", "retry", "failed" or "skipped"; "handing" from the hand-over to the channel
    # until its answer, "interrupted" when its dispatcher stopped in between (the message
    # may have arrived; it is sent again under the same event id)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(500))


class NotificationPreference(Base):
    """A user's channels and quiet hours; no row: in-app only, in zh-CN."""

    __tablename__ = "notification_preference"

    # An id of its own, as every table with encrypted columns (``shequ db reencrypt``
    # walks them by id).
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"),
                                         unique=True)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    email_on: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column("email_enc", EncryptedText("notify.email"))
    sms_on: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column("phone_enc", EncryptedText("notify.phone"))
    wechat_on: Mapped[bool] = mapped_column(Boolean, default=False)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    # Minutes after midnight, China time; both set: nothing but in-app from start to end
    # (across midnight when start > end).
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(AwareDateTime(), default=utc_now)
