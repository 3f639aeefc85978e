"""reporting rounds: rounds, their items, the units' forms, values and sign-off events

Division codes and user ids are plain columns (as in the other service branches), so the
branch starts from the registry (0001) only.

Revision ID: 0010
Revises: 0001
Create Date: 2026-12-04 17:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = ('reporting',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'reporting_round',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('period', sa.Integer(), nullable=False),
        sa.Column('frequency', sa.String(length=16), nullable=False),
        sa.Column('quarter', sa.Integer(), nullable=True),
        sa.Column('scope_code', sa.String(length=12), nullable=True),
        sa.Column('opens_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('due_on >= opens_on',
                           name=op.f('ck_reporting_round_due_after_opening')),
        sa.CheckConstraint("frequency IN ('annual', 'quarterly')",
                           name=op.f('ck_reporting_round_frequency_value')),
        sa.CheckConstraint('quarter IS NULL OR quarter BETWEEN 1 AND 4',
                           name=op.f('ck_reporting_round_quarter_range')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_round')),
    )
    op.create_table(
        'reporting_round_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=False),
        sa.Column('dataset', sa.String(length=48), nullable=False),
        sa.Column('item', sa.String(length=64), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['round_id'], ['reporting_round.id'],
                                name=op.f('fk_reporting_round_item_round_id_reporting_round'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_round_item')),
        sa.UniqueConstraint('round_id', 'item', name='uq_reporting_round_item_key'),
    )
    with op.batch_alter_table('reporting_round_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporting_round_item_round_id'), ['round_id'],
                              unique=False)
    op.create_table(
        'reporting_form',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('round_id', sa.Integer(), nullable=False),
        sa.Column('division_code', sa.String(length=12), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('approved_level', sa.Integer(), nullable=True),
        sa.Column('first_submitted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('approved_level IS NULL OR approved_level BETWEEN 1 AND 4',
                           name=op.f('ck_reporting_form_approved_level_range')),
        sa.CheckConstraint("status IN ('draft', 'submitted', 'approved')",
                           name=op.f('ck_reporting_form_status_value')),
        sa.ForeignKeyConstraint(['round_id'], ['reporting_round.id'],
                                name=op.f('fk_reporting_form_round_id_reporting_round'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_form')),
        sa.UniqueConstraint('round_id', 'division_code', name='uq_reporting_form_key'),
    )
    with op.batch_alter_table('reporting_form', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporting_form_division_code'),
                              ['division_code'], unique=False)
        batch_op.create_index('ix_reporting_form_round_status', ['round_id', 'status'],
                              unique=False)
    op.create_table(
        'reporting_form_value',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('form_id', sa.Integer(), nullable=False),
        sa.Column('item', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['form_id'], ['reporting_form.id'],
                                name=op.f('fk_reporting_form_value_form_id_reporting_form'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_form_value')),
        sa.UniqueConstraint('form_id', 'item', name='uq_reporting_form_value_key'),
    )
    with op.batch_alter_table('reporting_form_value', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporting_form_value_form_id'), ['form_id'],
                              unique=False)
    op.create_table(
        'reporting_form_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('form_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('level', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('username', sa.String(length=64), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.CheckConstraint("action IN ('save', 'submit', 'approve', 'unapprove', 'apply')",
                           name=op.f('ck_reporting_form_event_action_value')),
        sa.ForeignKeyConstraint(['form_id'], ['reporting_form.id'],
                                name=op.f('fk_reporting_form_event_form_id_reporting_form'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_form_event')),
    )
    with op.batch_alter_table('reporting_form_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reporting_form_event_form_id'), ['form_id'],
                              unique=False)


def downgrade() -> None:
    # Forms and their sign-off history are the record of who reported what; refused
    # while they hold rows unless -x allow_data_loss=true.
    refuse_data_loss('reporting_form_event', 'reporting_form_value', 'reporting_form',
                     'reporting_round_item', 'reporting_round')
    for table, index in (('reporting_form_event', 'ix_reporting_form_event_form_id'),
                         ('reporting_form_value', 'ix_reporting_form_value_form_id')):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
        op.drop_table(table)
    with op.batch_alter_table('reporting_form', schema=None) as batch_op:
        batch_op.drop_index('ix_reporting_form_round_status')
        batch_op.drop_index('ix_reporting_form_division_code')
    op.drop_table('reporting_form')
    with op.batch_alter_table('reporting_round_item', schema=None) as batch_op:
        batch_op.drop_index('ix_reporting_round_item_round_id')
    op.drop_table('reporting_round_item')
    op.drop_table('reporting_round')
