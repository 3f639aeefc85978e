"""The seven national indicators on the hand-built fixture, at every level, as on paper."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from shequ.errors import ValidationError
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.engine import MeasureTables, compute_indicators
from tests.indicators import fixture as f

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def results() -> pl.DataFrame:
    return compute_indicators(f.tables(), load_indicator_catalog(), as_of=AS_OF,
                              periods=[2022, 2024])


def value(results: pl.DataFrame, indicator: str, code: str, period: int = 2024
          ) -> tuple[float, float | None, float | None]:
    row = results.filter(pl.col("indicator") == indicator, pl.col("division_code") == code,
                         pl.col("period") == period)
    assert len(row) == 1, (indicator, code, period)
    return row["numerator"][0], row["denominator"][0], row["value"][0]


# (indicator, division, numerator, denominator, value) worked out by hand for 2024.
PAPER_2024 = [
    # N1 urban coverage: C1 yes, C2 no, C3 yes (opened 2023); C4 (Hunan) yes.
    ("N1", f.C1, 1, 1, 100.0), ("N1", f.C2, 0, 1, 0.0), ("N1", f.C3, 1, 1, 100.0),
    ("N1", f.STREET, 1, 2, 50.0), ("N1", f.TOWN, 1, 1, 100.0),
    ("N1", f.COUNTY, 2, 3, 200 / 3), ("N1", f.PREFECTURE, 2, 3, 200 / 3),
    ("N1", f.HEBEI, 2, 3, 200 / 3), ("N1", f.NATION, 3, 4, 75.0),
    # N2 rural coverage: V1 accepted counts, V2 only planned, V3 closed mid-2023.
    ("N2", f.V1, 1, 1, 100.0), ("N2", f.V2, 0, 1, 0.0), ("N2", f.V3, 0, 1, 0.0),
    ("N2", f.STREET, 0, 0, None), ("N2", f.TOWN, 1, 3, 100 / 3),
    ("N2", f.COUNTY, 1, 3, 100 / 3), ("N2", f.NATION, 1, 3, 100 / 3),
    # N3 service floor area share: C1 (300 + 400) / 10000; the street adds its own 500 m².
    ("N3", f.C1, 700, 10000, 7.0), ("N3", f.C2, 0, 8000, 0.0), ("N3", f.C3, 120, 0, None),
    ("N3", f.STREET, 1200, 18000, 1200 / 180), ("N3", f.COUNTY, 1420, 18000, 1420 / 180),
    ("N3", f.NATION, 1620, 18000, 1620 / 180),
    # N4 floor area per 100 households.
    ("N4", f.C1, 300, 1000, 30.0), ("N4", f.C2, 0, 800, 0.0), ("N4", f.V1, 100, 420, 10000 / 420),
    ("N4", f.V3, 0, 250, 0.0), ("N4", f.STREET, 800, 1800, 80000 / 1800),
    ("N4", f.TOWN, 220, 1370, 22000 / 1370), ("N4", f.COUNTY, 1020, 3170, 102000 / 3170),
    ("N4", f.HUNAN, 200, 500, 40.0), ("N4", f.NATION, 1220, 3670, 122000 / 3670),
    # N5 activity share of the facility's floor area.
    ("N5", f.C1, 200, 300, 200 / 3), ("N5", f.STREET, 450, 800, 56.25),
    ("N5", f.TOWN, 130, 220, 13000 / 220), ("N5", f.COUNTY, 580, 1020, 58000 / 1020),
    # N6 terminals in urban communities: C1 only.
    ("N6", f.STREET, 1, 2, 50.0), ("N6", f.TOWN, 0, 1, 0.0), ("N6", f.COUNTY, 1, 3, 100 / 3),
    ("N6", f.NATION, 1, 4, 25.0),
    # N7 community workers (role community_worker, urban units) per 10,000 urban residents.
    ("N7", f.C1, 5, 3000, 50000 / 3000), ("N7", f.V1, 0, 0, None),
    ("N7", f.STREET, 8, 5000, 16.0), ("N7", f.TOWN, 2, 1000, 20.0),
    ("N7", f.COUNTY, 10, 6000, 100000 / 6000), ("N7", f.NATION, 12, 7000, 120000 / 7000),
]


@pytest.mark.parametrize(("indicator", "code", "numerator", "denominator", "expected"),
                         PAPER_2024)
def test_national_indicators_match_paper(results: pl.DataFrame, indicator: str, code: str,
                                         numerator: float, denominator: float,
                                         expected: float | None) -> None:
    num, den, val = value(results, indicator, code)
    assert num == pytest.approx(numerator)
    assert den == pytest.approx(denominator)
    if expected is None:
        assert val is None
    else:
        assert val == pytest.approx(expected, rel=1e-12)


def test_every_division_at_every_level_has_a_row(results: pl.DataFrame) -> None:
    rows = results.filter(pl.col("indicator") == "N4", pl.col("period") == 2024)
    assert sorted(rows["level"].to_list()) == [0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5]


def test_past_period_uses_facility_dates(results: pl.DataFrame) -> None:
    # 2022: C3's facility was not yet open, V3's not yet closed.
    assert value(results, "N1", f.TOWN, 2022)[2] == 0.0
    assert value(results, "N2", f.TOWN, 2022)[2] == pytest.approx(200 / 3)
    assert value(results, "N4", f.TOWN, 2022)[0] == pytest.approx(100 + 80)


def test_percentages_are_never_averaged(results: pl.DataFrame) -> None:
    # The county's N1 is 2/3, not the mean of its streets' 50% and 100%.
    assert value(results, "N1", f.COUNTY)[2] == pytest.approx(66.6666667)


def test_province_scoped_indicator_only_inside_its_province(results: pl.DataFrame) -> None:
    hn1 = results.filter(pl.col("indicator") == "HN1", pl.col("period") == 2024)
    assert set(hn1["division_code"].to_list()) == {
        f.HUNAN, "430100000000", f.HUNAN_COUNTY, "430102001000", f.C4}
    assert hn1.filter(pl.col("division_code") == f.C4)["value"][0] == 0.0


def test_hierarchy_honours_the_as_of_date() -> None:
    tables = f.tables()
    # V3 merged into V2 at the start of 2024: its version ends, so its people vanish then.
    divisions = tables.divisions.with_columns(
        pl.when(pl.col("code") == f.V3).then(pl.lit(dt.date(2024, 1, 1)))
        .otherwise(pl.col("valid_to")).alias("valid_to"))
    changed = MeasureTables(divisions, tables.facilities, tables.population,
                            tables.workforce, tables.access, tables.inputs)
    catalog = load_indicator_catalog().subset(["N4"])
    before = compute_indicators(changed, catalog, as_of=dt.date(2023, 6, 1), periods=[2024])
    after = compute_indicators(changed, catalog, as_of=dt.date(2024, 6, 1), periods=[2024])
    assert value(before, "N4", f.TOWN)[1] == 1370
    assert value(after, "N4", f.TOWN)[1] == 1370 - 250
    assert f.V3 not in after["division_code"].to_list()


def test_orphan_division_is_reported() -> None:
    tables = f.tables()
    broken = tables.divisions.with_columns(
        pl.when(pl.col("code") == f.V1).then(pl.lit("139999999000"))
        .otherwise(pl.col("parent_code")).alias("parent_code"))
    with pytest.raises(ValidationError, match=r"130102100201.*139999999000"):
        compute_indicators(MeasureTables(broken), load_indicator_catalog(), as_of=AS_OF,
                           periods=[2024])


def test_life_circle_indicator_reads_community_access() -> None:
    tables = f.tables()
    access = pl.DataFrame({
        "division_code": [f.C1, f.C2, f.C1, f.V1],
        "facility_type": ["elderly_day_care", "elderly_day_care", "elderly_day_care",
                          "elderly_day_care"],
        "distance_m": [300, 300, 1000, 300],
        "covered_share": [0.5, 0.25, 1.0, 1.0],
    })
    with_access = MeasureTables(tables.divisions, tables.facilities, tables.population,
                                tables.workforce, access, tables.inputs)
    out = compute_indicators(with_access, load_indicator_catalog().subset(["L2"]),
                             as_of=AS_OF, periods=[2024])
    # aged 60+: C1 600 × 0.5 + C2 500 × 0.25 = 425 of 1100 in the street.
    assert value(out, "L2", f.STREET) == pytest.approx((425.0, 1100.0, 42500 / 1100))
    # county: + V1 300 × 1.0; denominator all 60+ of Hebei's county = 2050.
    assert value(out, "L2", f.COUNTY)[0] == pytest.approx(725.0)
    assert value(out, "L2", f.COUNTY)[1] == pytest.approx(2050.0)
    assert value(out, "L2", f.C3)[0] == 0.0


def test_a_unit_directly_under_a_county_still_rolls_up() -> None:
    # The general rollup path: C3 hangs from the county itself (no township between).
    tables = f.tables()
    moved = tables.divisions.with_columns(
        pl.when(pl.col("code") == f.C3).then(pl.lit(f.COUNTY))
        .otherwise(pl.col("parent_code")).alias("parent_code"))
    out = compute_indicators(MeasureTables(moved, tables.facilities, tables.population,
                                           tables.workforce, tables.access, tables.inputs),
                             load_indicator_catalog().subset(["N1", "N4"]), as_of=AS_OF,
                             periods=[2024])
    assert value(out, "N1", f.COUNTY)[2] == pytest.approx(200 / 3)
    assert value(out, "N1", f.TOWN)[1] == 0
    assert value(out, "N4", f.TOWN)[:2] == pytest.approx((100.0, 970.0))
    assert value(out, "N4", f.NATION)[:2] == pytest.approx((1220.0, 3670.0))


def test_life_circle_standards_become_indicators(tmp_path: Path) -> None:
    (tmp_path / "indicators_standards.toml").write_text(
        "[life_circles]\ngenerate = true\n", encoding="utf-8")
    catalog = load_indicator_catalog(tmp_path)
    generated = [c for c in catalog.indicators if c.startswith("LC_")]
    assert len(generated) == 5 + 3 + 8 + 2 + 5 + 4  # required types of the six tiers
    five = [catalog.indicator(c) for c in generated if c.startswith("LC_5min_")]
    day_care = next(i for i in five if "elderly_day_care" in i.numerator_text)
    assert day_care.numerator_text == "residents_within(elderly_day_care, 300)[urban]"
    tables = f.tables()
    access = pl.DataFrame({"division_code": [f.C1, f.V1], "facility_type": [
        "elderly_day_care", "elderly_day_care"], "distance_m": [300, 300],
        "covered_share": [0.5, 1.0]})
    out = compute_indicators(
        MeasureTables(tables.divisions, tables.facilities, tables.population,
                      tables.workforce, access, tables.inputs),
        catalog.subset([day_care.code]), as_of=AS_OF, periods=[2024])
    # urban only: C1 3000 × 0.5 of 6000 urban residents in the county (V1 is rural)
    assert value(out, day_care.code, f.COUNTY)[:2] == pytest.approx((1500.0, 6000.0))


def test_rows_of_divisions_not_in_force_are_left_out_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    tables = f.tables()
    extra = pl.DataFrame({"division_code": ["130102100299"], "type_code": [
        "comprehensive_service_facility"], "status": ["in_service"], "floor_area_m2": [999.0]})
    facilities = pl.concat([tables.facilities, extra], how="diagonal")
    with caplog.at_level("WARNING", logger="shequ.indicators.engine"):
        out = compute_indicators(
            MeasureTables(tables.divisions, facilities, tables.population, tables.workforce,
                          tables.access, tables.inputs),
            load_indicator_catalog().subset(["N4"]), as_of=AS_OF, periods=[2024])
    assert value(out, "N4", f.TOWN)[0] == 220.0
    assert "facilities: 1 row(s) refer to divisions not in force" in caplog.text
