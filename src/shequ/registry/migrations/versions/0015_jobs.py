"""jobs: long work (solving, evaluating, life circles, indicators) stored with its progress

One row per job: its kind, who asked, the division it works on, its parameters, status,
progress, timings and its result or problem.  A partial unique index keeps one queued or
running job per division and kind.

Revision ID: 0015
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("division_code", sa.String(length=12), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("step", sa.String(length=40), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("runner", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("rerun_of", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')",
            name=op.f("ck_job_status_value")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"],
                                name=op.f("fk_job_user_id_app_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["rerun_of"], ["job.id"], name=op.f("fk_job_rerun_of_job"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_division_code"), ["division_code"],
                              unique=False)
        batch_op.create_index("uq_job_active_per_division", ["division_code", "kind"],
                              unique=True, sqlite_where=sa.text(ACTIVE),
                              postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    # Jobs hold results planners may still read; refused unless -x allow_data_loss=true.
    refuse_data_loss("job")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("uq_job_active_per_division", sqlite_where=sa.text(ACTIVE),
                            postgresql_where=sa.text(ACTIVE))
        batch_op.drop_index(batch_op.f("ix_job_division_code"))
        batch_op.drop_index(batch_op.f("ix_job_user_id"))
        batch_op.drop_index(batch_op.f("ix_job_kind"))
    op.drop_table("job")
