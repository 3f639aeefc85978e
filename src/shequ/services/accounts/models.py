"""Tables of accounts and access: users, residents' personal records, API keys, audit log.

A resident's name, address and numbers are stored only as AES-GCM ciphertext (``*_enc``
columns, :mod:`shequ.services.accounts.crypto`; the attributes hold clear values); the
name also has a masked form for lists, and the identity number a keyed hash so that a
duplicate can be found without decrypting every row.
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
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import CreatedAt, division_code_column, enum_check, utc_now
from shequ.registry.models import Base
from shequ.services.accounts.crypto import EncryptedText


class Role(StrEnum):
    """What a user is; staff roles come with a jurisdiction of a matching level."""

    RESIDENT = "resident"
    COMMUNITY_WORKER = "community_worker"
    STREET_OFFICER = "street_officer"
    COUNTY_PLANNER = "county_planner"
    CITY_PLANNER = "city_planner"
    PROVINCE_PLANNER = "province_planner"
    NATIONAL_PLANNER = "national_planner"
    ADMIN = "admin"


class PriorityGroup(StrEnum):
    """The plan's priority groups (DOMAIN.md §1.3)."""

    ELDERLY = "elderly"
    DISABILITY = "disability"
    MINORS = "minors"
    FAMILY_IN_DIFFICULTY = "family_in_difficulty"


class Resident(CreatedAt, Base):
    """A resident's personal record, kept only where a service needs it."""

    __tablename__ = "resident"
    __table_args__ = (
        CheckConstraint("length(division_code) = 12", name="division_code_length"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The whole name, encrypted; lists show ``name_masked`` (张*).
    name: Mapped[str] = mapped_column("name_enc", EncryptedText("resident.name"))
    name_masked: Mapped[str] = mapped_column(String(100))
    identity_number_enc: Mapped[str | None] = mapped_column(EncryptedText("identity_number"))
    # HMAC-SHA256 of the normalised number, for uniqueness and look-up without decrypting.
    identity_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_enc: Mapped[str | None] = mapped_column(EncryptedText("phone"))
    address: Mapped[str | None] = mapped_column("address_enc", EncryptedText("resident.address"))
    division_code: Mapped[str] = division_code_column(index=True)
    # Comma-separated PriorityGroup values, e.g. "elderly,disability".
    priority_groups: Mapped[str] = mapped_column(String(100), default="")

    @property
    def priority_group_list(self) -> list[str]:
        """The priority groups as a list."""
        return [g for g in self.priority_groups.split(",") if g]


class User(CreatedAt, Base):
    """Someone who signs in: a resident or a staff member with a jurisdiction."""

    __tablename__ = "app_user"
    __table_args__ = (
        enum_check("role", Role, name="role_value"),
        CheckConstraint(
            "jurisdiction_code IS NULL OR length(jurisdiction_code) = 12",
            name="jurisdiction_length",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    # 12-digit division code; NULL for residents, national planners and administrators.
    jurisdiction_code: Mapped[str | None] = division_code_column(index=True)
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("resident.id", ondelete="SET NULL"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ApiKey(CreatedAt, Base):
    """A key an Open311 client application sends as ``api_key``; only its hash is kept."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # First characters of the key, shown in lists so that a key can be recognised.
    prefix: Mapped[str] = mapped_column(String(12))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The user on whose behalf requests come in (NULL: an anonymous public client).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditLog(Base):
    """One write, or one read of personal data: who, when, what, which record."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str] = mapped_column(String(48))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class SessionKind(StrEnum):
    """How a session is carried: a page cookie, or an API bearer token."""

    PAGE = "page"
    BEARER = "bearer"


class AccountSession(Base):
    """One sign-in: a page cookie or a bearer token, checked on every request.

    The token carries a random id signed with the secret; only its SHA-256 is stored, so
    the table cannot be used to sign in.  Signing out, a password change and an
    administrator's action set ``revoked_at``; idle and absolute time-outs end it too.
    """

    __tablename__ = "account_session"
    __table_args__ = (
        enum_check("kind", SessionKind, name="kind_value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    source_address: Mapped[str | None] = mapped_column(String(64))


class RateCounter(Base):
    """A windowed counter of the rate limits (sign-in attempts, public writes), shared by
    every worker process when no Redis is configured; ``expires_at`` is epoch seconds."""

    __tablename__ = "rate_counter"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
