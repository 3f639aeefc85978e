"""Tables of venue booking: bookable resources, bookings, recurring series, held slots.

A *resource* is a bookable room, hall or field inside a registry facility (community
rooms, cultural activity stations and centres, sports fields and venues).  A booking
covers whole slots of the resource's slot grid; every slot it covers is one row of
``booking_slot`` whose primary key is ``(resource_id, slot_start)``.  That key is the
database's guarantee that a slot is never given twice: of any number of concurrent
attempts only one insert of a given slot can commit, on SQLite and PostgreSQL alike.
Slot rows exist only while the booking is pending or approved; cancelling or rejecting
deletes them, so the slot can be booked again.

Times are China Standard Time wall clock in Python and aware instants in the database
(:class:`shequ.registry.columns.ChinaDateTime`).  User ids are foreign keys to
``app_user``: a booker's account cannot be deleted while their bookings exist (accounts
are deactivated instead); the staff member who decided may be, and the decision stays.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import ChinaDateTime, CreatedAtLocal, division_code_column, enum_check
from shequ.registry.models import Base


class BookingStatus(StrEnum):
    """Lifecycle of a booking; pending and approved bookings hold their slots."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


ACTIVE_BOOKING_STATUSES = (BookingStatus.PENDING.value, BookingStatus.APPROVED.value)


class BookerScope(StrEnum):
    """Whose residents may book a resource: its community, township, county or anyone."""

    COMMUNITY = "community"
    TOWNSHIP = "township"
    COUNTY = "county"
    ANYONE = "anyone"


class BookableResource(CreatedAtLocal, Base):
    """A room, hall or field of a facility that residents can book, with its rules."""

    __tablename__ = "booking_resource"
    __table_args__ = (
        CheckConstraint("slot_minutes BETWEEN 5 AND 1440", name="slot_minutes"),
        CheckConstraint("min_notice_minutes >= 0", name="min_notice"),
        CheckConstraint("max_advance_days >= 0", name="max_advance"),
        CheckConstraint("max_duration_minutes >= slot_minutes", name="max_duration"),
        CheckConstraint("max_series_occurrences >= 1", name="max_series"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
        enum_check("booker_scope", BookerScope, name="scope_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facility.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # People the room or field holds; a booking's attendees may not exceed it.
    capacity: Mapped[int | None] = mapped_column(Integer)
    # OSM opening_hours syntax; NULL means "the facility's opening hours".
    opening_hours: Mapped[str | None] = mapped_column(String(500))
    slot_minutes: Mapped[int] = mapped_column(Integer, default=60)
    approval_required: Mapped[bool] = mapped_column(Boolean, default=True)
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=60)
    max_advance_days: Mapped[int] = mapped_column(Integer, default=30)
    max_duration_minutes: Mapped[int] = mapped_column(Integer, default=240)
    # Comma-separated account roles that may book (e.g. "resident,community_worker").
    allowed_roles: Mapped[str] = mapped_column(String(200), default="resident,community_worker")
    booker_scope: Mapped[str] = mapped_column(String(16), default=BookerScope.TOWNSHIP.value)
    allow_series: Mapped[bool] = mapped_column(Boolean, default=False)
    max_series_occurrences: Mapped[int] = mapped_column(Integer, default=12)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class BookingSeries(CreatedAtLocal, Base):
    """A weekly recurring booking of a regular group (a choir every Tuesday evening)."""

    __tablename__ = "booking_series"
    __table_args__ = (
        CheckConstraint("occurrences >= 1", name="occurrences"),
        CheckConstraint("interval_weeks >= 1", name="interval"),
        CheckConstraint("duration_minutes > 0", name="duration"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("booking_resource.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    first_starts_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    duration_minutes: Mapped[int] = mapped_column(Integer)
    interval_weeks: Mapped[int] = mapped_column(Integer, default=1)
    occurrences: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(500))


class Booking(CreatedAtLocal, Base):
    """One booking of a resource from ``starts_at`` to ``ends_at`` (whole slots)."""

    __tablename__ = "booking"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="time_order"),
        CheckConstraint("attendees >= 1", name="attendees"),
        enum_check("status", BookingStatus, name="status_value"),
        Index("ix_booking_resource_starts", "resource_id", "starts_at"),
        Index("ix_booking_status_starts", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("booking_resource.id", ondelete="CASCADE"))
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking_series.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    # The booker's community, for reporting who uses which venue.
    division_code: Mapped[str | None] = division_code_column()
    starts_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    attendees: Mapped[int] = mapped_column(Integer, default=1)
    purpose: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    decision_note: Mapped[str | None] = mapped_column(String(500))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    reminder_sent_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())


class BookingSlot(Base):
    """One slot held by an active booking; the primary key forbids giving it twice."""

    __tablename__ = "booking_slot"
    __table_args__ = (PrimaryKeyConstraint("resource_id", "slot_start", name="pk_booking_slot"),)

    resource_id: Mapped[int] = mapped_column(
        ForeignKey("booking_resource.id", ondelete="CASCADE"))
    slot_start: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking.id", ondelete="CASCADE"), index=True)
