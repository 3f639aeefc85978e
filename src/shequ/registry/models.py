"""The registry's tables: divisions, facilities, workforce, population.

Divisions are time-versioned: a row is one version of a unit, valid from
``valid_from`` (inclusive) to ``valid_to`` (exclusive, open when NULL).  Merges,
splits and renames close a version and open new ones, and ``DivisionChange``
records which codes became which, so any question can be asked "as of" a date.

Everything else refers to a division by its 12-digit code, not by row id, so a
facility keeps its place when its community gets a new version (a rename).
Rows made up by the demo generator carry ``synthetic = True`` and a ``source``
that names the generator and seed; pages and exports show that label.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from shequ.registry.columns import division_code_column, enum_check

# The plain enums live in shequ.registry.levels (no SQLAlchemy there, so the compute
# cores use them); the aliases re-export them for the modules that name them from here.
from shequ.registry.levels import ACTIVE_STATUSES as ACTIVE_STATUSES  # noqa: PLC0414
from shequ.registry.levels import BoundaryScale, PlacedBy, code_authority
from shequ.registry.levels import DivisionKind as DivisionKind  # noqa: PLC0414
from shequ.registry.levels import DivisionLevel as DivisionLevel  # noqa: PLC0414
from shequ.registry.levels import FacilityStatus as FacilityStatus  # noqa: PLC0414

# Stable constraint names so that migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every Shequ table (registry, analyses and services)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# The years a registry figure (population, workforce, coverage, an indicator) may be for:
# the records start with the Republic.
MIN_PERIOD, MAX_PERIOD = 1949, 2100


class OperatorKind(StrEnum):
    """Who runs a facility; non-government operators may run it as "space for services"."""

    GOVERNMENT = "government"
    SOCIAL_ORGANISATION = "social_organisation"
    ENTERPRISE = "enterprise"
    COLLECTIVE = "collective"


class FundingSource(StrEnum):
    """Where a facility's investment came from."""

    SPECIAL_BONDS = "special_bonds"
    CENTRAL_BUDGET = "central_budget"
    LOCAL_BUDGET = "local_budget"
    LOTTERY_WELFARE_FUND = "lottery_welfare_fund"
    SOCIAL_CAPITAL = "social_capital"
    OTHER = "other"


class WorkforceRole(StrEnum):
    """Roles counted in the community workforce."""

    COMMUNITY_WORKER = "community_worker"
    SOCIAL_WORKER = "social_worker"
    VOLUNTEER = "volunteer"


class Certification(StrEnum):
    """Social work qualification held (national vocational levels)."""

    NONE = "none"
    ASSISTANT_SOCIAL_WORKER = "assistant_social_worker"
    SOCIAL_WORKER = "social_worker"
    SENIOR_SOCIAL_WORKER = "senior_social_worker"


class Division(Base):
    """One version of an administrative unit (province … community/village)."""

    __tablename__ = "division"
    __table_args__ = (
        UniqueConstraint("code", "valid_from", name="uq_division_code_valid_from"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
        CheckConstraint("length(code) = 12", name="code_length"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity_order"),
        Index("ix_division_parent_code", "parent_code"),
        Index("ix_division_name", "name"),
        Index("ix_division_level_code", "level", "code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = division_code_column(index=True)
    level: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str | None] = division_code_column()
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    urban_rural: Mapped[str | None] = mapped_column(String(3))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    # "adcode" for codes matched to published county codes, "nbs-range" for township and
    # village parts derived from the NBS digit ranges, "import" for codes given by a user.
    code_source: Mapped[str] = mapped_column(String(32), default="import")
    source: Mapped[str] = mapped_column(String(200), default="import")
    # Synthetic geography (demo): a representative point of the unit.
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    area_km2: Mapped[float | None] = mapped_column(Float)
    synthetic_geography: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def code_authority(self) -> str:
        """``official`` or ``derived``: whether the code was published (or given by its
        importer) or made from the NBS digit ranges (:func:`levels.code_authority`)."""
        return code_authority(self.code_source)

    @property
    def is_urban(self) -> bool | None:
        """Urban when the urban–rural class code starts with 1, rural with 2."""
        if not self.urban_rural:
            return None
        return self.urban_rural.startswith("1")


# What can happen to a division (registry.changes); the links and events name them.
CHANGE_KINDS = ("merge", "split", "rename", "recode", "reparent", "abolish", "create")


class DivisionChangeEvent(Base):
    """One division change as it was decided: its kind, effective date, the codes before
    and after, a split's shares, who recorded it and when (the links below point to it)."""

    __tablename__ = "division_change_event"
    __table_args__ = (
        CheckConstraint("kind IN ('merge', 'split', 'rename', 'recode', 'reparent', "
                        "'abolish', 'create')", name="kind_value"),
        Index("ix_division_change_event_effective_on", "effective_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    # JSON lists: ["130123102204", …]; shares {"130123102220": 0.6, …} for a split.
    old_codes: Mapped[str] = mapped_column(Text)
    new_codes: Mapped[str] = mapped_column(Text)
    shares: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Where it came from: "cli", "api", or "file: name.xlsx row 4".
    source: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


class DivisionChange(Base):
    """A predecessor → successor link created by a change (``share``: the part of the
    predecessor's people that went to this successor; 1 unless split)."""

    __tablename__ = "division_change"
    __table_args__ = (
        CheckConstraint("event IN ('merge', 'split', 'rename', 'recode', 'reparent', "
                        "'abolish', 'create')", name="event_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_on: Mapped[dt.date] = mapped_column(Date)
    event: Mapped[str] = mapped_column(String(16))
    predecessor_code: Mapped[str] = division_code_column(index=True)
    successor_code: Mapped[str | None] = division_code_column(index=True)
    note: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("division_change_event.id", ondelete="CASCADE"), index=True)
    share: Mapped[float | None] = mapped_column(Float)


_PLACED_BY = ", ".join(f"'{p.value}'" for p in PlacedBy)


class Facility(Base):
    """A service facility: a building, a room, a field or a terminal."""

    __tablename__ = "facility"
    __table_args__ = (
        CheckConstraint("floor_area_m2 IS NULL OR floor_area_m2 >= 0", name="floor_area"),
        CheckConstraint(
            "activity_area_m2 IS NULL OR activity_area_m2 >= 0", name="activity_area"
        ),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
        enum_check("status", FacilityStatus, name="status_value"),
        CheckConstraint(f"placed_by IS NULL OR placed_by IN ({_PLACED_BY})",
                        name="placed_by_value"),
        Index("ix_facility_division_type", "division_code", "type_code"),
        Index("ix_facility_lon_lat", "longitude", "latitude"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A caller's stable identifier (import files, other systems); unique when given.
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    type_code: Mapped[str] = mapped_column(String(48), index=True)
    division_code: Mapped[str] = division_code_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    floor_area_m2: Mapped[float | None] = mapped_column(Float)
    activity_area_m2: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int | None] = mapped_column(Integer)
    opening_hours: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(24), default=FacilityStatus.IN_SERVICE.value)
    planned_on: Mapped[dt.date | None] = mapped_column(Date)
    construction_started_on: Mapped[dt.date | None] = mapped_column(Date)
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    investment_cny: Mapped[float | None] = mapped_column(Float)
    funding_source: Mapped[str | None] = mapped_column(String(32))
    operator_kind: Mapped[str | None] = mapped_column(String(32))
    operator_name: Mapped[str | None] = mapped_column(String(200))
    # A non-government provider runs services in public space instead of paying rent.
    space_for_services: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("facility.id", ondelete="SET NULL"), index=True
    )
    phone: Mapped[str | None] = mapped_column(String(40))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200), default="import")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # How the facility found its division (PlacedBy); NULL for rows stored before 0013.
    placed_by: Mapped[str | None] = mapped_column(String(16))

    parent: Mapped[Facility | None] = relationship(remote_side="Facility.id")


class Workforce(Base):
    """Community workforce in one division and year, by role and certification."""

    __tablename__ = "workforce"
    __table_args__ = (
        UniqueConstraint(
            "division_code", "period", "role", "certification", name="uq_workforce_key"
        ),
        CheckConstraint("headcount >= 0", name="headcount"),
        enum_check("role", WorkforceRole, name="role_value"),
        enum_check("certification", Certification, name="certification_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_code: Mapped[str] = division_code_column(index=True)
    period: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(32))
    certification: Mapped[str] = mapped_column(String(32), default=Certification.NONE.value)
    headcount: Mapped[int] = mapped_column(Integer)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200), default="import")


class Population(Base):
    """Aggregate population of one community or village in one year (no personal records)."""

    __tablename__ = "population"
    __table_args__ = (
        UniqueConstraint("division_code", "period", name="uq_population_key"),
        CheckConstraint(
            "residents >= 0 AND households >= 0 AND age_0_2 >= 0 AND age_3_5 >= 0 "
            "AND age_6_14 >= 0 AND age_60_plus >= 0 AND age_80_plus >= 0 "
            "AND disabled >= 0 AND assisted_households >= 0",
            name="non_negative",
        ),
        CheckConstraint("age_80_plus <= age_60_plus", name="age_80_within_60"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_code: Mapped[str] = division_code_column(index=True)
    period: Mapped[int] = mapped_column(Integer)
    residents: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    age_0_2: Mapped[int] = mapped_column(Integer, default=0)
    age_3_5: Mapped[int] = mapped_column(Integer, default=0)
    age_6_14: Mapped[int] = mapped_column(Integer, default=0)
    age_60_plus: Mapped[int] = mapped_column(Integer, default=0)
    age_80_plus: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[int] = mapped_column(Integer, default=0)
    # Households receiving minimum-living or special-hardship assistance.
    assisted_households: Mapped[int] = mapped_column(Integer, default=0)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200), default="import")


class RegistryMeta(Base):
    """Key–value facts about the loaded registry (the demo region, its seed, load times)."""

    __tablename__ = "registry_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class _PostGISMultiPolygon(UserDefinedType[bytes]):
    """PostGIS's ``geometry(MultiPolygon,4326)``."""

    cache_ok = True

    def get_col_spec(self, **_kw: object) -> str:
        return "geometry(MultiPolygon,4326)"


class BoundaryShape(TypeDecorator[bytes]):
    """A multipolygon in WGS84, given and read as (E)WKB bytes.

    PostgreSQL keeps it as a PostGIS ``geometry(MultiPolygon,4326)`` (spatial queries
    and a GiST index in the database; the bytes must carry SRID 4326), SQLite as a blob
    (spatial queries in process, :mod:`shequ.registry.boundaries`).
    """

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[bytes]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PostGISMultiPolygon())
        return dialect.type_descriptor(LargeBinary())

    def process_result_value(self, value: object, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, str):  # PostGIS hands geometry out as hex EWKB
            return bytes.fromhex(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise TypeError(f"a boundary column gave {type(value).__name__}, not bytes")


class DivisionBoundary(Base):
    """The boundary of one division version, as imported or simplified for one map scale.

    The bounding box columns let SQLite narrow a point's candidates before the exact test;
    PostgreSQL uses the GiST index on ``shape`` instead (created by migration 0013 only
    there).
    """

    __tablename__ = "division_boundary"
    __table_args__ = (
        UniqueConstraint("division_id", "scale", name="uq_division_boundary_version_scale"),
        enum_check("scale", BoundaryScale, name="scale_value"),
        Index("ix_division_boundary_scale_box", "scale", "min_lon", "max_lon"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("division.id", ondelete="CASCADE"))
    code: Mapped[str] = division_code_column(index=True)
    scale: Mapped[str] = mapped_column(String(8))
    shape: Mapped[bytes] = mapped_column(BoundaryShape())
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200), default="import")
