"""The pages ask for year Y's figures on the hierarchy of date H: after a year of changes
to the demo county, 2021's figures on the hierarchy of 2025-01-01 show the merged and split
villages (not the old ones) on the indicator page, its short boards and the assessment, the
choice kept in the URL and the links, in both languages; a year the run does not hold is
refused, naming the years it holds."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.settings import Settings
from tests.registry.change_files import DEMO_CHANGES, write

H = "2025-01-01"
COUNTY = "130123000000"
TOWN = "130123102000"  # 新安镇: two villages merged (204 ← 205), one split (206 → 230)
MERGED, GONE, SPLIT, SPLIT_OFF = ("130123102204", "130123102205", "130123102206",
                                  "130123102230")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_template: Path
         ) -> Iterator[TestClient]:
    import shutil

    from shequ.app import create_app

    folder = tmp_path_factory.mktemp("any-hierarchy-pages")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    settings = Settings(data_dir=folder, environment="test")
    path = write(folder, DEMO_CHANGES, "changes.csv")
    applied = CliRunner().invoke(app, ["hierarchy", "change", "apply", str(path),
                                       "--data-dir", str(folder)])
    assert applied.exit_code == 0, applied.output
    ctx = Context.open(settings)
    compute_for_registry(ctx, as_of=dt.date(2024, 12, 31))  # a run of today's kind
    compute_for_registry(ctx, as_of=dt.date.fromisoformat(H), periods=[2021])
    with TestClient(create_app(ctx)) as client:
        yield client
    ctx.close()


def children(html: str) -> list[str]:
    table = html.split('data-testid="children-table"')[1].split("</table>", maxsplit=1)[0]
    return re.findall(r'<tr data-code="(\d{12})"', table) or re.findall(
        r"division=(\d{12})", table)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_indicator_page_shows_2021_on_the_2025_hierarchy_and_keeps_the_choice(
        site: TestClient, lang: str) -> None:
    page = site.get("/indicators", params={"division": TOWN, "indicator": "N2", "year": "2021",
                                           "hierarchy": H, "lang": lang})
    assert page.status_code == 200, page.text
    html = page.text
    kids = children(html)
    assert MERGED in kids and SPLIT_OFF in kids and GONE not in kids
    # the figures are those of the run on 2025-01-01, year 2021 (as the API gives them)
    api = site.get(f"/api/v1/indicators/dashboard/{TOWN}",
                   params={"hierarchy": H, "year": 2021, "indicator": "N2"}).json()
    assert api["period"] == 2021 and api["run"]["as_of"] == H
    assert {c["code"] for c in api["children"]} == set(kids)
    # the control shows the choice, and every drill-down and export link keeps it
    assert re.search(r'<option value="2021" selected>2021</option>', html)
    assert re.search(rf'<option value="{H}" selected>', html)
    drill = re.findall(r'href="(/indicators\?division=\d{12}[^"]*)"', html)
    assert drill and all("hierarchy=2025-01-01" in d and "year=2021" in d for d in drill)
    words = {"zh-CN": ("年份", "区划口径（日期）"), "en": ("Year", "On the divisions of")}[lang]
    assert all(w in html for w in words)
    # the map sizes each village by its 2021 residents carried to 2025's villages: 南王庄
    # 2124 + 于家庄 2030; 东权城's 1819 shared 0.55 / 0.45 (1000.45 and 818.55, rounded)
    block = html.split('<script id="indicator-points" type="application/json">')[1]
    residents = {p["code"]: p["residents"]
                 for p in json.loads(block.split("</script>", maxsplit=1)[0])}
    assert (residents[MERGED], residents[SPLIT], residents[SPLIT_OFF]) == (4154, 1000, 819)


def test_the_short_boards_and_their_export_are_of_the_chosen_year_and_hierarchy(
        site: TestClient) -> None:
    html = site.get("/indicators", params={"division": COUNTY, "indicator": "N2",
                                           "year": "2021", "hierarchy": H}).text
    shown = re.findall(r'<tr data-code="(\d{12})"><td class="num">',
                       html.split('data-testid="short-boards"')[1].split("</table>")[0])
    assert shown and GONE not in shown
    exports = re.findall(r'href="(/api/v1/indicators/short-boards[^"]*)"', html)
    assert len(exports) == 2 and all("year=2021" in e and "hierarchy=2025-01-01" in e
                                     for e in exports)
    # the export answers for the same run and year: the rows the page shows, in order
    boards = site.get(exports[1].replace("&amp;", "&").replace("format=csv", "format=json"))
    assert boards.status_code == 200, boards.text
    assert {b["period"] for b in boards.json()} == {2021}
    assert [b["division_code"] for b in boards.json()][:len(shown)] == shown


def test_the_newest_run_is_the_default_and_the_old_villages_are_there_before_the_changes(
        site: TestClient) -> None:
    html = site.get("/indicators", params={"division": TOWN, "indicator": "N1",
                                           "hierarchy": "2024-12-31"}).text
    kids = children(html)
    assert MERGED in kids and GONE not in kids  # merged on 2024-01-01
    early = site.get("/indicators", params={"division": TOWN, "hierarchy": "2019-01-01"})
    assert early.status_code == 404
    assert "2019-01-01" in early.text


def test_a_year_the_run_does_not_hold_is_refused_naming_those_it_holds(
        site: TestClient) -> None:
    answer = site.get("/indicators", params={"division": TOWN, "year": "2023",
                                             "hierarchy": H, "lang": "en"})
    assert answer.status_code == 422
    assert "holds no figures of 2023; it holds 2021" in answer.text
    bad = site.get("/indicators", params={"year": "twenty", "hierarchy": "soon", "lang": "en"})
    assert bad.status_code == 422
    assert "twenty is not a year" in bad.text and "soon is not a date" in bad.text
    # each wrong field named by its label in the reader's language
    chinese = site.get("/indicators", params={"year": "twenty", "hierarchy": "soon",
                                              "lang": "zh-CN"})
    assert "年份：“twenty”不是年份" in chinese.text
    assert "区划口径（日期）：“soon”不是日期" in chinese.text
    assert "year：" not in chinese.text and "hierarchy：" not in chinese.text
    # each problem said once, in the list under the error's summary
    assert chinese.text.count("“twenty”不是年份") == 1


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_assessment_ranks_the_villages_of_the_2025_hierarchy(site: TestClient,
                                                                 lang: str) -> None:
    page = site.get("/indicators/assessment", params={"level": "5", "year": "2021",
                                                      "hierarchy": H, "lang": lang})
    assert page.status_code == 200, page.text
    ranked = re.findall(r'data-testid="score" data-division="(\d{12})"', page.text)
    assert MERGED in ranked and SPLIT_OFF in ranked and GONE not in ranked
    assert re.search(rf'<option value="{H}" selected>', page.text)
    assert '<input type="hidden" name="hierarchy" value="2025-01-01">' in page.text
    api = site.get("/api/v1/indicators/assessment", params={"level": 5, "hierarchy": H,
                                                            "year": 2021}).json()
    assert [s["division_code"] for s in api if s["score"] is not None] == ranked
    assert {s["period"] for s in api} == {2021}
