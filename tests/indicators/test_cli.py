"""`shequ indicators …` on the hand-built fixture: compute, show, export, assess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from shequ.cli import app
from shequ.registry.db import make_engine, session_factory
from tests.indicators import fixture as f


@pytest.fixture
def data_dir(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SHEQU_DATABASE_URL", "SHEQU_DATA_DIR", "SHEQU_CATALOG_DIR"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copyfile(sqlite_template, folder / "shequ.sqlite3")
    engine = make_engine(f"sqlite:///{folder / 'shequ.sqlite3'}")
    with session_factory(engine)() as session, session.begin():
        f.store(session)
    engine.dispose()
    return folder


def test_compute_show_export_assess(data_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--data-dir", str(data_dir)]
    done = runner.invoke(app, ["indicators", "compute", *args, "--as-of", "2024-12-31"])
    assert done.exit_code == 0, done.output
    assert "Run 1:" in done.output and "periods 2022, 2024" in done.output

    shown = runner.invoke(app, ["indicators", "show", f.TOWN, *args, "--indicator", "N2",
                                "--lang", "en"])
    assert shown.exit_code == 0, shown.output
    assert "西营镇" in shown.output and "33.33" in shown.output
    assert "西村（130102100202）" not in shown.output  # English texts
    assert "西村 (130102100202) has no comprehensive service facility" in shown.output

    out = tmp_path / "reports"
    exported = runner.invoke(app, ["indicators", "export", str(out), *args,
                                   "--division", f.COUNTY])
    assert exported.exit_code == 0, exported.output
    book = load_workbook(out / f"indicators_{f.COUNTY}_2024.xlsx")
    assert book.sheetnames == ["about", "县级", "乡级", "村级", "短板"]
    values = json.loads((out / f"indicators_{f.COUNTY}_2024_dataValueSets.json").read_text(
        encoding="utf-8"))["dataValues"]
    assert {"dataElement": "N1", "period": "2024", "orgUnit": f.COUNTY,
            "value": "66.666667"} in values

    assessed = runner.invoke(app, ["indicators", "assess", *args, "--level", "4"])
    assert assessed.exit_code == 0, assessed.output
    assert "文艺路街道" in assessed.output


def test_show_unknown_division_fails_cleanly(data_dir: Path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["indicators", "compute", "--data-dir", str(data_dir)])
    result = runner.invoke(app, ["indicators", "show", "999999", "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "no division with code 999999000000" in result.output
