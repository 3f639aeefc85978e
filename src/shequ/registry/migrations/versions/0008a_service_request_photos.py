"""services: photos of service requests

``service_request_photo`` lists the photos a resident or a handler attached to a request:
the files themselves live under the data folder (``media/requests/<request id>/``), named
by each row's unguessable token.  A new table only; no row of another table changes.

Revision ID: 0008a
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0008a"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_request_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=48), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("kept_location", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["service_request.id"],
                                name=op.f("fk_service_request_photo_request_id_service_request"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"],
                                name=op.f("fk_service_request_photo_created_by_id_app_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_request_photo")),
        sa.UniqueConstraint("token", name=op.f("uq_service_request_photo_token")),
    )
    with op.batch_alter_table("service_request_photo", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_request_photo_request_id"),
                              ["request_id"], unique=False)


def downgrade() -> None:
    # The rows name the stored files; dropping them orphans every photo on disk.  Refused
    # unless -x allow_data_loss=true.
    refuse_data_loss("service_request_photo")
    with op.batch_alter_table("service_request_photo", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_request_photo_request_id"))
    op.drop_table("service_request_photo")
