"""indicators: stored runs and values, input table for measures the registry lacks

Revision ID: 0002
Revises: 0001
"""



from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("indicators",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('indicator_input',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_input')),
    sa.UniqueConstraint('division_code', 'period', 'measure', name='uq_indicator_input_key')
    )
    with op.batch_alter_table('indicator_input', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicator_input_division_code'), ['division_code'], unique=False)

    op.create_table('indicator_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('periods', sa.String(length=200), nullable=False),
    sa.Column('inputs_stamp', sa.DateTime(timezone=True), nullable=True),
    sa.Column('catalog_digest', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_run'))
    )
    op.create_table('indicator_value',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('indicator', sa.String(length=32), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('numerator', sa.Float(), nullable=False),
    sa.Column('denominator', sa.Float(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('target', sa.Float(), nullable=True),
    sa.Column('target_jurisdiction', sa.String(length=12), nullable=True),
    sa.Column('projected', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['indicator_run.id'], name=op.f('fk_indicator_value_run_id_indicator_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_value')),
    sa.UniqueConstraint('run_id', 'indicator', 'division_code', 'period', name='uq_indicator_value_key')
    )
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.create_index('ix_indicator_value_lookup', ['indicator', 'division_code', 'period'], unique=False)
        batch_op.create_index('ix_indicator_value_run_division', ['run_id', 'division_code'], unique=False)


def downgrade() -> None:
    # Rows of these tables would be lost; refused unless -x allow_data_loss=true.
    refuse_data_loss("indicator_value", "indicator_run", "indicator_input")
    with op.batch_alter_table('indicator_value', schema=None) as batch_op:
        batch_op.drop_index('ix_indicator_value_run_division')
        batch_op.drop_index('ix_indicator_value_lookup')

    op.drop_table('indicator_value')
    op.drop_table('indicator_run')
    with op.batch_alter_table('indicator_input', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indicator_input_division_code'))

    op.drop_table('indicator_input')
