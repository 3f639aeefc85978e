"""services: index (level, longitude) on division for routing a request to its community

A request with a point goes to the nearest community: the routing query asks for
level-5 divisions inside a small box.  The (level, code) index made it read every
community (500 in a county, about 600 k nationwide); (level, longitude) reads the box's
longitude band only.

Revision ID: 0005b
Revises: 0005a
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005b"
down_revision: str | Sequence[str] | None = "0005a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("division", schema=None) as batch_op:
        batch_op.create_index("ix_division_level_lon", ["level", "longitude"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("division", schema=None) as batch_op:
        batch_op.drop_index("ix_division_level_lon")
