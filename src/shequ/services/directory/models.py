"""The directory's id map: each registry facility's HSDS ids (uuid5), kept in step by
:func:`shequ.services.directory.sync.sync_directory`."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.models import Base, Facility


class DirectoryEntry(Base):
    """One facility published as an HSDS service, location and service-at-location."""

    __tablename__ = "directory_entry"

    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facility.id", ondelete="CASCADE"), primary_key=True)
    service_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    location_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    service_at_location_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    organization_uuid: Mapped[str] = mapped_column(String(36), index=True)
    # The operator's name, or "division:<code>" for facilities run by their community.
    organization_key: Mapped[str] = mapped_column(String(220))


# The directory's change check asks for the latest facility edit every second; the index
# lives with the check that needs it (migration 0005c).
Index("ix_facility_updated_at", Facility.updated_at)
