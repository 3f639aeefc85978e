"""Upgrading the previous release's database keeps every row and every value, on SQLite and
PostgreSQL; the downgrade of 0007 keeps them too; orphan user ids stop 0007 unchanged.

The fixture is the release's demo county with rows in every table
(:mod:`tests.registry.previous_release`).  The comparison covers what existed in the
release, so later migrations keep it honest: a column they move elsewhere must be named in
:data:`GONE` with where it went.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from shequ.registry.db import alembic_config, make_engine, session_factory, upgrade
from shequ.services.bookings.models import Booking, BookingSlot
from tests.conftest import scratch_postgres_database

from .previous_release import (
    FIXTURE,
    RELEASE_HEADS,
    as_released,
    as_utc,
    differences,
    release_counts,
    release_postgres,
    release_snapshot,
    release_sqlite,
    snapshot,
)

# Columns a later migration moved, and where their values went (that migration's tests
# read them back).
GONE = dict.fromkeys(
    (("resident", "name"), ("resident", "address"),
     ("service_request", "contact_name"), ("service_request", "contact_email"),
     ("care_application", "beneficiary_name"), ("care_application", "beneficiary_birth_date"),
     ("care_application", "priority_groups"), ("care_application", "note")),
    "encrypted into the *_enc column beside it (0009)")


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    """A fresh copy of the release's database (SQLite)."""
    return release_sqlite(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def release_url(request: pytest.FixtureRequest, fixture_file: Path) -> Iterator[str]:
    """The release's database: the fixture file, or the same rows on a new PostgreSQL one."""
    if request.param == "sqlite":
        yield f"sqlite:///{fixture_file}"
        return
    with scratch_postgres_database("shequ_release") as url:
        release_postgres(url, fixture_file)
        yield url


def _versions(url: str) -> set[str]:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    engine.dispose()
    return found


def test_the_fixture_has_rows_in_every_table_and_is_small(fixture_file: Path) -> None:
    counts = release_counts(fixture_file)
    assert len(counts) == 29  # and alembic_version
    assert {t for t, n in counts.items() if n == 0} == set()
    assert counts["indicator_value"] == 3000 and counts["community_access"] == 3000
    assert FIXTURE.stat().st_size < 2_000_000
    with sqlite3.connect(fixture_file) as connection:
        assert set(connection.execute("SELECT version_num FROM alembic_version")) == {
            (head,) for head in RELEASE_HEADS}


def test_upgrade_keeps_every_row_and_value(release_url: str, fixture_file: Path) -> None:
    before = release_snapshot(fixture_file)
    engine = make_engine(release_url)
    upgrade(engine)
    after = snapshot(engine, as_utc, only=set(before))
    assert differences(before, after, gone=GONE) == []
    # Hand-checked: the all-night booking was made for 02:00-03:00 CST on 3 December 2026,
    # the instant 18:00 UTC on the 2nd; the services still read their wall clock.
    assert after["booking"][(1,)]["starts_at"] == dt.datetime(2026, 12, 2, 18, tzinfo=dt.UTC)
    assert after["booking"][(1,)]["created_at"] == dt.datetime(
        2026, 12, 1, 1, 0, 0, 123456, tzinfo=dt.UTC)
    with session_factory(engine)() as session:
        night = session.get(Booking, 1)
        assert night is not None
        assert night.starts_at == dt.datetime(2026, 12, 3, 2)  # noqa: DTZ001 (CST wall clock)
        slots = session.scalars(select(BookingSlot.slot_start).where(
            BookingSlot.resource_id == 1).order_by(BookingSlot.slot_start)).all()
        assert [s.hour for s in slots[:3]] == [2, 10, 11]
    engine.dispose()


def test_downgrade_of_0007_keeps_every_row_and_value(release_url: str,
                                                     fixture_file: Path) -> None:
    before = release_snapshot(fixture_file)
    engine = make_engine(release_url)
    config = alembic_config(engine)
    command.upgrade(config, "0007")
    assert _versions(release_url) == {"0007", "0002", "0003a", "0004"}
    command.downgrade(config, "0006")
    assert _versions(release_url) == set(RELEASE_HEADS)
    assert differences(before, snapshot(engine, as_released, only=set(before))) == []
    engine.dispose()


def test_orphan_user_ids_stop_0007_and_are_named(release_url: str, fixture_file: Path
                                                 ) -> None:
    engine = make_engine(release_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE review SET user_id = 4242 WHERE id = 1"))
        connection.execute(text("UPDATE booking SET decided_by = 4343 WHERE id = 2"))
    before = snapshot(engine, as_released)
    with pytest.raises(RuntimeError) as failure:
        command.upgrade(alembic_config(engine), "0007")
    message = str(failure.value)
    assert "review.user_id = 4242 in 1 row(s) (id 1…1)" in message
    assert "booking.decided_by = 4343 in 1 row(s) (id 2…2)" in message
    assert "nothing was changed" in message
    assert _versions(release_url) == set(RELEASE_HEADS)
    assert differences(before, snapshot(engine, as_released)) == []
    engine.dispose()
