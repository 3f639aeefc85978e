"""A year of changes to the demo county from the command line: the county's facilities,
residents and workers are all still counted, planning still works, and a bad file is
refused with every problem named and nothing written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.registry import queries
from shequ.registry.models import Division, DivisionChangeEvent, Facility, Population, Workforce
from shequ.settings import Settings
from tests.registry.change_files import BAD_CHANGES, DEMO_CHANGES, write

runner = CliRunner()
AFTER = dt.date(2025, 1, 1)


def area_totals(settings: Settings) -> dict[str, int]:
    """Facilities, residents (every year) and workers of the county and the new zone."""
    ctx = Context.open(settings)
    try:
        with ctx.sessions() as session:
            area = (Facility.division_code.startswith("130123")
                    | Facility.division_code.startswith("130172"))
            people = (Population.division_code.startswith("130123")
                      | Population.division_code.startswith("130172"))
            workers = (Workforce.division_code.startswith("130123")
                       | Workforce.division_code.startswith("130172"))
            return {
                "facilities": int(session.scalar(select(func.count()).where(area)) or 0),
                "residents": int(session.scalar(
                    select(func.sum(Population.residents)).where(people)) or 0),
                "residents_2024": int(session.scalar(select(func.sum(Population.residents))
                                                     .where(people, Population.period == 2024))
                                      or 0),
                "workers": int(session.scalar(select(func.sum(Workforce.headcount))
                                              .where(workers)) or 0),
                "divisions": int(session.scalar(select(func.count()).select_from(Division))
                                 or 0),
            }
    finally:
        ctx.close()


def test_a_year_of_changes_applies_and_keeps_every_total(demo_settings: Settings,
                                                         tmp_path: Path) -> None:
    before = area_totals(demo_settings)
    path = write(tmp_path, DEMO_CHANGES, "正定县2024年区划变更.csv")
    data = str(demo_settings.data_dir)
    result = runner.invoke(app, ["hierarchy", "change", "apply", str(path), "--data-dir", data])
    assert result.exit_code == 0, result.output
    assert "applied 5 change(s) from 7 row(s)" in result.output
    after = area_totals(demo_settings)
    for key in ("facilities", "residents", "residents_2024", "workers"):
        assert after[key] == before[key], key
    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session:
            merged = queries.division(session, "130123102204", as_of=AFTER)
            assert merged.name == "南王于家庄村委会"
            assert merged.longitude is not None
            assert [d.name for d in queries.children(session, "130172", as_of=AFTER)] == [
                "曲阳桥乡"]
            moved = queries.subtree(session, "130172204", as_of=AFTER)
            assert len(moved) == 21  # the township and its 20 villages
            assert all(d.longitude is not None for d in moved)
            assert queries.division(session, "130123102207", as_of=AFTER).name == \
                "西权城社区村委会"
            new_village = queries.division(session, "130123102230", as_of=AFTER)
            assert (new_village.longitude, new_village.latitude) == (114.6150, 38.2220)
            # 2024 residents of 东权城 (1807) shared 55 : 45 → 994 and 813
            shares = dict(session.execute(select(Population.division_code,
                                                 Population.residents)
                                          .where(Population.period == 2024,
                                                 Population.division_code.in_(
                                                     ["130123102206", "130123102230"]))).all())
            assert shares == {"130123102206": 994, "130123102230": 813}
            assert session.scalar(select(func.count()).select_from(DivisionChangeEvent)) == 5
    finally:
        ctx.close()
    listed = runner.invoke(app, ["hierarchy", "change", "list", "--data-dir", data])
    assert listed.exit_code == 0 and "5 change(s)" in listed.output
    solved = runner.invoke(app, ["plan", "solve", "130123", "--target", "0.8",
                                 "--data-dir", data])
    assert solved.exit_code == 0, solved.output


def test_a_bad_change_file_is_refused_naming_every_problem(demo_settings: Settings,
                                                           tmp_path: Path) -> None:
    before = area_totals(demo_settings)
    path = write(tmp_path, BAD_CHANGES, "bad.csv")
    result = runner.invoke(app, ["hierarchy", "change", "apply", str(path),
                                 "--data-dir", str(demo_settings.data_dir)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "bad.csv, row 2, column 'old_code': no division has code 130123102299" in text
    assert "bad.csv, row 3, column 'share': the shares of the split of 130123102206 add up " \
           "to 0.9, not 1" in text
    assert "bad.csv, row 5, column 'date': the change on 2019-06-01 is before " \
           "130123102207" in text
    assert "bad.csv, row 6, column 'new_parent': re-parenting 130123000000 (正定县) under " \
           "130123204000 would make it its own ancestor" in text
    assert "nothing was written" in text
    assert area_totals(demo_settings) == before


def test_2021_figures_on_the_hierarchy_after_the_changes(demo_settings: Settings,
                                                         tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from shequ.app import create_app
    from shequ.indicators.engine import people_by_division
    from shequ.indicators.store import load_measure_tables

    data = str(demo_settings.data_dir)
    path = write(tmp_path, DEMO_CHANGES, "changes.csv")
    assert runner.invoke(app, ["hierarchy", "change", "apply", str(path),
                               "--data-dir", data]).exit_code == 0
    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session:
            tables = load_measure_tables(session, as_of=AFTER, period=2021)
        people = {r["division_code"]: r["residents"] for r in people_by_division(
            tables, as_of=AFTER, period=2021).iter_rows(named=True)}
        # 2021: 南王庄 2124 + 于家庄 2030; 东权城 1819 shared 0.55 / 0.45
        assert people["130123102204"] == 2124 + 2030
        assert people["130123102206"] == pytest.approx(1819 * 0.55)
        assert people["130123102230"] == pytest.approx(1819 * 0.45)
        assert people["130123000000"] + people["130172000000"] == 459286
        computed = runner.invoke(app, ["indicators", "compute", "--hierarchy", "2025-01-01",
                                       "--period", "2021", "--data-dir", data])
        assert computed.exit_code == 0, computed.output
        with TestClient(create_app(ctx)) as client:
            board = client.get("/api/v1/indicators/dashboard/130123102000",
                               params={"hierarchy": "2025-01-01"})
            assert board.status_code == 200, board.text
            assert board.json()["run"]["as_of"] == "2025-01-01"
            children = {c["code"] for c in board.json()["children"]}
            assert {"130123102204", "130123102230"} <= children
            assert "130123102205" not in children
            missing = client.get("/api/v1/indicators/dashboard/130123102000",
                                 params={"hierarchy": "2019-01-01"})
            assert missing.status_code == 404
            assert missing.json()["code"] == "indicators.no_run_on_hierarchy"
    finally:
        ctx.close()
