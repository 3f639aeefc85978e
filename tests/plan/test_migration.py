"""Migration 0004 creates exactly the tables the plan models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import shequ.models  # noqa: F401  (registers every table)
from shequ.registry.models import Base


def test_migrated_schema_matches_the_plan_models(engine: Engine) -> None:
    names = inspect(engine).get_table_names()
    assert {"plan_scenario", "plan_scenario_change"} <= set(names)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert [d for d in diff if "plan_scenario" in repr(d)] == []
