"""Boundaries follow the changes: after a year of changes to the demo county (whose
villages and townships have synthetic boundaries), the renamed village keeps its shape,
the re-parented township and its villages keep theirs under their new codes, and the
merged village's shape is the union of the two it was made from."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.registry.boundaries import boundary_records
from shequ.settings import Settings
from tests.registry.change_files import DEMO_CHANGES, write

BEFORE, AFTER = dt.date(2023, 12, 31), dt.date(2025, 1, 1)


def test_the_demo_changes_carry_the_boundaries(demo_settings: Settings,
                                               tmp_path: Path) -> None:
    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session:
            old = {r.code: r for r in boundary_records(session, as_of=BEFORE, prefix="130123")}
        path = write(tmp_path, DEMO_CHANGES, "changes.csv")
        result = CliRunner().invoke(app, ["hierarchy", "change", "apply", str(path),
                                          "--data-dir", str(demo_settings.data_dir)])
        assert result.exit_code == 0, result.output
        with ctx.sessions() as session:
            new = {r.code: r for r in boundary_records(session, as_of=AFTER)}
    finally:
        ctx.close()
    # renamed: the same shape under the new name
    renamed = new["130123102207"]
    assert renamed.name == "西权城社区村委会"
    assert renamed.shape.equals(old["130123102207"].shape) and renamed.synthetic
    # merged: 南王庄 ∪ 于家庄, whose areas add up (the synthetic villages tile)
    merged = new["130123102204"].shape
    assert merged.area == pytest.approx(old["130123102204"].shape.area
                                        + old["130123102205"].shape.area, rel=1e-9)
    assert merged.covers(old["130123102205"].shape.representative_point())
    # re-parented: 曲阳桥乡 and each of its villages under the new zone's codes
    township = [c for c in old if c.startswith("130123204")]
    assert len(township) > 1
    for code in township:
        moved = "130172204" + code[9:]
        assert new[moved].shape.equals(old[code].shape), code
    # a split by shares brings no shapes: its parts have none
    assert "130123102230" not in new
