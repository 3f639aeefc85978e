"""`shequ reporting …`: open a round and follow it from the command line, and import N3's
floor areas from a file (one bad row and nothing is written)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shequ.cli import app
from shequ.cli_support import open_context
from shequ.indicators.models import IndicatorInput
from shequ.indicators.store import compute_for_registry
from shequ.services.bookings.clock import local_now
from tests.services.conftest import SECRET, Seeded

UNIT = "110101001001"


@pytest.fixture
def data_dir(tmp_path: Path, seeded_template: tuple[Path, Seeded],
             monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder holding the seeded test region (SQLite)."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(seeded_template[0], folder / "shequ.sqlite3")
    monkeypatch.setenv("SHEQU_DATA_DIR", str(folder))
    monkeypatch.setenv("SHEQU_ENV", "test")
    monkeypatch.setenv("SHEQU_SECRET_KEY", SECRET)
    return folder


def test_open_list_and_follow_a_round(data_dir: Path) -> None:
    runner = CliRunner()
    due = (local_now().date() + dt.timedelta(days=20)).isoformat()
    refused = runner.invoke(app, ["reporting", "open", "2025 年度", "--period", "2025",
                                  "--due", due, "--as", "worker_dfx"])
    assert refused.exit_code != 0 and "role" in refused.output
    opened = runner.invoke(app, ["reporting", "open", "2025 年度", "--period", "2025",
                                 "--due", due, "--as", "planner_cn", "--dataset",
                                 "indicator_inputs"])
    assert opened.exit_code == 0, opened.output
    assert opened.output.startswith("Round 1 is open: 2025 年度")
    listed = runner.invoke(app, ["reporting", "list", "--as", "officer_dhm"])
    assert "2025 年度" in listed.output
    seen = runner.invoke(app, ["reporting", "overview", "1", "--as", "planner_dc"])
    assert seen.exit_code == 0, seen.output
    # 东城区: three communities expected, none reported yet, nobody late before the due date
    assert "│ all " in seen.output and "0 late unit(s)." in seen.output
    assert [line.split("│")[2].strip() for line in seen.output.splitlines()
            if "│ all " in line] == ["3"]


def test_n3_inputs_are_imported_whole_or_not_at_all(data_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"division_code": [UNIT, "110101999999", UNIT],
                  "period": ["2025", "2025", "2025"],
                  "measure": ["residential_floor_area", "residential_floor_area", "parking"],
                  "value": ["100000", "5", "-1"]}).write_csv(bad)
    refused = runner.invoke(app, ["reporting", "import-inputs", str(bad)])
    assert refused.exit_code != 0
    assert "110101999999" in refused.output and "parking" in refused.output
    good = tmp_path / "n3.csv"
    pl.DataFrame({"division_code": [UNIT, UNIT], "period": ["2025", "2025"],
                  "measure": ["residential_floor_area", "commercial_service_floor_area"],
                  "value": ["100000", "2500"]}).write_csv(good)
    imported = runner.invoke(app, ["reporting", "import-inputs", str(good)])
    assert imported.exit_code == 0, imported.output
    assert "Imported 2 indicator input value(s)" in imported.output
    ctx = open_context(data_dir)
    with ctx.sessions() as session:
        rows = {(i.measure, i.value, i.source) for i in session.scalars(select(IndicatorInput))}
    assert rows == {("residential_floor_area", 100_000.0, "import: n3.csv"),
                    ("commercial_service_floor_area", 2_500.0, "import: n3.csv")}
    # N3 = (service floor area 0 + 2,500) / 100,000 × 100 = 2.5 % (the seeded facilities
    # have no floor area)
    run = compute_for_registry(ctx, periods=[2025], store=False)
    ctx.close()
    n3 = run.results.filter((pl.col("indicator") == "N3") & (pl.col("division_code") == UNIT))
    assert n3["value"].item() == pytest.approx(2.5)
