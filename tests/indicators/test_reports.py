"""Short boards, exports and the assessment on the hand-built fixture."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

from shequ.errors import CatalogError
from shequ.indicators.assessment import assess, load_scheme, scores_frame
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.engine import compute_indicators, people_by_division
from shequ.indicators.export import (
    data_value_sets,
    level_sheets,
    write_csv,
    write_xlsx,
)
from shequ.indicators.shortboards import short_boards
from shequ.indicators.targets import with_status
from tests.indicators import fixture as f

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def computed() -> tuple[pl.DataFrame, pl.DataFrame]:
    tables = f.tables()
    results = compute_indicators(tables, load_indicator_catalog(), as_of=AS_OF,
                                 periods=[2022, 2024])
    return results, with_status(results, load_indicator_catalog())


def boards(status: pl.DataFrame, indicator: str, lang: str = "zh-CN") -> pl.DataFrame:
    tables = f.tables()
    return short_boards(status, load_indicator_catalog(), divisions=tables.divisions,
                        people=people_by_division(tables, as_of=AS_OF, period=2024),
                        lang=lang, indicators=[indicator])


def test_villages_without_a_facility_ranked_by_people(
        computed: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    board = boards(computed[1], "N2")
    assert board["division_code"].to_list() == [f.V2, f.V3]
    assert board["score"].to_list() == [80 * 900, 80 * 700]
    assert board["action"][0] == "西村（130102100202）没有在用的村级综合服务设施；900名居民"


def test_floor_area_gaps_say_what_closes_them(
        computed: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    board = boards(computed[1], "N4", lang="en")
    assert board["division_code"].to_list() == [f.C2, f.V2, f.V3, f.V1, f.C4]
    assert board["need"].to_list() == pytest.approx([240, 90, 75, 26, 15])
    v1 = board.filter(pl.col("division_code") == f.V1)
    assert v1["action"][0] == ("东村 (130102100201) needs 26 more m² of comprehensive "
                               "service floor area; 1,284 residents")
    # Hunan's unit fails Hunan's 43, not the national 30.
    assert board.filter(pl.col("division_code") == f.C4)["target"][0] == 43.0


def test_exports(tmp_path: Path, computed: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    results, _ = computed
    catalog = load_indicator_catalog()
    sheets = level_sheets(results, catalog, divisions=f.tables().divisions, period=2024)
    assert list(sheets) == ["全国", "省级", "地级", "县级", "乡级", "村级"]
    path = write_xlsx(tmp_path / "report.xlsx", sheets, about=[("as_of", "2024-12-31")])
    book = load_workbook(path)
    assert book.sheetnames == ["about", "全国", "省级", "地级", "县级", "乡级", "村级"]
    county = book["县级"]
    header = [c.value for c in county[1]]
    assert header[:2] == ["division_code", "name"]
    n4 = header.index("N4 每百户居民拥有社区综合服务设施面积 (m²/100户)")
    hebei = next(r for r in county.iter_rows(min_row=2, values_only=True) if r[0] == f.COUNTY)
    assert hebei[n4] == pytest.approx(102000 / 3170)
    csv = write_csv(tmp_path / "values.csv", results)
    assert pl.read_csv(csv, schema_overrides={"division_code": pl.String}).height == len(results)


def test_data_value_sets_shape(computed: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    results, _ = computed
    payload = data_value_sets(results.filter(pl.col("indicator") == "N1",
                                             pl.col("division_code") == f.NATION))
    assert json.loads(json.dumps(payload)) == {"dataValues": [
        {"dataElement": "N1", "period": "2022", "orgUnit": f.NATION, "value": "50"},
        {"dataElement": "N1", "period": "2024", "orgUnit": f.NATION, "value": "75"},
    ]}


SCHEME = """
[scheme]
code = "test"
review_weight = {review}
review_scale = 5
review_min_count = 50
[[scheme.weight]]
indicator = "N1"
weight = 50
[[scheme.weight]]
indicator = "N4"
weight = 50
[[scheme.penalty]]
code = "small"
measure = '''facilities(comprehensive_service_facility, status=accepted|in_service,
             floor_area_below=300)'''
points_each = 1
max_points = 10
"""


def scheme_file(tmp_path: Path, review: float) -> Path:
    path = tmp_path / "assessment.toml"
    path.write_text(SCHEME.format(review=review), encoding="utf-8")
    return path


def test_assessment_scores_breakdown_and_ranks(
        tmp_path: Path, computed: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, status = computed
    catalog = load_indicator_catalog()
    scheme = load_scheme(catalog, path=scheme_file(tmp_path, 20))
    reviews = {f.STREET: (4.0, 60), f.TOWN: (5.0, 10)}
    scores = {s.division_code: s for s in assess(
        status, scheme, level=4, tables=f.tables(), as_of=AS_OF, period=2024,
        reviews=reviews, divisions=f.tables().divisions)}
    # street: 100 × (50·0.5 + 50·1 + 20·0.8) / 120
    assert scores[f.STREET].score == pytest.approx(9100 / 120)
    # town: reviews too few → weights 100; 100 × (50·1 + 50·(22000/1370)/30)/100 − 2 cases
    assert scores[f.TOWN].score == pytest.approx(50 + 50 * (22000 / 1370) / 30 - 2)
    # Hunan's street: N4 40/43; C4's facility is below 300 m² → 1 case
    assert scores["430102001000"].score == pytest.approx(50 + 50 * 40 / 43 - 1)
    assert [scores[c].rank for c in ("430102001000", f.STREET, f.TOWN)] == [1, 2, 3]
    assert scores[f.STREET].peers == 3
    parts = {p.part: p for p in scores[f.TOWN].components}
    assert parts["reviews"].achievement is None
    assert "fewer than 50" in parts["reviews"].detail
    assert parts["penalty:small"].points == -2
    frame = scores_frame(list(scores.values()))
    assert frame["division_code"].to_list()[0] == "430102001000"


def test_scheme_with_unknown_indicator_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "assessment.toml"
    path.write_text('[scheme]\n[[scheme.weight]]\nindicator = "N99"\nweight = 1\n',
                    encoding="utf-8")
    with pytest.raises(CatalogError, match="unknown indicator 'N99'"):
        load_scheme(load_indicator_catalog(), path=path)


def test_packaged_scheme_loads() -> None:
    scheme = load_scheme(load_indicator_catalog())
    assert sum(w for _, w in scheme.weights) == 80
    assert scheme.review_weight == 20
