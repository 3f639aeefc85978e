"""plan: scenarios (named sets of facility changes) and their changes

Revision ID: 0004
Revises: 0001
"""



from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("plan",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('plan_scenario',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=32), nullable=True),
    sa.Column('parameters', sa.Text(), nullable=True),
    sa.Column('evaluation', sa.Text(), nullable=True),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('adopted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'adopted')", name=op.f('ck_plan_scenario_status_value')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_scenario')),
    sa.UniqueConstraint('name', name=op.f('uq_plan_scenario_name'))
    )
    with op.batch_alter_table('plan_scenario', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_scenario_division_code'), ['division_code'], unique=False)

    op.create_table('plan_scenario_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scenario_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=True),
    sa.Column('type_code', sa.String(length=48), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('floor_area_m2', sa.Float(), nullable=True),
    sa.Column('activity_area_m2', sa.Float(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('cost_cny', sa.Float(), nullable=False),
    sa.Column('funding_source', sa.String(length=32), nullable=True),
    sa.Column('space_for_services', sa.Boolean(), nullable=False),
    sa.Column('adopted_facility_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("action IN ('new', 'reuse', 'close', 'enlarge')", name=op.f('ck_plan_scenario_change_action_value')),
    sa.CheckConstraint('activity_area_m2 IS NULL OR activity_area_m2 >= 0', name=op.f('ck_plan_scenario_change_activity_area')),
    sa.CheckConstraint('cost_cny >= 0', name=op.f('ck_plan_scenario_change_cost')),
    sa.CheckConstraint('floor_area_m2 IS NULL OR floor_area_m2 >= 0', name=op.f('ck_plan_scenario_change_floor_area')),
    sa.ForeignKeyConstraint(['adopted_facility_id'], ['facility.id'], name=op.f('fk_plan_scenario_change_adopted_facility_id_facility'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], name=op.f('fk_plan_scenario_change_facility_id_facility'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scenario_id'], ['plan_scenario.id'], name=op.f('fk_plan_scenario_change_scenario_id_plan_scenario'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_scenario_change'))
    )
    with op.batch_alter_table('plan_scenario_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_scenario_change_division_code'), ['division_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_scenario_change_scenario_id'), ['scenario_id'], unique=False)


def downgrade() -> None:
    # Rows of these tables would be lost; refused unless -x allow_data_loss=true.
    refuse_data_loss("plan_scenario_change", "plan_scenario")
    with op.batch_alter_table('plan_scenario_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_scenario_change_scenario_id'))
        batch_op.drop_index(batch_op.f('ix_plan_scenario_change_division_code'))

    op.drop_table('plan_scenario_change')
    with op.batch_alter_table('plan_scenario', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_scenario_division_code'))

    op.drop_table('plan_scenario')
