"""The reporting round's tables: rounds, what each asks for, the units' forms, their
values and the sign-off events.

A round (``reporting_round``) is opened by the nation or a province for one year (or one
quarter) with opening and due dates; ``reporting_round_item`` fixes the data items it asks
for when it opens (a later catalog change does not alter an open round).  Each community
or village has at most one form per round (``reporting_form``), made when it is first
saved; its values (``reporting_form_value``) hold a figure and the reporter's comment per
item.  ``reporting_form_event`` records every save, submission, approval, unapproval (with
its reason) and the write of the figures into the registry: the form's history.

Times are China wall clock (:class:`~shequ.registry.columns.ChinaDateTime`): a due date
is a local date, and a form is on time when it was first submitted on or before it.
User ids are plain integers (as in the other service branches that start at the
registry), with the username kept beside them for the history.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import ChinaDateTime, division_code_column, enum_check
from shequ.registry.models import Base


class Frequency(StrEnum):
    """How often a round's figures are asked for."""

    ANNUAL = "annual"
    QUARTERLY = "quarterly"


class FormStatus(StrEnum):
    """Where a unit's form stands: being filled, handed in, or signed off (by at least
    the first sign-off level; ``approved_level`` says how far up)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"


class FormAction(StrEnum):
    """What happened to a form (its history)."""

    SAVE = "save"
    SUBMIT = "submit"
    APPROVE = "approve"
    UNAPPROVE = "unapprove"
    APPLY = "apply"


class ReportingRound(Base):
    """A call for figures for one period, from the nation (``scope_code`` NULL) or a
    province (its code)."""

    __tablename__ = "reporting_round"
    __table_args__ = (
        CheckConstraint("due_on >= opens_on", name="due_after_opening"),
        CheckConstraint("quarter IS NULL OR quarter BETWEEN 1 AND 4", name="quarter_range"),
        enum_check("frequency", Frequency, name="frequency_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    period: Mapped[int] = mapped_column(Integer)
    frequency: Mapped[str] = mapped_column(String(16), default=Frequency.ANNUAL.value)
    quarter: Mapped[int | None] = mapped_column(Integer)
    scope_code: Mapped[str | None] = division_code_column()
    opens_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    created_by_id: Mapped[int | None] = mapped_column(Integer)

    @property
    def period_start(self) -> dt.date:
        """The first day the figures are for: 1 January, or the quarter's first day."""
        if self.frequency == Frequency.QUARTERLY.value and self.quarter is not None:
            return dt.date(self.period, 3 * self.quarter - 2, 1)
        return dt.date(self.period, 1, 1)

    @property
    def period_end(self) -> dt.date:
        """The last day the figures are for: 31 December, or the quarter's last day."""
        if self.frequency == Frequency.QUARTERLY.value and self.quarter is not None \
                and self.quarter < 4:
            return dt.date(self.period, 3 * self.quarter + 1, 1) - dt.timedelta(days=1)
        return dt.date(self.period, 12, 31)


class RoundItem(Base):
    """One data item a round asks for, in its data set (fixed when the round opens)."""

    __tablename__ = "reporting_round_item"
    __table_args__ = (
        UniqueConstraint("round_id", "item", name="uq_reporting_round_item_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("reporting_round.id", ondelete="CASCADE"), index=True)
    dataset: Mapped[str] = mapped_column(String(48))
    item: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)


class RoundForm(Base):
    """One community's or village's form in a round."""

    __tablename__ = "reporting_form"
    __table_args__ = (
        UniqueConstraint("round_id", "division_code", name="uq_reporting_form_key"),
        enum_check("status", FormStatus, name="status_value"),
        CheckConstraint("approved_level IS NULL OR approved_level BETWEEN 1 AND 4",
                        name="approved_level_range"),
        Index("ix_reporting_form_round_status", "round_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("reporting_round.id", ondelete="CASCADE"))
    division_code: Mapped[str] = division_code_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default=FormStatus.DRAFT.value)
    # The highest level that has signed the form off (4 street … 1 province), NULL before.
    approved_level: Mapped[int | None] = mapped_column(Integer)
    first_submitted_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    submitted_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    # When the figures last went into the registry and the indicator inputs.
    applied_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())


class FormValue(Base):
    """One item's figure on a form (NULL: left empty) and the reporter's comment."""

    __tablename__ = "reporting_form_value"
    __table_args__ = (
        UniqueConstraint("form_id", "item", name="uq_reporting_form_value_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(
        ForeignKey("reporting_form.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)


class FormEvent(Base):
    """One step in a form's history: who did what, at which level, when and why."""

    __tablename__ = "reporting_form_event"
    __table_args__ = (enum_check("action", FormAction, name="action_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(
        ForeignKey("reporting_form.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    level: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())
    reason: Mapped[str | None] = mapped_column(Text)


__all__ = ["FormAction", "FormEvent", "FormStatus", "FormValue", "Frequency",
           "ReportingRound", "RoundForm", "RoundItem"]
