"""The registry's commands: import refuses a bad file cleanly, export writes what is stored."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shequ.cli import app
from shequ.settings import Settings

runner = CliRunner()


def test_import_of_a_bad_file_exits_2_naming_row_and_column(demo_settings: Settings,
                                                            tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,type_code,division_code,name,floor_area_m2\n"
                   "n1,nursery,130123001001,新托育园,300\n"
                   "n2,nursery,130123001001,坏托育园,-1\n", encoding="utf-8")
    data = str(demo_settings.data_dir)
    result = runner.invoke(app, ["import", "facilities", str(bad), "--data-dir", data])
    assert result.exit_code == 2
    assert "row 3, column 'floor_area_m2'" in result.output
    assert "nothing was written" in result.output
    out = tmp_path / "after.csv"
    result = runner.invoke(app, ["export", "facilities", str(out), "--data-dir", data])
    assert result.exit_code == 0, result.output
    assert "n1," not in out.read_text(encoding="utf-8")


def test_export_of_a_subtree_and_an_unknown_table(demo_settings: Settings, tmp_path: Path
                                                  ) -> None:
    data = str(demo_settings.data_dir)
    out = tmp_path / "villages.csv"
    result = runner.invoke(app, ["export", "divisions", str(out), "--division", "130123100",
                                 "--data-dir", data])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("code,name,kind")
    assert all(line.startswith("130123100") for line in lines[1:]) and len(lines) > 2
    result = runner.invoke(app, ["export", "buildings", str(out), "--data-dir", data])
    assert result.exit_code == 2
    assert "unknown table 'buildings'" in result.output


def test_load_national_reports_the_counts_per_level(tmp_path: Path) -> None:
    data = str(tmp_path / "nation")
    result = runner.invoke(app, ["hierarchy", "load-national", "--data-dir", data])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "level 1: 31, level 2: 345, level 3: 2,854, level 4: 39,939, level 5: 668,389" \
        in text
    assert "Inserted 711,558" in result.output
