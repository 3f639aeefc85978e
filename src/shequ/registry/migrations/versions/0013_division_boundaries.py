"""registry: division boundaries; how located records were placed

``division_boundary`` holds a division version's boundary as imported and simplified for
each map scale: on PostgreSQL a PostGIS ``geometry(MultiPolygon,4326)`` with a GiST index
(the extension is created here, only on PostgreSQL), on SQLite WKB in a blob.
``facility.placed_by`` and ``service_request.placed_by`` say which rule put the record in
its division ('boundary', 'nearest_point' or 'code'); rows stored before stay NULL (the
rule that placed them was not recorded).

Revision ID: 0013
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss
from shequ.registry.models import BoundaryShape

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLACED_BY = "placed_by IS NULL OR placed_by IN ('boundary', 'nearest_point', 'code')"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "division_boundary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("division_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("scale", sa.String(length=8), nullable=False),
        sa.Column("shape", BoundaryShape(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint("scale IN ('full', 'fine', 'medium', 'coarse')",
                           name=op.f("ck_division_boundary_scale_value")),
        sa.ForeignKeyConstraint(["division_id"], ["division.id"],
                                name=op.f("fk_division_boundary_division_id_division"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_division_boundary")),
        sa.UniqueConstraint("division_id", "scale",
                            name="uq_division_boundary_version_scale"),
    )
    with op.batch_alter_table("division_boundary", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_division_boundary_code"), ["code"], unique=False)
        batch_op.create_index("ix_division_boundary_scale_box", ["scale", "min_lon", "max_lon"],
                              unique=False)
    if postgres:
        # Only the whole shapes: points are located on them, the simplified copies are
        # read by code.
        op.execute("CREATE INDEX ix_division_boundary_shape ON division_boundary "
                   "USING gist (shape) WHERE scale = 'full'")
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placed_by", sa.String(length=16), nullable=True))
        batch_op.create_check_constraint("placed_by_value", _PLACED_BY)
    with op.batch_alter_table("service_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placed_by", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # Boundaries are imported data, and placed_by the record of which rule placed a row;
    # dropping either loses them.  Refused unless -x allow_data_loss=true.
    refuse_data_loss("division_boundary", columns=(("facility", "placed_by"),
                                                  ("service_request", "placed_by")))
    with op.batch_alter_table("service_request", schema=None) as batch_op:
        batch_op.drop_column("placed_by")
    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_constraint("placed_by_value", type_="check")
        batch_op.drop_column("placed_by")
    op.drop_table("division_boundary")
