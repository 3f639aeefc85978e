"""The indicator tables: stored runs and values, and the input table for measures the
registry does not hold.

A run records when it was computed, the hierarchy date (``as_of``), the periods, the
inputs' time stamp (the latest change to facilities, population and workforce it read)
and a digest of the catalog files, so that a report can say exactly what it shows and be
reproduced.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import division_code_column
from shequ.registry.models import Base


class IndicatorRun(Base):
    """One computation of the indicators over (part of) the registry."""

    __tablename__ = "indicator_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    as_of: Mapped[dt.date] = mapped_column(Date)
    periods: Mapped[str] = mapped_column(String(200))
    inputs_stamp: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    catalog_digest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)


class IndicatorValue(Base):
    """One indicator for one division and period in a run, with its target and status."""

    __tablename__ = "indicator_value"
    __table_args__ = (
        UniqueConstraint("run_id", "indicator", "division_code", "period",
                         name="uq_indicator_value_key"),
        Index("ix_indicator_value_lookup", "indicator", "division_code", "period"),
        Index("ix_indicator_value_run_division", "run_id", "division_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("indicator_run.id", ondelete="CASCADE"))
    indicator: Mapped[str] = mapped_column(String(32))
    division_code: Mapped[str] = division_code_column()
    level: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(Integer)
    numerator: Mapped[float] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    target_jurisdiction: Mapped[str | None] = division_code_column()
    projected: Mapped[float | None] = mapped_column(Float)
    # Only the run's latest period carries a status (it needs the history before it).
    status: Mapped[str | None] = mapped_column(String(16))


class IndicatorInput(Base):
    """A measure the registry does not hold (e.g. residential floor area), per unit and year."""

    __tablename__ = "indicator_input"
    __table_args__ = (
        UniqueConstraint("division_code", "period", "measure", name="uq_indicator_input_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_code: Mapped[str] = division_code_column(index=True)
    period: Mapped[int] = mapped_column(Integer)
    measure: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200), default="import")


__all__ = ["IndicatorInput", "IndicatorRun", "IndicatorValue"]
