"""Residents' reviews of services, facilities and closed requests.

A review is a score from 1 to 5 with an optional comment, by one resident about one
item (``subject_kind``, ``subject_id``) in one period (a calendar year, the period of
the registry and the assessment); the unique key allows one review per resident, item
and period.  The responsible community moderates the *comment* (hides abuse or
personal data) but not the score: a community cannot remove the scores it is assessed
on.

``created_at`` and ``moderated_at`` are China Standard Time wall clock in Python and aware
instants in the database (:class:`shequ.registry.columns.ChinaDateTime`).  The reviewer is
a foreign key to ``app_user`` that keeps an account with reviews from being deleted (its
scores count in the assessment); the moderator's account may go, the moderation stays.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import ChinaDateTime, CreatedAtLocal, division_code_column, enum_check
from shequ.registry.models import Base
from shequ.services.accounts.crypto import EncryptedText


class SubjectKind(StrEnum):
    """What a review is about."""

    FACILITY = "facility"
    SERVICE = "service"
    REQUEST = "request"
    BOOKING = "booking"
    CARE_PLACE = "care_place"
    VOLUNTEER_ACTIVITY = "volunteer_activity"


class CommentStatus(StrEnum):
    """Moderation state of a review's comment (the score always counts)."""

    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    HIDDEN = "hidden"


class Review(CreatedAtLocal, Base):
    """One resident's score (1–5) and comment on one item in one period."""

    __tablename__ = "review"
    __table_args__ = (
        UniqueConstraint("user_id", "subject_kind", "subject_id", "period",
                         name="uq_review_once_per_period"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        enum_check("subject_kind", SubjectKind, name="subject_kind_value"),
        enum_check("comment_status", CommentStatus, name="comment_status_value"),
        Index("ix_review_period_division", "period", "division_code"),
        Index("ix_review_subject", "subject_kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(64))
    # The community responsible for the item: it moderates and is assessed on the score.
    division_code: Mapped[str] = division_code_column()
    period: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    # Masked (shequ.services.privacy); the whole comment, when it held a number or an
    # e-mail, encrypted in ``comment_enc`` for the moderating community.
    comment: Mapped[str | None] = mapped_column(Text)
    comment_enc: Mapped[str | None] = mapped_column(EncryptedText("review.comment"))
    comment_status: Mapped[str] = mapped_column(String(16), default=CommentStatus.NONE.value)
    moderated_by: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"))
    moderated_at: Mapped[dt.datetime | None] = mapped_column(ChinaDateTime())
    moderation_note: Mapped[str | None] = mapped_column(String(500))
