"""The 0006 migration creates exactly the tables the part-2 models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import shequ.models  # noqa: F401  (registers every table)
from shequ.registry.models import Base

PART2_TABLES = {
    "booking_resource", "booking_series", "booking", "booking_slot",
    "care_application", "care_place_hold",
    "volunteer", "volunteer_activity", "volunteer_signup",
    "review",
}


def test_migrated_schema_matches_the_part2_models(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= PART2_TABLES
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)

    def touches_part2(item: object) -> bool:
        text = repr(item)
        return any(f"'{name}'" in text or f"table={name}" in text or f"Table('{name}'" in text
                   for name in PART2_TABLES)

    assert [d for d in diff if touches_part2(d)] == []
