"""The package's public surface is deliberate: what ``shequ.indicators`` exports."""

from __future__ import annotations

import shequ.indicators as indicators


def test_public_names() -> None:
    assert sorted(indicators.__all__) == [
        "Indicator", "IndicatorCatalog", "MeasureTables", "Status", "TargetRule",
        "compute_indicators", "effective_targets", "load_indicator_catalog",
        "parse_definition", "parse_expression", "people_by_division", "with_status",
    ]
    for name in indicators.__all__:
        assert getattr(indicators, name) is not None


def test_packaged_catalog_has_the_national_seven_with_their_figures() -> None:
    catalog = indicators.load_indicator_catalog()
    seven = {code: catalog.indicator(code) for code in ("N1", "N2", "N3", "N4", "N5", "N6",
                                                         "N7")}
    assert {c: (i.target, i.direction) for c, i in seven.items()} == {
        "N1": (100.0, ">="), "N2": (80.0, ">="), "N3": (10.0, ">="), "N4": (30.0, ">="),
        "N5": (60.0, ">="), "N6": (100.0, ">="), "N7": (18.0, ">=")}
    assert seven["N2"].baseline == 65.7 and seven["N2"].baseline_year == 2020
    assert seven["N4"].definition.factor == 100 and seven["N7"].definition.factor == 10000
    assert all(i.attribute in ("binding", "expected") for i in seven.values())
    hunan = [r for r in catalog.rules_for("N4") if r.jurisdiction == "430000000000"]
    assert [r.target for r in hunan] == [43.0]
    hubei = [r for r in catalog.rules_for("N2") if r.jurisdiction == "420000000000"]
    assert [r.target for r in hubei] == [90.0]
    assert catalog.indicator("HB1").scope == "420000000000"
