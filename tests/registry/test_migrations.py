"""The migrations create exactly the tables the models describe, on both back-ends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import shequ.models  # noqa: F401  (every table on Base.metadata)
from shequ.registry.models import Base

# Not Shequ's models: PostGIS's own table (made by CREATE EXTENSION) and the GiST index
# on boundaries, which migration 0013 makes on PostgreSQL only (SQLite has no GiST).
POSTGIS_ONLY = {("table", "spatial_ref_sys"), ("index", "ix_division_boundary_shape")}


def _ours(_object: object, name: str | None, kind: str, reflected: bool,
          _compare_to: object) -> bool:
    return not (reflected and (kind, name) in POSTGIS_ONLY)


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_object": _ours})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
