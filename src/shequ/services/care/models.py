"""Tables of elderly day-care and nursery places: applications and held places.

A facility of type ``elderly_day_care`` or ``nursery`` has ``Facility.capacity``
places, numbered 1 … capacity.  An offer or an enrolment *holds* one place: a row of
``care_place_hold`` whose primary key is ``(facility_id, place_no)``.  That key is the
database's guarantee that two offers for the last place never both succeed; the
``application_id`` is unique as well, so one application never holds two places.
A hold is deleted when its offer lapses or is declined, or the enrolment ends, and the
freed place goes to the next applicant the priority rules put first.

Times are China Standard Time wall clock in Python and aware instants in the database
(:class:`shequ.registry.columns.ChinaDateTime`).  The applicant is a foreign key to
``app_user``: an account with applications cannot be deleted (it is deactivated), so the
waiting list keeps who applied.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import ChinaDateTime, division_code_column, enum_check
from shequ.registry.models import Base
from shequ.services.accounts.crypto import EncryptedDate, EncryptedText


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


class CareApplication(Base):
    """A resident's application for a day-care or nursery place for a beneficiary."""

    __tablename__ = "care_application"
    __table_args__ = (
        enum_check("status", ApplicationStatus, name="status_value"),
        Index("ix_care_application_facility_status", "facility_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"))
    applicant_user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    # The access layer's resident record of the applicant, when there is one.
    resident_id: Mapped[int | None] = mapped_column(Integer)
    # The person to be cared for (an elderly resident or a child) and their community.
    # Name, birth date, priority groups (disability among them) and notes are health and
    # identity data: stored only encrypted (``*_enc`` columns; the attributes hold clear
    # values); lists show ``beneficiary_name_masked``.
    beneficiary_name: Mapped[str] = mapped_column(
        "beneficiary_name_enc", EncryptedText("care.beneficiary_name"))
    beneficiary_name_masked: Mapped[str] = mapped_column(String(100))
    beneficiary_birth_date: Mapped[dt.date] = mapped_column(
        "beneficiary_birth_date_enc", EncryptedDate("care.beneficiary_birth_date"))
    division_code: Mapped[str] = division_code_column(index=True)
    # Declared priority groups, comma-separated, sorted (e.g. "disabled,living_alone").
    priority_groups: Mapped[str] = mapped_column(
        "priority_groups_enc", EncryptedText("care.priority_groups"), default="")
    status: Mapped[str] = mapped_column(String(16))
    applied_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    offered_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    offer_deadline: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    place_no: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column("note_enc", EncryptedText("care.note"))


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
    held_since: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
