"""``shequ registry boundaries import|export`` on both back-ends."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely import box
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from shequ.cli import app

from .boundary_fixtures import ON, TOWNS, VILLAGES, load_hierarchy
from .test_boundaries_import import _geojson


def test_import_then_export_from_the_command_line(sessions: sessionmaker[Session], db_url: str,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHEQU_DATABASE_URL", db_url)
    with sessions.begin() as session:
        load_hierarchy(session, with_boundaries=False)
    rows = [(code, name, box(*bounds)) for code, (name, bounds) in TOWNS.items()]
    rows += [(code, name, box(*bounds)) for code, (_, name, bounds) in VILLAGES.items()]
    runner = CliRunner()
    good = runner.invoke(app, ["registry", "boundaries", "import",
                               str(_geojson(tmp_path / "good.geojson", rows)),
                               "--as-of", ON.isoformat()])
    assert good.exit_code == 0, good.output
    assert "Stored 6 boundaries" in good.output
    rows[3] = (rows[3][0], rows[3][1], box(114.60, 38.01, 114.62, 38.02))  # far outside
    bad = runner.invoke(app, ["registry", "boundaries", "import",
                              str(_geojson(tmp_path / "bad.geojson", rows)),
                              "--as-of", ON.isoformat()])
    assert bad.exit_code != 0
    assert "row 4" in bad.output and "nothing was written" in bad.output
    out = tmp_path / "villages.zip"
    exported = runner.invoke(app, ["registry", "boundaries", "export", str(out),
                                   "--division", "130123", "--level", "5",
                                   "--as-of", ON.isoformat()])
    assert exported.exit_code == 0, exported.output
    assert "Wrote 4 boundaries" in exported.output and out.stat().st_size > 0
