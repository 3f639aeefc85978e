"""Planning scenarios: named sets of changes to the registry, evaluated before anything is built.

A scenario belongs to a division (its jurisdiction prefix) and lists changes: a new
facility, a reused public space ("space for services"), a closure or an enlargement of
an existing facility, each with its cost and funding source.  Its last evaluation (the
indicator and life-circle deltas) is kept as JSON so scenarios can be compared side by
side without recomputing.  Adopting a scenario writes its new and reused facilities into
the registry with ``status = "planned"``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shequ.registry.columns import CreatedAt, division_code_column, enum_check
from shequ.registry.models import Base


class ScenarioStatus(StrEnum):
    """A scenario is a draft until adopted into the registry as planned facilities."""

    DRAFT = "draft"
    ADOPTED = "adopted"


class ChangeAction(StrEnum):
    """What a scenario does to one facility."""

    NEW = "new"          # build a new facility
    REUSE = "reuse"      # fit a service into existing public space (space for services)
    CLOSE = "close"      # close an existing facility
    ENLARGE = "enlarge"  # add floor area or capacity to an existing facility


class PlanScenario(CreatedAt, Base):
    """A named, stored plan for one division."""

    __tablename__ = "plan_scenario"
    __table_args__ = (
        enum_check("status", ScenarioStatus, name="status_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    division_code: Mapped[str] = division_code_column(index=True)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ScenarioStatus.DRAFT.value)
    # How the changes were found: the model, its parameters and result (JSON), if solved.
    model: Mapped[str | None] = mapped_column(String(32))
    parameters: Mapped[str | None] = mapped_column(Text)
    evaluation: Mapped[str | None] = mapped_column(Text)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    adopted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    changes: Mapped[list[PlanScenarioChange]] = relationship(
        back_populates="scenario", cascade="all, delete-orphan",
        order_by="PlanScenarioChange.id")


class PlanScenarioChange(Base):
    """One change of a scenario: a facility built, reused, closed or enlarged."""

    __tablename__ = "plan_scenario_change"
    __table_args__ = (
        enum_check("action", ChangeAction, name="action_value"),
        CheckConstraint("cost_cny >= 0", name="cost"),
        CheckConstraint("floor_area_m2 IS NULL OR floor_area_m2 >= 0", name="floor_area"),
        CheckConstraint("activity_area_m2 IS NULL OR activity_area_m2 >= 0",
                        name="activity_area"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("plan_scenario.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    # The existing facility closed, enlarged or whose space is reused (if any).
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facility.id", ondelete="SET NULL"))
    type_code: Mapped[str] = mapped_column(String(48))
    division_code: Mapped[str] = division_code_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    activity_area_m2: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int | None] = mapped_column(Integer)
    cost_cny: Mapped[float] = mapped_column(Float, default=0.0)
    funding_source: Mapped[str | None] = mapped_column(String(32))
    space_for_services: Mapped[bool] = mapped_column(Boolean, default=False)
    # The planned registry facility created when the scenario was adopted.
    adopted_facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facility.id", ondelete="SET NULL"))

    scenario: Mapped[PlanScenario] = relationship(back_populates="changes")
