"""Migration 0003 creates exactly the table the access models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import shequ.models  # noqa: F401  (registers every table)
from shequ.registry.models import Base


def test_migrated_schema_matches_the_access_model(engine: Engine) -> None:
    assert "community_access" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert [d for d in diff if "community_access" in repr(d)] == []
