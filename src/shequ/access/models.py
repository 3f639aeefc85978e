"""The access tables: life-circle coverage per community, read by the indicators.

``community_access`` has one row per (community ``division_code``, ``facility_type``,
``distance_m``, ``period``): ``covered_share`` is the share of the community's residents
(or of its residence points, weighted by their population; a community given only by its
representative point is 0 or 1) within ``distance_m`` metres' walk on the street network
of a facility of that type in service on 31 December of ``period`` (the year);
``nearest_m`` is the walking distance from the representative point (population-weighted
median over residence points), NULL beyond the search cap.  Indicators compute "residents
within X m of type T" in year Y as Σ residents × covered_share over the communities of a
division, from the rows of year Y (or the nearest year computed, see
:mod:`shequ.indicators.engine`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import division_code_column
from shequ.registry.models import Base


class CommunityAccess(Base):
    """Walking coverage of one community by one facility type at one tier distance."""

    __tablename__ = "community_access"
    __table_args__ = (
        UniqueConstraint("division_code", "facility_type", "distance_m", "period",
                         name="uq_community_access_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_code: Mapped[str] = division_code_column(index=True)
    facility_type: Mapped[str] = mapped_column(String(48))
    distance_m: Mapped[int] = mapped_column(Integer)
    period: Mapped[int] = mapped_column(Integer)  # the year whose facilities were evaluated
    covered_share: Mapped[float] = mapped_column(Float)
    nearest_m: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
