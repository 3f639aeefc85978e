"""access: community_access, life-circle coverage per community, facility type and distance

Revision ID: 0003
Revises: 0001
"""



from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("access",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('community_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('facility_type', sa.String(length=48), nullable=False),
    sa.Column('distance_m', sa.Integer(), nullable=False),
    sa.Column('covered_share', sa.Float(), nullable=False),
    sa.Column('nearest_m', sa.Float(), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_community_access')),
    sa.UniqueConstraint('division_code', 'facility_type', 'distance_m', name='uq_community_access_key')
    )
    with op.batch_alter_table('community_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_community_access_division_code'), ['division_code'], unique=False)


def downgrade() -> None:
    # Rows of these tables would be lost; refused unless -x allow_data_loss=true.
    refuse_data_loss("community_access")
    with op.batch_alter_table('community_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_community_access_division_code'))

    op.drop_table('community_access')
