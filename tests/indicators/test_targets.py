"""Targets cascade by jurisdiction; projections and status follow the stated formulas."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from shequ.indicators.definitions import IndicatorCatalog, load_indicator_catalog
from shequ.indicators.engine import compute_indicators
from shequ.indicators.targets import effective_targets, progress, project, with_status
from tests.indicators import fixture as f

AS_OF = dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def results() -> pl.DataFrame:
    return compute_indicators(f.tables(), load_indicator_catalog(), as_of=AS_OF,
                              periods=[2022, 2024])


def without_provinces(catalog: IndicatorCatalog) -> IndicatorCatalog:
    return IndicatorCatalog(catalog.indicators, (), catalog.inputs, catalog.status_rules)


def row(table: pl.DataFrame, indicator: str, code: str) -> dict[str, object]:
    found = table.filter(pl.col("indicator") == indicator, pl.col("division_code") == code)
    assert len(found) == 1
    return found.row(0, named=True)


def test_province_target_cascades_to_its_units_only(results: pl.DataFrame) -> None:
    catalog = load_indicator_catalog()
    status = with_status(results, catalog)
    for code in (f.HUNAN, f.HUNAN_COUNTY, f.C4):
        assert row(status, "N4", code)["target"] == 43.0
        assert row(status, "N4", code)["target_jurisdiction"] == f.HUNAN
    for code in (f.NATION, f.HEBEI, f.COUNTY, f.C1):
        assert row(status, "N4", code)["target"] == 30.0
        assert row(status, "N4", code)["target_jurisdiction"] == f.NATION
    # Hunan's 40 m² per 100 households meets the national 30 but not Hunan's 43.
    assert row(status, "N4", f.C4)["status"] == "behind"
    national_only = with_status(results, without_provinces(catalog))
    assert row(national_only, "N4", f.C4)["status"] == "met"
    changed = status.join(national_only, on=["indicator", "division_code"], suffix="_n").filter(
        (pl.col("target") != pl.col("target_n")) | (pl.col("status") != pl.col("status_n")))
    assert len(changed) > 0
    assert changed["division_code"].str.starts_with("43").all()


def test_a_lower_jurisdiction_overrides_its_province() -> None:
    catalog = load_indicator_catalog()
    from shequ.indicators.definitions import TargetRule

    county_rule = TargetRule("N4", f.HUNAN_COUNTY, 35.0, 2025, None, "county plan")
    local = IndicatorCatalog(catalog.indicators, (*catalog.targets, county_rule),
                             catalog.inputs, catalog.status_rules)
    targets = effective_targets(local, pl.Series([f.HUNAN, f.HUNAN_COUNTY, f.C4, f.C1]))
    by_code = {r["division_code"]: (r["target"], r["target_jurisdiction"])
               for r in targets.filter(pl.col("indicator") == "N4").iter_rows(named=True)}
    assert by_code == {f.HUNAN: (43.0, f.HUNAN), f.HUNAN_COUNTY: (35.0, f.HUNAN_COUNTY),
                       f.C4: (35.0, f.HUNAN_COUNTY), f.C1: (30.0, "000000000000")}


def test_scoped_indicator_has_targets_only_in_scope() -> None:
    targets = effective_targets(load_indicator_catalog(), pl.Series([f.C1, f.C4, f.NATION]))
    hn1 = targets.filter(pl.col("indicator") == "HN1")
    assert hn1["division_code"].to_list() == [f.C4]
    assert hn1["target"].to_list() == [80.0]


def test_linear_projection_is_least_squares() -> None:
    history = pl.DataFrame({"indicator": ["X"] * 3, "division_code": ["A"] * 3,
                            "period": [2021, 2022, 2024], "value": [10.0, 14.0, 20.0]})
    fit = project(history).row(0, named=True)
    # x̄ = 6067/3, ȳ = 44/3; b = Σ(x−x̄)(y−ȳ)/Σ(x−x̄)² = (46/3)/(14/3) = 23/7
    assert fit["slope"] == pytest.approx(23 / 7)
    assert fit["intercept"] + fit["slope"] * 2025 == pytest.approx(44 / 3 + 23 / 7 * 8 / 3)


@pytest.mark.parametrize(("later", "expected"), [
    (31.0, "met"), (28.0, "on_track"), (24.0, "at_risk"), (22.0, "behind"), (18.0, "behind"),
])
def test_status_from_trend(later: float, expected: str) -> None:
    # N4 target 30 by 2025; value 20 in 2023, `later` in 2024 → projection 2·later − 20;
    # at risk when it closes at least half of the remaining gap 30 − later.
    catalog = load_indicator_catalog().subset(["N4"])
    results = pl.DataFrame({
        "indicator": ["N4", "N4"], "division_code": [f.C1, f.C1], "level": [5, 5],
        "period": [2023, 2024], "numerator": [0.0, 0.0], "denominator": [1.0, 1.0],
        "value": [20.0, later]}, schema_overrides={"level": pl.Int8, "period": pl.Int32})
    status = with_status(results, catalog)
    got = status.row(0, named=True)
    assert got["projected"] == pytest.approx(later + (later - 20.0))
    assert got["status"] == expected


def test_missing_value_and_missing_target() -> None:
    catalog = load_indicator_catalog().subset(["N2", "S1"])
    results = pl.DataFrame({
        "indicator": ["N2", "S1"], "division_code": [f.C1, f.C1], "level": [5, 5],
        "period": [2024, 2024], "numerator": [0.0, 1.0], "denominator": [0.0, 1.0],
        "value": [None, 100.0]}, schema_overrides={"level": pl.Int8, "period": pl.Int32,
                                                   "value": pl.Float64})
    status = with_status(results, catalog)
    assert dict(status.select("indicator", "status").iter_rows()) == {
        "N2": "no_data", "S1": "no_target"}


def test_progress() -> None:
    assert progress(15.0, 30.0, ">=") == 0.5
    assert progress(45.0, 30.0, ">=") == 1.0
    assert progress(40.0, 20.0, "<=") == 0.5
    assert progress(90.0, 100.0, "=") == pytest.approx(0.9)
    assert progress(None, 30.0, ">=") is None
