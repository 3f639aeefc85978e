"""Tables of elderly day-care and nursery places: applications and held places.

A facility of type ``elderly_day_care`` or ``nursery`` has ``Facility.capacity``
places, numbered 1 … capacity.  An offer or an enrolment *holds* one place: a row of
``care_place_hold`` whose primary key is ``(facility_id, place_no)``.  That key is the
database's guarantee that two offers for the last place never both succeed; the
``application_id`` is unique as well, so one application never holds two places.
A hold is deleted when its offer lapses or is declined, or the enrolment ends, and the
freed place goes to the next applicant the priority rules put first.

Times are naive China Standard Time (see :mod:`shequ.services.bookings.clock`).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.models import CODE_LENGTH, Base


class ApplicationStatus(StrEnum):
    """Lifecycle of a place application.

    waiting → offered → accepted (enrolled) → ended; an offer may instead be declined or
    lapse at its deadline; a waiting application may be withdrawn.
    """

    WAITING = "waiting"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"
    ENDED = "ended"


HOLDING_STATUSES = (ApplicationStatus.OFFERED.value, ApplicationStatus.ACCEPTED.value)


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{m.value}'" for m in enum)


class CareApplication(Base):
    """A resident's application for a day-care or nursery place for a beneficiary."""

    __tablename__ = "care_application"
    __table_args__ = (
        CheckConstraint("status IN (" + _values(ApplicationStatus) + ")", name="status_value"),
        Index("ix_care_application_facility_status", "facility_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    applicant_user_id: Mapped[int] = mapped_column(Integer, index=True)
    # The access layer's resident record of the applicant, when there is one.
    resident_id: Mapped[int | None] = mapped_column(Integer)
    # The person to be cared for (an elderly resident or a child) and their community.
    beneficiary_name: Mapped[str] = mapped_column(String(100))
    beneficiary_birth_date: Mapped[dt.date] = mapped_column(Date)
    division_code: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    # Declared priority groups, comma-separated, sorted (e.g. "disabled,living_alone").
    priority_groups: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16))
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime)
    offered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    offer_deadline: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    place_no: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class CarePlaceHold(Base):
    """Place ``place_no`` of a facility, held by an open offer or an enrolment."""

    __tablename__ = "care_place_hold"
    __table_args__ = (
        PrimaryKeyConstraint("facility_id", "place_no", name="pk_care_place_hold"),
        CheckConstraint("place_no >= 1", name="place_no"),
    )

    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    place_no: Mapped[int] = mapped_column(Integer)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("care_application.id", ondelete="CASCADE"), unique=True)
    held_since: Mapped[dt.datetime] = mapped_column(DateTime)
