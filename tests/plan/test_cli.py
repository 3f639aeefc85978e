"""`shequ plan` on the demo county: solve to the national target, refuse bad input cleanly."""

from __future__ import annotations

import re

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


def test_solve_with_no_limit_aims_at_the_short_board_target(demo_settings: Settings) -> None:
    """`shequ plan solve 130123` alone takes N2's 80% target: the same plan, budget and
    coverage as `--target 0.8`, and at least 80% of the villages with a facility after."""
    data = ["--data-dir", str(demo_settings.data_dir)]
    bare = runner.invoke(app, ["plan", "solve", "130123", *data])
    assert bare.exit_code == 0, bare.output
    assert "No --p, --budget or --target: aiming at N2's target, 80% of the rural units" \
        in bare.output
    explicit = runner.invoke(app, ["plan", "solve", "130123", "--target", "0.8", *data])
    assert explicit.exit_code == 0, explicit.output
    found = re.search(r"units with the facility: (\d+)/(\d+) \([\d.]+%\) → (\d+)/(\d+)",
                      bare.output)
    assert found is not None, bare.output
    before, units, after = int(found.group(1)), int(found.group(2)), int(found.group(3))
    assert before / units < 0.8 <= after / units
    for line in ("Budget to reach 80% by new builds", "units with the facility"):
        assert [x for x in bare.output.splitlines() if line in x] == \
            [x for x in explicit.output.splitlines() if line in x]


def test_the_help_of_solve_tells_the_default_target(demo_settings: Settings) -> None:
    result = runner.invoke(app, ["plan", "solve", "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "closes N2's gap, 80% of the county's villages" in " ".join(result.output.split())
