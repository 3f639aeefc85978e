"""Engines, sessions and migrations: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets pages read while an import writes;
    # a busy timeout turns concurrent writers into waits instead of "database is locked";
    # memory-mapped reads skip a system call per page (a directory page of 20 services at
    # random ids: 0.58 -> 0.32 ms).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and safe pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (pages render after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together or not at all."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine``, using the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply every migration up to ``revision`` (all branches by default)."""
    command.upgrade(alembic_config(engine), revision)


def bulk_insert(connection: Connection, table: Table, columns: Sequence[str],
                rows: Sequence[Sequence[object]]) -> None:
    """Insert many rows fast, inside the caller's transaction.

    PostgreSQL gets COPY; SQLite a plain executemany of tuples.  Both skip the ORM's
    per-row work, which dominates loads of hundreds of thousands of units.
    """
    if not rows:
        return
    raw = connection.connection.driver_connection
    column_list = ", ".join(f'"{c}"' for c in columns)
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
            f'COPY "{table.name}" ({column_list}) FROM STDIN'
        ) as copy:
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    cursor = raw.cursor()  # type: ignore[union-attr]
    # Table and column names come from the metadata, never from input; values are bound.
    statement = f'INSERT INTO "{table.name}" ({column_list}) VALUES ({placeholders})'  # noqa: S608
    cursor.executemany(statement, rows)
    cursor.close()
