"""registry: division changes as events (who, when, codes before and after, shares)

A ``division_change_event`` row is one decided change (rename, recode, re-parent, merge,
split, abolish, create) with its effective date; each predecessor → successor link of
``division_change`` points to its event and carries the share of the predecessor's people
that went to that successor.  The kinds allowed in the links grow by re-parent and create.

Revision ID: 0014_division_changes
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0014_division_changes"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("division_changes",)
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "event IN ('merge', 'split', 'rename', 'recode', 'abolish')"
NEW_KINDS = ("event IN ('merge', 'split', 'rename', 'recode', 'reparent', 'abolish', "
             "'create')")


def upgrade() -> None:
    op.create_table(
        "division_change_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("old_codes", sa.Text(), nullable=False),
        sa.Column("new_codes", sa.Text(), nullable=False),
        sa.Column("shares", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('merge', 'split', 'rename', 'recode', 'reparent', "
                           "'abolish', 'create')",
                           name=op.f("ck_division_change_event_kind_value")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_division_change_event")),
    )
    with op.batch_alter_table("division_change_event", schema=None) as batch_op:
        batch_op.create_index("ix_division_change_event_effective_on", ["effective_on"],
                              unique=False)
    with op.batch_alter_table("division_change", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("share", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_division_change_event_id"), ["event_id"],
                              unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_division_change_event_id_division_change_event"),
            "division_change_event", ["event_id"], ["id"], ondelete="CASCADE")
        batch_op.drop_constraint(op.f("ck_division_change_event_kind"), type_="check")
        batch_op.create_check_constraint("event_kind", NEW_KINDS)


def downgrade() -> None:
    refuse_data_loss("division_change_event")
    bind = op.get_bind()
    newer = bind.execute(sa.text(
        "SELECT count(*) FROM division_change WHERE event IN ('reparent', 'create')"
    )).scalar_one()
    if newer:
        raise RuntimeError(f"{newer} division change link(s) are re-parents or creations, "
                           "which the older schema cannot hold; refusing to drop them")
    with op.batch_alter_table("division_change", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_division_change_event_kind"), type_="check")
        batch_op.create_check_constraint("event_kind", OLD_KINDS)
        batch_op.drop_constraint(
            batch_op.f("fk_division_change_event_id_division_change_event"),
            type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_division_change_event_id"))
        batch_op.drop_column("share")
        batch_op.drop_column("event_id")
    with op.batch_alter_table("division_change_event", schema=None) as batch_op:
        batch_op.drop_index("ix_division_change_event_effective_on")
    op.drop_table("division_change_event")
