"""In a real browser: the indicator page's control asks for 2021's figures on the
hierarchy of 2025-01-01 after a year of changes to the demo county; the choice lands in the
URL, the merged and split villages are shown, the drill-down keeps the choice, and the
page passes axe."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.settings import Settings
from tests.conftest import running_server
from tests.registry.change_files import DEMO_CHANGES, write
from tests.web.axe import assert_no_serious_axe_violations

pytestmark = pytest.mark.browser

H = "2025-01-01"
TOWN = "130123102000"
MERGED, GONE, SPLIT_OFF = "130123102204", "130123102205", "130123102230"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_template: Path) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("any-hierarchy-browser")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    path = write(folder, DEMO_CHANGES, "changes.csv")
    applied = CliRunner().invoke(app, ["hierarchy", "change", "apply", str(path),
                                       "--data-dir", str(folder)])
    assert applied.exit_code == 0, applied.output
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    compute_for_registry(ctx, as_of=dt.date.fromisoformat(H), periods=[2021])
    compute_for_registry(ctx, as_of=dt.date(2023, 12, 31))  # the newest: before the changes
    with running_server(ctx) as url:
        yield url
    ctx.close()


def codes(page: Any) -> list[str]:
    return [str(c) for c in page.locator('[data-testid="children-table"] tbody tr'
                                         ).evaluate_all("rows => rows.map(r => r.dataset.code)")]


def test_the_control_asks_for_2021_on_the_2025_hierarchy_and_the_drill_keeps_it(
        chromium: Any, server: str) -> None:
    page = chromium.new_page()
    page.goto(f"{server}/indicators?division={TOWN}&indicator=N2")
    # the newest run is of 2023-12-31: the villages before the merge and the split
    before = codes(page)
    assert GONE in before and SPLIT_OFF not in before
    page.get_by_test_id("figures-hierarchy").select_option(H)
    page.get_by_test_id("figures-year").select_option("2021")
    page.get_by_test_id("figures-on").get_by_role("button").click()
    page.wait_for_load_state()
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"division": [TOWN], "indicator": ["N2"], "year": ["2021"],
                     "hierarchy": [H]}
    after = codes(page)
    assert MERGED in after and SPLIT_OFF in after and GONE not in after
    assert "2021" in page.get_by_test_id("run").inner_text()
    assert_no_serious_axe_violations(page)
    # a village's drill-down keeps the year and the hierarchy
    page.locator(f'[data-testid="children-table"] tr[data-code="{SPLIT_OFF}"] a').click()
    page.wait_for_load_state()
    assert page.get_by_test_id("division-name").get_attribute("data-code") == SPLIT_OFF
    kept = parse_qs(urlsplit(page.url).query)
    assert (kept["year"], kept["hierarchy"]) == (["2021"], [H])
    assert page.get_by_test_id("figures-hierarchy").input_value() == H
    page.close()
