"""The violations a round's figures raised: one row per unit, rule (or outlier check) and
round, kept for the violations list and its export.

``round_id`` names a ``reporting_round`` row; ``field`` is the form item the message is
shown beside; ``left_value`` / ``right_value`` are the two sides of a rule (the figure and
the bound it crossed for an outlier check) and ``params`` everything the message needs.
A unit's rows in a round are replaced each time its figures are checked, so the list says
what the latest figures break.  ``comment`` is the reporter's explanation of a warning.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import ChinaDateTime, division_code_column, enum_check
from shequ.registry.models import Base


class Importance(StrEnum):
    """An error refuses a submission; a warning asks for a comment."""

    ERROR = "error"
    WARNING = "warning"


class ViolationKind(StrEnum):
    """A broken rule or a figure far from the unit's history."""

    RULE = "rule"
    OUTLIER = "outlier"


class ValidationViolation(Base):
    """One rule or outlier check a unit's figures break in a round."""

    __tablename__ = "validation_violation"
    __table_args__ = (
        enum_check("importance", Importance, name="importance_value"),
        enum_check("kind", ViolationKind, name="kind_value"),
        # keyset pages in (division_code, id) order, narrowed by area, rule or importance
        Index("ix_validation_violation_page", "round_id", "division_code", "id"),
        Index("ix_validation_violation_rule", "round_id", "rule_code", "division_code", "id"),
        Index("ix_validation_violation_importance", "round_id", "importance",
              "division_code", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(Integer)
    division_code: Mapped[str] = division_code_column()
    rule_code: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(8))
    importance: Mapped[str] = mapped_column(String(8))
    field: Mapped[str | None] = mapped_column(String(64))
    left_value: Mapped[float | None] = mapped_column(Float)
    right_value: Mapped[float | None] = mapped_column(Float)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comment: Mapped[str | None] = mapped_column(Text)
    found_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())


__all__ = ["Importance", "ValidationViolation", "ViolationKind"]
