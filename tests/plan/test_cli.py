"""`shequ plan` on the demo county: solve to the national target, refuse bad input cleanly."""

from __future__ import annotations

from typer.testing import CliRunner

from shequ.cli import app
from shequ.settings import Settings

runner = CliRunner()


def test_solve_for_the_rural_target_prints_sites(demo_settings: Settings) -> None:
    result = runner.invoke(app, ["plan", "solve", "130123", "--target", "0.8",
                                 "--data-dir", str(demo_settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "1301232" in result.output or "1301231" in result.output  # village codes


def test_an_unknown_model_is_refused_with_exit_2(demo_settings: Settings) -> None:
    result = runner.invoke(app, ["plan", "solve", "130123", "--model", "kmeans",
                                 "--data-dir", str(demo_settings.data_dir)])
    assert result.exit_code == 2
    assert "kmeans" in result.output
