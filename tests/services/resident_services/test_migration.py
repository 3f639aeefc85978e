"""The migrations create exactly the tables the resident-services models declare (0006 made
them, 0007 made their times aware and their user ids keys)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import shequ.models  # noqa: F401  (registers every table)
from shequ.registry.models import Base

RESIDENT_SERVICE_TABLES = {
    "booking_resource", "booking_series", "booking", "booking_slot",
    "care_application", "care_place_hold",
    "volunteer", "volunteer_activity", "volunteer_signup",
    "review",
}


def test_migrated_schema_matches_the_resident_services_models(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= RESIDENT_SERVICE_TABLES
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)

    def touches_resident_services(item: object) -> bool:
        text = repr(item)
        return any(f"'{name}'" in text or f"table={name}" in text or f"Table('{name}'" in text
                   for name in RESIDENT_SERVICE_TABLES)

    assert [d for d in diff if touches_resident_services(d)] == []
