"""Backup and restore keep every row and value, on SQLite and PostgreSQL; restore refuses a
newer schema and a target holding rows; a downgrade refuses to drop tables with rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from shequ.errors import ConflictError
from shequ.registry.backup import backup, current_revisions, inspect_backup, restore
from shequ.registry.db import alembic_config, make_engine, session_factory, upgrade
from shequ.services.requests import service as rs
from shequ.services.requests.definitions import load_request_catalog
from tests.conftest import scratch_postgres_database
from tests.registry.previous_release import as_utc, counts, differences, snapshot
from tests.services.conftest import seed


@pytest.fixture
def empty_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database, never migrated, of the same back-end as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    with scratch_postgres_database("shequ_restore") as url:
        yield url


def _populate(engine: Engine) -> None:
    with session_factory(engine)() as session:
        seeded = seed(session)
        from shequ.services.accounts.models import User

        rs.submit_request(session, load_request_catalog(), rs.RequestDraft(
            service_code="public_repair", attributes={"fixture": "streetlight"},
            description="路灯不亮，电话 13912345678", division_code="110101001001",
            contact_phone="13912345678"),
            submitter=session.get(User, seeded.users["resident1"]))
        session.commit()


def test_backup_then_restore_into_an_empty_database_keeps_every_row_and_value(
        engine: Engine, empty_url: str, tmp_path: Path) -> None:
    _populate(engine)
    file = tmp_path / "shequ.backup"
    info = backup(engine, file)
    assert info.revisions == current_revisions(engine) and "0008a" in info.revisions
    assert inspect_backup(engine, file).revisions == info.revisions
    target = make_engine(empty_url)
    restored = restore(target, file)
    assert restored.revisions == info.revisions
    before, after = counts(engine), counts(target)
    assert before == after
    assert before["facility"] > 0 and before["service_request"] == 1 and before["resident"] == 1
    assert differences(snapshot(engine, as_utc), snapshot(target, as_utc)) == []
    target.dispose()


def test_restore_refuses_a_newer_schema_and_a_target_holding_rows(
        sqlite_url: str, tmp_path: Path) -> None:
    source = make_engine(sqlite_url)
    _populate(source)
    file = tmp_path / "shequ.backup"
    backup(source, file)
    with pytest.raises(ConflictError, match=r"holds .* rows; restore refuses"):
        restore(source, file)
    assert restore(source, file, force=True).revisions == current_revisions(source)
    newer = tmp_path / "newer.backup"
    newer.write_bytes(file.read_bytes())
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999' "
                           "WHERE version_num = '0008a'")
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(ConflictError, match=r"9999, newer than this Shequ knows"):
        restore(empty, newer)
    source.dispose()
    empty.dispose()


def test_an_older_backup_is_upgraded_after_restore(tmp_path: Path) -> None:
    older = make_engine(f"sqlite:///{tmp_path / 'older.sqlite3'}")
    command.upgrade(alembic_config(older), "0005c")
    command.upgrade(alembic_config(older), "0006")
    with older.begin() as connection:
        connection.execute(text(
            "INSERT INTO app_user (id, username, display_name, role, password_hash, active, "
            "created_at) VALUES (1, 'r1', 'r1', 'resident', 'x', 1, '2026-11-01 01:00:00')"))
        connection.execute(text(
            "INSERT INTO review (user_id, subject_kind, subject_id, division_code, period, "
            "score, comment, comment_status, created_at) VALUES (1, 'facility', '1', "
            "'110101001001', 2026, 4, '电话13800001111', 'pending', '2026-11-01 09:00:00')"))
    file = tmp_path / "older.backup"
    assert backup(older, file).revisions == ("0005c", "0006")
    target = make_engine(f"sqlite:///{tmp_path / 'target.sqlite3'}")
    restore(target, file)
    assert "0008a" in current_revisions(target)
    with target.connect() as connection:
        assert connection.execute(text("SELECT comment FROM review")).scalar_one() == \
            "电话138****1111"
    older.dispose()
    target.dispose()


def test_downgrade_minus_one_refuses_to_drop_tables_holding_rows(empty_url: str) -> None:
    engine = make_engine(empty_url)
    config = alembic_config(engine)
    command.upgrade(config, "0006")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO review (user_id, subject_kind, subject_id, division_code, period, "
            "score, comment_status, created_at) VALUES (1, 'facility', '1', '110101001001', "
            "2026, 4, 'none', '2026-11-01 09:00:00')"))
    with pytest.raises(ConflictError, match=r"would drop review, which hold data.*"
                                            r"shequ db backup FILE"):
        command.downgrade(config, "-1")
    assert current_revisions(engine) == ("0006",)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM review")).scalar_one() == 1
    config.attributes["allow_data_loss"] = True
    command.downgrade(config, "-1")
    assert current_revisions(engine) == ("0001",)
    upgrade(engine)  # and up again to the newest, empty
    engine.dispose()
