"""services: one index (service_code, longitude, latitude) for the duplicate search

The duplicate search asks for open requests of one kind inside a small box.  With
separate indexes on service_code and on (longitude, latitude), SQLite chose the
service_code one and read every request of that kind; the composite index answers the
kind and the longitude band from the index, and also serves lookups by kind alone.

Revision ID: 0005a
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005a"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_request", schema=None) as batch_op:
        batch_op.drop_index("ix_service_request_lon_lat")
        batch_op.drop_index("ix_service_request_service_code")
        batch_op.create_index("ix_service_request_code_lon_lat",
                              ["service_code", "longitude", "latitude"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("service_request", schema=None) as batch_op:
        batch_op.drop_index("ix_service_request_code_lon_lat")
        batch_op.create_index("ix_service_request_service_code", ["service_code"],
                              unique=False)
        batch_op.create_index("ix_service_request_lon_lat", ["longitude", "latitude"],
                              unique=False)
