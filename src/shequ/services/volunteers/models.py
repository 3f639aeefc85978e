"""Tables of volunteer service: registered volunteers, activities, sign-ups and hours.

Communities and social organisations publish activities; registered volunteers sign
up; after the activity the volunteer (or the organiser) records the minutes served and
the organiser confirms them.  Only confirmed minutes count in a volunteer's record and
in the totals per community that feed the indicators.

Times are China Standard Time wall clock in Python and aware instants in the database
(:class:`shequ.registry.columns.ChinaDateTime`).  User ids are foreign keys to
``app_user``: a volunteer's or organiser's account cannot be deleted while its record
exists (confirmed hours feed the indicators; accounts are deactivated instead); the staff
who recorded or confirmed minutes may be, and the minutes stay.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import ChinaDateTime, CreatedAtLocal, division_code_column, enum_check
from shequ.registry.models import Base


class OrganiserKind(StrEnum):
    """Who publishes a volunteer activity."""

    COMMUNITY = "community"
    SOCIAL_ORGANISATION = "social_organisation"


class ActivityStatus(StrEnum):
    """A published activity may be cancelled or, once held, completed."""

    PUBLISHED = "published"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class SignupStatus(StrEnum):
    """A volunteer's place on an activity."""

    SIGNED_UP = "signed_up"
    WITHDRAWN = "withdrawn"


class HoursStatus(StrEnum):
    """The served minutes of a sign-up: not yet recorded, recorded, confirmed, rejected."""

    NONE = "none"
    RECORDED = "recorded"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class Volunteer(Base):
    """A registered volunteer (one per account), counted in their community."""

    __tablename__ = "volunteer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="RESTRICT"), unique=True)
    division_code: Mapped[str] = division_code_column(index=True)
    display_name: Mapped[str] = mapped_column(String(100))
    skills: Mapped[str] = mapped_column(String(300), default="")
    registered_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class VolunteerActivity(CreatedAtLocal, Base):
    """A volunteer activity published by a community or a social organisation."""

    __tablename__ = "volunteer_activity"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="time_order"),
        CheckConstraint("places IS NULL OR places >= 1", name="places"),
        enum_check("organiser_kind", OrganiserKind, name="organiser_kind_value"),
        enum_check("status", ActivityStatus, name="status_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_code: Mapped[str] = division_code_column(index=True)
    organiser_kind: Mapped[str] = mapped_column(String(24))
    organiser_name: Mapped[str] = mapped_column(String(200))
    organiser_user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    # The volunteer service station (a registry facility) the activity runs from, if any.
    station_facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facility.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    places: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=ActivityStatus.PUBLISHED.value)


class VolunteerSignup(Base):
    """A volunteer's sign-up for an activity, with the minutes served and their check."""

    __tablename__ = "volunteer_signup"
    __table_args__ = (
        UniqueConstraint("activity_id", "volunteer_id", name="uq_volunteer_signup_once"),
        enum_check("status", SignupStatus, name="status_value"),
        enum_check("hours_status", HoursStatus, name="hours_status_value"),
        CheckConstraint("minutes IS NULL OR minutes BETWEEN 1 AND 1440", name="minutes"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("volunteer_activity.id", ondelete="CASCADE"), index=True)
    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteer.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=SignupStatus.SIGNED_UP.value)
    signed_up_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    minutes: Mapped[int | None] = mapped_column(Integer)
    hours_status: Mapped[str] = mapped_column(String(16), default=HoursStatus.NONE.value)
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"))
    recorded_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    confirmed_by: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
