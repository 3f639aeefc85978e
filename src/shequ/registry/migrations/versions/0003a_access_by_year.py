"""access: community_access by year, so that life-circle indicators follow the facilities

Coverage was stored once per (community, type, distance) and every year's indicators
used it, so a facility opened in 2023 raised the 2019 figures too.  Rows now carry the
year whose facilities were evaluated (those in service on 31 December of it); rows
stored before get the year they were computed in.

Revision ID: 0003a
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0003a"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("community_access", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE community_access "
                   "SET period = CAST(strftime('%Y', computed_at) AS INTEGER)")
    else:
        op.execute("UPDATE community_access "
                   "SET period = CAST(EXTRACT(YEAR FROM computed_at) AS INTEGER)")
    with op.batch_alter_table("community_access", schema=None) as batch_op:
        batch_op.alter_column("period", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint("uq_community_access_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_community_access_key", ["division_code", "facility_type", "distance_m", "period"])


def downgrade() -> None:
    # Rows of these tables would be lost; refused unless -x allow_data_loss=true.
    refuse_data_loss("community_access")
    # keep the newest year of each key, as the table held before
    op.execute("DELETE FROM community_access WHERE EXISTS (SELECT 1 FROM community_access "
               "AS newer WHERE newer.division_code = community_access.division_code "
               "AND newer.facility_type = community_access.facility_type "
               "AND newer.distance_m = community_access.distance_m "
               "AND newer.period > community_access.period)")
    with op.batch_alter_table("community_access", schema=None) as batch_op:
        batch_op.drop_constraint("uq_community_access_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_community_access_key", ["division_code", "facility_type", "distance_m"])
        batch_op.drop_column("period")
