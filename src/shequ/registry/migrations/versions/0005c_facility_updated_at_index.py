"""services: index facility.updated_at for the directory's change check

A server checks once a second whether the registry's facilities changed (count, latest
id, latest edit).  Without an index the latest edit meant reading every facility.

Revision ID: 0005c
Revises: 0005b
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005c"
down_revision: str | Sequence[str] | None = "0005b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.create_index("ix_facility_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_index("ix_facility_updated_at")
