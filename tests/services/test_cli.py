"""`shequ services …`: users and API keys from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shequ.services.cli import app


@pytest.mark.slow
def test_create_user_key_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHEQU_NEW_PASSWORD", "quiet lantern orbit meadow")
    runner = CliRunner()
    made = runner.invoke(app, ["create-user", "worker_a", "--role", "community_worker",
                               "--jurisdiction", "110101001001"])
    assert made.exit_code == 0, made.output
    assert "community_worker" in made.output and "110101001001" in made.output
    wrong = runner.invoke(app, ["create-user", "worker_b", "--role", "community_worker",
                                "--jurisdiction", "110101"])
    assert wrong.exit_code == 2
    key = runner.invoke(app, ["create-api-key", "kiosk", "--user", "worker_a"])
    assert key.exit_code == 0 and "sq_" in key.output
    listed = runner.invoke(app, ["api-keys"])
    assert "kiosk" in listed.output and key.output.split("sq_")[1][:20] not in listed.output
    users = runner.invoke(app, ["users"])
    assert "worker_a" in users.output and "worker_b" not in users.output


@pytest.mark.slow
def test_accounts_commands_end_sessions_and_refuse_weak_passwords(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import select

    from shequ.cli import app as shequ
    from shequ.cli_support import open_context
    from shequ.services.accounts import AuditLog, User
    from shequ.services.accounts.models import SessionKind
    from shequ.services.accounts.sessions import active_sessions, start_session

    monkeypatch.setenv("SHEQU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHEQU_NEW_PASSWORD", "quiet lantern orbit meadow")
    runner = CliRunner()
    assert runner.invoke(app, ["create-user", "clerk", "--role", "community_worker",
                               "--jurisdiction", "110101001001"]).exit_code == 0
    ctx = open_context(tmp_path)

    def sign_in_twice() -> int:
        with ctx.sessions() as session:
            user = session.scalars(select(User).where(User.username == "clerk")).one()
            for kind in (SessionKind.PAGE, SessionKind.BEARER):
                start_session(session, "s" * 40, user, kind=kind)
            session.commit()
            return user.id

    uid = sign_in_twice()
    off = runner.invoke(shequ, ["accounts", "deactivate", "clerk"])
    assert off.exit_code == 0 and "2 sign-in(s) and token(s) ended" in off.output
    assert runner.invoke(shequ, ["accounts", "reactivate", "clerk"]).exit_code == 0
    sign_in_twice()
    moved = runner.invoke(shequ, ["accounts", "set-role", "clerk", "--role", "street_officer",
                                  "--jurisdiction", "110101001000"])
    assert moved.exit_code == 0 and "street_officer (jurisdiction 110101001000)" in moved.output
    wrong = runner.invoke(shequ, ["accounts", "set-role", "clerk", "--role", "street_officer",
                                  "--jurisdiction", "110101001001"])
    assert wrong.exit_code != 0 and "level" in wrong.output
    monkeypatch.setenv("SHEQU_NEW_PASSWORD", "password123")
    weak = runner.invoke(shequ, ["accounts", "reset-password", "clerk"])
    assert weak.exit_code != 0 and "too easy to guess" in weak.output
    monkeypatch.setenv("SHEQU_NEW_PASSWORD", "amber kettle under nine bridges")
    sign_in_twice()
    reset = runner.invoke(shequ, ["accounts", "reset-password", "clerk"])
    assert reset.exit_code == 0 and "2 sign-in(s)" in reset.output
    with ctx.sessions() as session:
        assert active_sessions(session, uid) == []
        actions = session.scalars(select(AuditLog.action).where(
            AuditLog.entity == "user", AuditLog.entity_id == str(uid))
            .order_by(AuditLog.id)).all()
    ctx.close()
    assert actions == ["create", "deactivate", "reactivate", "change_role", "reset_password"]
