"""Engines, sessions and migrations: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Column, Connection, Engine, String, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Mapper, Session, sessionmaker

from shequ.errors import Problem, ValidationError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def pool_options(pool_size: int, pool_timeout: float) -> dict[str, Any]:
    """Engine options of a pool of ``pool_size`` connections whose checkout waits at most
    ``pool_timeout`` seconds.

    Half as many again may be opened beyond the size: the server admits ``pool_size``
    requests at once, and a request can open a second session (the directory's reader,
    a background sync of its id map) without waiting on another request.
    """
    return {"pool_size": pool_size, "max_overflow": max(1, pool_size // 2),
            "pool_timeout": pool_timeout}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and safe pragmas.

    ``kwargs`` go to :func:`sqlalchemy.create_engine` (e.g. :func:`pool_options`); an
    in-memory SQLite database keeps one connection per thread and takes no pool options.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs = {k: v for k, v in kwargs.items() if k not in pool_options(1, 1)}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", _ping_when_idle)
    return engine


# A pooled connection unused this long is pinged before it is handed out.  SQLAlchemy's
# ``pool_pre_ping`` pings on every checkout: a round trip per request that a busy server
# does not need (its connections are never idle long), while a connection that waited
# through a database restart is still caught here and replaced.
PING_AFTER_IDLE_S = 10.0


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_when_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    idle_since = record.info.get("idle_since")  # None: a new connection
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except Exception as exc:  # the connection is gone: the pool opens a new one
        raise DisconnectionError("a pooled connection no longer answers") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (pages render after commit),
    and that check the text they write against the columns first
    (:func:`check_stored_text`)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "before_flush", check_stored_text)
    return factory


def unstorable_text(text: str) -> str | None:
    """Why ``text`` cannot be stored as text on every back-end, or None: PostgreSQL keeps
    no NUL character in text, and a lone UTF-16 surrogate is no character of UTF-8."""
    if "\x00" in text:
        return "contains a NUL character (U+0000); remove it"
    if not text.isascii() and _SURROGATE.search(text):
        return "contains a lone UTF-16 surrogate, which is no character; send valid UTF-8"
    return None


@cache
def _text_columns(mapper: Mapper[Any]) -> tuple[tuple[str, str, int | None], ...]:
    """(attribute, column, length) of every text column of a mapped class."""
    return tuple((attr.key, f"{column.table.name}.{column.name}",
                  column.type.length)
                 for attr in mapper.column_attrs for column in attr.columns
                 if isinstance(column, Column) and isinstance(column.type, String))


def check_stored_text(session: Session, _context: object, _instances: object) -> None:
    """Refuse text no back-end stores alike, before it is written: longer than its
    column's length (PostgreSQL refuses it, SQLite would keep it), a NUL character
    (PostgreSQL refuses it) or a lone surrogate (not UTF-8).  The lengths come from the
    table metadata, so every write path — pages, API, commands — is held to the schema.
    """
    problems = []
    for record in (*session.new, *session.dirty):
        state = inspect(record)
        for key, column, length in _text_columns(state.mapper):
            value = state.dict.get(key)
            if not isinstance(value, str):
                continue
            if length is not None and len(value) > length:
                problems.append(Problem(column, f"{len(value):,} characters; at most "
                                        f"{length:,} fit", column=key,
                                        hint="shorten the value"))
            elif reason := unstorable_text(value):
                problems.append(Problem(column, reason, column=key))
    if problems:
        raise ValidationError(problems, summary="text that does not fit its column")


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
