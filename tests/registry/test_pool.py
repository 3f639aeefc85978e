"""The PostgreSQL pool pings only connections that sat idle, and replaces dead ones."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from shequ.registry import db
from tests.conftest import scratch_postgres_database

pytestmark = pytest.mark.postgres


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_killed_while_idle_is_replaced_on_checkout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.2)
    with scratch_postgres_database("shequ_pool") as url:
        engine = db.make_engine(url, pool_size=1, max_overflow=0)
        try:
            first = _backend_pid(engine)
            admin = engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False)
            with psycopg.connect(admin, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (first,))
            time.sleep(0.3)
            second = _backend_pid(engine)  # no error: the dead connection was replaced
            assert second != first
        finally:
            engine.dispose()


def test_a_recently_used_connection_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    # Killed behind the pool's back before the idle threshold: no ping finds out, so the
    # next query meets the dead connection (one error, and the pool drops it), which shows
    # that no round trip was spent on a ping; the query after that is served again.
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 60.0)
    with scratch_postgres_database("shequ_pool") as url:
        engine = db.make_engine(url, pool_size=1, max_overflow=0)
        try:
            first = _backend_pid(engine)
            admin = engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False)
            with psycopg.connect(admin, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (first,))
            with pytest.raises(OperationalError):
                _backend_pid(engine)
            assert _backend_pid(engine) != first
        finally:
            engine.dispose()
