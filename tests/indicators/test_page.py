"""The planner's indicator page over the hand-built fixture (tests/indicators/fixture.py),
whose figures are worked out on paper: the charts' data, the breadcrumbs, units and
setters in each language, the times in China time, and the 404 page for what is unknown.

N1 (urban communities with a comprehensive facility) of county 长安区: its urban
communities are C1, C2 (street 建北街道) and C3 (town 西营镇).  In 2022 only C1 had
one (C3's opened in 2023): 1/3; in 2024 C1 and C3: 2/3.  The straight line through
them reaches 2/3 + (2/3 − 1/3)/2 = 5/6 in 2025.  The street has 1 of 2 (50%), the town
1 of 1 (100%); the national target is 100%.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from shequ.app import create_app
from shequ.context import Context
from shequ.indicators.models import IndicatorRun
from shequ.indicators.store import compute_for_registry
from shequ.settings import Settings
from tests.indicators import fixture as f


@pytest.fixture
def app_context(db_url: str, tmp_path: Path) -> Iterator[Context]:
    ctx = Context.open(Settings(data_dir=tmp_path, database_url=db_url, environment="test"),
                       migrate=False)
    with ctx.sessions() as session, session.begin():
        f.store(session)
    yield ctx
    ctx.close()


@pytest.fixture
def client(app_context: Context) -> Iterator[TestClient]:
    compute_for_registry(app_context, as_of=dt.date(2024, 12, 31))
    with app_context.sessions() as session, session.begin():
        # 17:30 UTC on 31 December is 01:30 on 1 January in China.
        session.execute(update(IndicatorRun).values(
            computed_at=dt.datetime(2024, 12, 31, 17, 30)))  # noqa: DTZ001 (stored as naive UTC)
    with TestClient(create_app(app_context)) as test_client:
        yield test_client


class _Visible(HTMLParser):
    """The words a reader sees: text outside <script> and <style>, no attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in {"script", "style"}

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in {"script", "style"}

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def data_block(html: str, block_id: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>',
                      html, re.S)
    assert found is not None, block_id
    loaded: dict[str, Any] = json.loads(found.group(1))
    return loaded


def row_cells(html: str, indicator: str) -> list[str]:
    row = html.split(f'data-indicator="{indicator}"', 1)[1].split("</tr>", 1)[0]
    return [visible(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_trend_and_the_ranking_carry_the_worked_figures(client: TestClient) -> None:
    page = client.get("/indicators", params={"division": f.COUNTY, "indicator": "N1"})
    assert page.status_code == 200
    trend = data_block(page.text, "indicator-trend-data")
    assert trend["categories"] == ["2022", "2024", "2025"]
    values, projection = trend["series"]
    assert values["name"] == "历年数值"
    assert values["values"][:2] == pytest.approx([100 / 3, 200 / 3])
    assert values["values"][2] is None
    assert projection["name"] == "趋势外推至2025年"
    assert projection["values"][0] is None
    assert projection["values"][1:] == pytest.approx([200 / 3, 250 / 3])
    assert trend["target"] == {"name": "2025年目标", "value": 100.0}
    assert trend["unit"] == "%"
    ranking = data_block(page.text, "indicator-ranking-data")
    assert ranking["items"] == [{"name": "建北街道", "value": 50.0},
                                {"name": "西营镇", "value": 100.0}]
    assert ranking["target"] == {"name": "目标", "value": 100.0}
    assert ranking["direction"] == ">="
    # each chart comes with its table: the ranking's is best first
    table = page.text.split('id="indicator-ranking-table"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<th scope="row">(.*?)</th>', table) == ["西营镇", "建北街道", "目标"]
    assert "/static/vendor/echarts/echarts.min.js" in page.text


def test_breadcrumbs_run_from_the_nation_and_keep_the_indicator(client: TestClient) -> None:
    page = client.get("/indicators", params={"division": f.STREET, "indicator": "N4"})
    crumbs = page.text.split('data-testid="breadcrumbs"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', crumbs)
    assert [(href.replace("&amp;", "&"), name) for href, name in links] == [
        ("/indicators?division=nation&indicator=N4", "全国"),
        (f"/indicators?division={f.HEBEI}&indicator=N4", "河北省"),
        (f"/indicators?division={f.PREFECTURE}&indicator=N4", "石家庄市"),
        (f"/indicators?division={f.COUNTY}&indicator=N4", "长安区")]
    assert '<span aria-current="page">建北街道</span>' in crumbs
    nation = client.get("/indicators", params={"division": "nation", "lang": "en"})
    assert re.search(r'data-code="000000000000">\s*China', nation.text)


def test_units_and_target_setters_in_each_language(client: TestClient) -> None:
    # N4 of the county: comprehensive facilities' floor area (C1 300, the street's 500,
    # C3 120, V1's accepted 100 = 1,020 m²) per 100 of its 3,170 households = 32.18.
    zh = client.get("/indicators", params={"division": f.COUNTY, "indicator": "N4"})
    assert row_cells(zh.text, "N4")[1:5] == ["32.18", "平方米/百户", "≥ 30.00", "全国"]
    assert row_cells(zh.text, "N7")[2] == "人/万人"
    en = client.get("/indicators", params={"division": f.COUNTY, "indicator": "N4",
                                           "lang": "en"})
    assert row_cells(en.text, "N4")[1:5] == ["32.18", "m² per 100 households", "≥ 30.00",
                                             "China"]
    assert row_cells(en.text, "N7")[2] == "per 10,000 residents"
    assert data_block(en.text, "indicator-trend-data")["unit"] == "m² per 100 households"


def test_the_run_is_dated_in_china_time(client: TestClient) -> None:
    zh = client.get("/indicators", params={"division": f.COUNTY})
    run = visible(zh.text.split('data-testid="run">', 1)[1].split("</p>", 1)[0])
    # both dates written alike, as the locale writes a day (Babel's medium form)
    assert run == "2024年数据；区划截至 2024年12月31日；计算于 2025年1月1日 01:30:00"
    en = client.get("/indicators", params={"division": f.COUNTY, "lang": "en"})
    run = visible(en.text.split('data-testid="run">', 1)[1].split("</p>", 1)[0])
    assert run == ("Figures for 2024; hierarchy as of 31 Dec 2024; "
                   "computed 1 Jan 2025, 01:30:00")


@pytest.mark.parametrize("division", ["999999999999", "1301029", "abc"])
def test_an_unknown_division_is_the_not_found_page_in_each_language(
        client: TestClient, division: str) -> None:
    zh = client.get("/indicators", params={"division": division, "lang": "zh-CN"})
    assert zh.status_code == 404
    assert zh.headers["content-type"].startswith("text/html")
    assert 'data-code="indicators.unknown_division"' in zh.text
    assert f"没有代码为 {division} 的现行区划" in visible(zh.text)
    en = client.get("/indicators", params={"division": division, "lang": "en"})
    assert en.status_code == 404
    assert f"There is no division in force with the code {division}." in visible(en.text)


def test_an_unknown_indicator_is_the_not_found_page(client: TestClient) -> None:
    page = client.get("/indicators", params={"division": f.COUNTY, "indicator": "N99",
                                             "lang": "zh-CN"})
    assert page.status_code == 404
    assert "指标目录中没有编号为 N99 的指标" in visible(page.text)


def test_the_chinese_page_shows_no_codes(client: TestClient) -> None:
    for indicator in ("N1", "N4", "L1", "L4"):
        page = client.get("/indicators", params={"division": f.COUNTY,
                                                 "indicator": indicator, "lang": "zh-CN"})
        assert page.status_code == 200, indicator
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", visible(page.text)))
        # the language switch, the footer's time zone, and two file formats by name
        assert words <= {"English", "UTC", "CSV", "XLSX"}, (indicator, words)
        assert "县级" in visible(page.text)


def test_without_a_run_the_page_says_how_to_get_one(app_context: Context) -> None:
    with TestClient(create_app(app_context)) as client:
        page = client.get("/indicators", params={"lang": "zh-CN"})
    assert page.status_code == 200
    assert "尚未计算指标" in visible(page.text)
