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
