"""Migrations 0003 and 0003a create exactly the table the access models declare, and
0003a keeps the coverage stored before it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, column, insert, inspect, table, text

import shequ.models  # noqa: F401  (registers every table)
from shequ.errors import ConflictError
from shequ.registry.db import alembic_config, make_engine, upgrade
from shequ.registry.models import Base


def test_migrated_schema_matches_the_access_model(engine: Engine) -> None:
    assert "community_access" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert [d for d in diff if "community_access" in repr(d)] == []


def test_rows_stored_before_years_existed_get_the_year_they_were_computed_in(
        tmp_path: Path) -> None:
    """0003a on a database that already holds coverage; and back down to one row a key."""
    engine = make_engine(f"sqlite:///{tmp_path / 'before.sqlite3'}")
    upgrade(engine, "0003")
    access = table("community_access", column("division_code"), column("facility_type"),
                   column("distance_m"), column("covered_share"), column("computed_at"))
    with engine.begin() as connection:
        connection.execute(insert(access), [
            {"division_code": "130123001001", "facility_type": "x", "distance_m": 300,
             "covered_share": 0.5, "computed_at": dt.datetime(2024, 6, 1, tzinfo=dt.UTC)},
            {"division_code": "130123001002", "facility_type": "x", "distance_m": 300,
             "covered_share": 1.0, "computed_at": dt.datetime(2025, 1, 10, tzinfo=dt.UTC)}])
    upgrade(engine, "0003a")
    with engine.begin() as connection:
        rows = connection.execute(text(
            "SELECT division_code, period FROM community_access ORDER BY division_code"))
        assert [tuple(r) for r in rows] == [("130123001001", 2024), ("130123001002", 2025)]
        # a key may now hold several years
        connection.execute(text(
            "INSERT INTO community_access (division_code, facility_type, distance_m, "
            "covered_share, period, computed_at) VALUES ('130123001001', 'x', 300, 0.75, "
            "2026, '2026-11-29 00:00:00')"))
    # 0003a's downgrade keeps one year a key, so it loses rows: refused unless allowed.
    with pytest.raises(ConflictError, match="community_access"):
        command.downgrade(alembic_config(engine), "0003")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM community_access")).scalar() == 3
    config = alembic_config(engine)
    config.attributes["allow_data_loss"] = True
    command.downgrade(config, "0003")
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT division_code, covered_share FROM community_access ORDER BY 1"))
        assert [tuple(r) for r in rows] == [("130123001001", 0.75), ("130123001002", 1.0)]
    engine.dispose()
