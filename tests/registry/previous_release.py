"""The previous release's database as a fixture, and a comparison of what an upgrade kept.

``fixtures/release-0.1.sqlite3.xz`` is the release's demo county with rows in every table,
made by ``make_release_fixture.py`` (see its docstring) with the release's own code, at
the release's revisions :data:`RELEASE_HEADS`.  :func:`release_sqlite` unpacks it;
:func:`release_postgres` builds the same database on PostgreSQL (the release's migrations,
then every row copied).  :func:`snapshot` reads every table of a database as Python values
and :func:`differences` lists what an upgrade changed of the fixture's rows, so the test
keeps holding as migrations are added: it compares only what existed in the release.

Time stamps are compared as instants.  What a naive value meant is a fact of the release,
per column: the resident services (:data:`RELEASE_CST`) wrote China Standard Time wall
clock; every other naive value is UTC (SQLite's text of an aware column, written in UTC).
An aware value is its own instant.
"""

from __future__ import annotations

import datetime as dt
import lzma
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, func, select, text

from shequ.registry.db import alembic_config, make_engine

FIXTURE = Path(__file__).with_name("fixtures") / "release-0.1.sqlite3.xz"
RELEASE_HEADS = ("0002", "0003a", "0004", "0005c", "0006")
CST = dt.timezone(dt.timedelta(hours=8))

# Naive China Standard Time columns of the release (the resident services wrote
# ``local_now()`` and residents' local times); every other naive time was UTC.
RELEASE_CST: Mapping[str, frozenset[str]] = {
    "booking_resource": frozenset({"created_at"}),
    "booking_series": frozenset({"first_starts_at", "created_at"}),
    "booking": frozenset({"starts_at", "ends_at", "created_at", "decided_at", "cancelled_at",
                          "reminder_sent_at"}),
    "booking_slot": frozenset({"slot_start"}),
    "care_application": frozenset({"applied_at", "offered_at", "offer_deadline",
                                   "decided_at", "ended_at"}),
    "care_place_hold": frozenset({"held_since"}),
    "volunteer": frozenset({"registered_at"}),
    "volunteer_activity": frozenset({"starts_at", "ends_at", "created_at"}),
    "volunteer_signup": frozenset({"signed_up_at", "recorded_at", "confirmed_at"}),
    "review": frozenset({"created_at", "moderated_at"}),
}

# What a naive value of (table, column) means in a database: the zone it is read in.
Meaning = Callable[[str, str], dt.tzinfo]


def as_released(table: str, column: str) -> dt.tzinfo:
    """The release's meaning of a naive value (and that of a database downgraded to it)."""
    return CST if column in RELEASE_CST.get(table, ()) else dt.UTC


def as_utc(_table: str, _column: str) -> dt.tzinfo:
    """The meaning after 0007: every naive value read back (SQLite text) is UTC."""
    return dt.UTC


def release_sqlite(folder: Path) -> Path:
    """The fixture unpacked into ``folder`` (a fresh file each call)."""
    target = folder / "release.sqlite3"
    with lzma.open(FIXTURE, "rb") as packed, target.open("wb") as raw:
        shutil.copyfileobj(packed, raw)
    return target


def _tables(engine: Engine) -> MetaData:
    metadata = MetaData()
    metadata.reflect(engine)
    metadata.remove(metadata.tables["alembic_version"])
    return metadata


def release_postgres(url: str, fixture: Path) -> None:
    """Migrate the empty PostgreSQL database at ``url`` to the release's revisions and copy
    every row of the SQLite ``fixture`` into it.

    Foreign-key triggers are off while rows go in table by table (a facility may name a
    parent with a higher id); SQLite enforced the same keys when the fixture was made.
    """
    from alembic import command

    engine = make_engine(url)
    config = alembic_config(engine)
    for head in RELEASE_HEADS:
        command.upgrade(config, head)
    source = create_engine(f"sqlite:///{fixture}")
    source_tables = _tables(source)
    target_tables = _tables(engine)
    with source.connect() as reader, engine.begin() as writer:
        writer.execute(text("SET session_replication_role = replica"))
        for table in source_tables.sorted_tables:
            target = target_tables.tables[table.name]
            aware = {c.name for c in target.columns if getattr(c.type, "timezone", False)}
            rows = [{k: (v.replace(tzinfo=dt.UTC) if k in aware and isinstance(v, dt.datetime)
                         else v) for k, v in row._mapping.items()}
                    for row in reader.execute(select(table))]
            if rows:
                writer.execute(target.insert(), rows)
            if "id" in target.c and rows:
                writer.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT max(id) FROM {table.name}))"))
        writer.execute(text("SET session_replication_role = DEFAULT"))
    source.dispose()
    engine.dispose()


def _value(value: object, zone: dt.tzinfo) -> object:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=zone)
        return aware.astimezone(dt.UTC)
    return value


Snapshot = dict[str, dict[tuple[object, ...], dict[str, object]]]


def snapshot(engine: Engine, meaning: Meaning, *, only: set[str] | None = None) -> Snapshot:
    """Every row of every table (or of ``only``), keyed by primary key, times as instants."""
    out: Snapshot = {}
    tables = _tables(engine)
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            if only is not None and table.name not in only:
                continue
            key_columns = [c.name for c in table.primary_key.columns]
            rows: dict[tuple[object, ...], dict[str, object]] = {}
            for row in connection.execute(select(table)):
                values = {k: _value(v, meaning(table.name, k)) for k, v in row._mapping.items()}
                rows[tuple(values[k] for k in key_columns)] = values
            out[table.name] = rows
    return out


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table."""
    tables = _tables(engine)
    with engine.connect() as connection:
        return {t.name: int(connection.scalar(select(func.count()).select_from(t)) or 0)
                for t in tables.sorted_tables}


def differences(before: Snapshot, after: Snapshot, *,
                gone: Mapping[tuple[str, str], str] | None = None) -> list[str]:
    """What of ``before`` is not in ``after``: a table, a row, a value.  A column absent
    from ``after`` is a difference unless ``gone`` names it with where its values went."""
    gone = gone or {}
    problems: list[str] = []
    for table, rows in before.items():
        if table not in after:
            problems.append(f"table {table} is gone")
            continue
        now = after[table]
        if len(now) != len(rows):
            problems.append(f"{table}: {len(rows)} rows before, {len(now)} after")
        for key, values in rows.items():
            if key not in now:
                problems.append(f"{table} row {key} is gone")
                continue
            for column, value in values.items():
                if column not in now[key]:
                    if (table, column) not in gone:
                        problems.append(f"{table}.{column} is gone")
                    continue
                if now[key][column] != value:
                    problems.append(f"{table} row {key} {column}: {value!r} became "
                                    f"{now[key][column]!r}")
    return sorted(set(problems))


def release_counts(path: Path) -> dict[str, int]:
    """Rows per table of the fixture file."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        return counts(engine)
    finally:
        engine.dispose()


def release_snapshot(path: Path) -> Snapshot:
    """The fixture's rows with the release's meaning of naive times."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        return snapshot(engine, as_released)
    finally:
        engine.dispose()
