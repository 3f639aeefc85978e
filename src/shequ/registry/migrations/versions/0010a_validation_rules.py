"""reporting: the violations a round's figures raise

``validation_violation`` keeps, per round and unit, each validation rule or outlier check
the unit's latest figures break, with the two sides' values and the reporter's comment,
indexed for keyset pages by area, rule and importance.  The rules themselves are catalog
data (``validation_rules.toml``).  A new table only; no row of another table changes.

Revision ID: 0010a
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0010a"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "validation_violation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("division_code", sa.String(length=12), nullable=False),
        sa.Column("rule_code", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("importance", sa.String(length=8), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("left_value", sa.Float(), nullable=True),
        sa.Column("right_value", sa.Float(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("importance IN ('error', 'warning')",
                           name=op.f("ck_validation_violation_importance_value")),
        sa.CheckConstraint("kind IN ('rule', 'outlier')",
                           name=op.f("ck_validation_violation_kind_value")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_violation")),
    )
    op.create_index("ix_validation_violation_page", "validation_violation",
                    ["round_id", "division_code", "id"])
    op.create_index("ix_validation_violation_rule", "validation_violation",
                    ["round_id", "rule_code", "division_code", "id"])
    op.create_index("ix_validation_violation_importance", "validation_violation",
                    ["round_id", "importance", "division_code", "id"])


def downgrade() -> None:
    # The violations of open rounds would be lost: refused unless -x allow_data_loss=true.
    refuse_data_loss("validation_violation")
    op.drop_index("ix_validation_violation_importance", table_name="validation_violation")
    op.drop_index("ix_validation_violation_rule", table_name="validation_violation")
    op.drop_index("ix_validation_violation_page", table_name="validation_violation")
    op.drop_table("validation_violation")
