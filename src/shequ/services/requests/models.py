"""Tables of service requests (Open311 GeoReport v2 behind a real workflow) and their history."""

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

from shequ.registry.columns import division_code_column, enum_check
from shequ.registry.models import Base, Division
from shequ.services.accounts.crypto import EncryptedText


class RequestStatus(StrEnum):
    """Workflow states; Open311 sees ``closed`` for CLOSED and ``open`` for the rest."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ServiceRequest(Base):
    """A resident's request: what, where, who answers, by when, and how it went."""

    __tablename__ = "service_request"
    __table_args__ = (
        enum_check("status", RequestStatus, name="status_value"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_service_request_responsible_status", "responsible_code", "status"),
        # The duplicate search: one kind, a small box (also serves lookups by kind).
        Index("ix_service_request_code_lon_lat", "service_code", "longitude", "latitude"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    service_code: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.SUBMITTED.value)
    # Free text is stored masked (shequ.services.privacy); the whole text, only when it
    # held a number or an e-mail, encrypted beside it in ``*_enc``.
    description: Mapped[str | None] = mapped_column(Text)
    description_enc: Mapped[str | None] = mapped_column(EncryptedText("request.description"))
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    # The community (or other unit) the request is about, from the point or given code.
    division_code: Mapped[str] = division_code_column(index=True)
    # Which rule chose it (shequ.registry.levels.PlacedBy); NULL before migration 0013.
    placed_by: Mapped[str | None] = mapped_column(String(16))
    # The unit answering now: the community, or a unit above it after escalation.
    responsible_code: Mapped[str] = division_code_column()
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facility.id", ondelete="SET NULL"))
    submitter_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL"))
    # Contact details: AES-GCM ciphertext (shequ.services.accounts.crypto), never in clear;
    # the attributes hold the clear values.
    contact_name_enc: Mapped[str | None] = mapped_column(EncryptedText("request.contact_name"))
    contact_email_enc: Mapped[str | None] = mapped_column(
        EncryptedText("request.contact_email"))
    contact_phone_enc: Mapped[str | None] = mapped_column(EncryptedText("contact_phone"))
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    media_url: Mapped[str | None] = mapped_column(String(500))
    assigned_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    status_notes: Mapped[str | None] = mapped_column(Text)
    status_notes_enc: Mapped[str | None] = mapped_column(EncryptedText("request.status_notes"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    rating_comment_enc: Mapped[str | None] = mapped_column(
        EncryptedText("request.rating_comment"))
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_request.id", ondelete="SET NULL"))


class ServiceRequestEvent(Base):
    """One step of a request's history: a status change, an assignment, an escalation."""

    __tablename__ = "service_request_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Who took the step; the step stays if their account is deleted.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)  # masked, like the request's free text
    note_enc: Mapped[str | None] = mapped_column(EncryptedText("request_event.note"))


# Routing a request to the nearest community asks for level-5 divisions in a small box;
# the index lives with the query that needs it (migration 0005b).
Index("ix_division_level_lon", Division.level, Division.longitude)


class ServiceRequestPhoto(Base):
    """A photo of a request, stored re-encoded (no metadata, upright) under the data folder
    as ``media/requests/<request_id>/<token>.jpg`` with a thumbnail beside it; ``token`` is
    unguessable and names it in URLs (see :mod:`shequ.services.requests.media`)."""

    __tablename__ = "service_request_photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("service_request.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(48), unique=True)
    # Of the stored file (always JPEG now), with its size in bytes and its pixels.
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # The sender asked to keep the photo's GPS position (everything else is dropped).
    kept_location: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"))
