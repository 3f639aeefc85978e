"""The expression language: what parses, what it means, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequ.errors import CatalogError, ExpressionError
from shequ.indicators.definitions import parse_catalog
from shequ.indicators.expr import (
    Vocabulary,
    dimension_of,
    parse_definition,
    parse_expression,
    render,
)

VOCAB = Vocabulary(frozenset({"nursery", "elderly_day_care", "comprehensive_service_facility"}),
                   {"residential_floor_area": "m2"})


@pytest.mark.parametrize(("text", "dimension"), [
    ("units", "units"),
    ("units[urban and has(nursery)]", "units"),
    ("floor_area(comprehensive_service_facility) + input(residential_floor_area)", "m2"),
    ("capacity(nursery) * 2", "places"),
    ("2 * residents - age_60_plus / 2", "persons"),
    ("workers(community_worker, certified)[class(111, 112)]", "workers"),
    ("age_60_plus_within(elderly_day_care, 300)", "persons"),
    ("facilities(nursery, status=planned|under_construction, floor_area_below=100)",
     "facilities"),
    ("units[not (rural or kind(committee_like)) and floor_area(nursery) >= 300]", "units"),
])
def test_valid_expressions_round_trip(text: str, dimension: str) -> None:
    tree = parse_expression(text, VOCAB)
    assert dimension_of(tree) == dimension
    assert parse_expression(render(tree), VOCAB) == tree


@pytest.mark.parametrize(("text", "message"), [
    ("unit", "unknown measure 'unit' at column 1"),
    ("residents + households", "type mismatch: cannot add households to persons at column 11"),
    ("residents * households", "a measure can only be multiplied by a number at column 13"),
    ("floor_area(gym)", "unknown facility type 'gym' at column 1"),
    ("units[urban", "expected ']' but found the end at column 12"),
    ("units[residents]", "type mismatch: a filter needs a condition, not a quantity"),
    ("urban", "'urban' is a condition, not a measure"),
    ("units(nursery)", "'units' takes no arguments"),
    ("input(total_area)", "input 'total_area' is not declared"),
    ("workers(janitor)", "unknown workforce role 'janitor'"),
    ("facilities(nursery, status=open)", "unknown facility status 'open'"),
    ("residents_within(nursery)", "takes a facility type and a distance"),
    ("residents; drop table", "unexpected character ';' at column 10"),
    ("", "the expression is empty"),
    ("residents / 0", "division by zero"),
])
def test_errors_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace("*", r"\*")
                       .replace("+", r"\+")):
        parse_expression(text, VOCAB, where="test")


def test_division_by_a_non_count_is_refused() -> None:
    with pytest.raises(ExpressionError, match="division by a non-count"):
        parse_definition("residents", "100", factor=1, unit="%", vocabulary=VOCAB, where="X")


def test_percentage_must_divide_like_by_like() -> None:
    with pytest.raises(ExpressionError, match="a percentage divides like by like"):
        parse_definition("floor_area(nursery)", "households", factor=100, unit="%",
                         vocabulary=VOCAB, where="X")


def test_catalog_error_names_file_and_indicator() -> None:
    doc = {"indicator": [{"code": "Z1", "name_zh": "z", "name_en": "z", "unit": "%",
                          "factor": 100, "numerator": "units[has(gym)]",
                          "denominator": "units"}]}
    with pytest.raises(CatalogError, match=r"local\.toml, indicator #1 \(Z1\), numerator: "
                                           "unknown facility type 'gym'"):
        parse_catalog([("local.toml", doc)], facility_types=["nursery"])


def test_target_for_unknown_indicator_is_refused() -> None:
    doc = {"target": [{"indicator": "N9", "jurisdiction": "43", "target": 1.0}]}
    with pytest.raises(CatalogError, match="unknown indicator 'N9'"):
        parse_catalog([("t.toml", doc)], facility_types=[])


def test_deployment_file_adds_a_province(tmp_path: Path) -> None:
    from shequ.indicators.definitions import load_indicator_catalog

    (tmp_path / "indicators_changji.toml").write_text(
        '[[target]]\nindicator = "N1"\njurisdiction = "6523"\ntarget = 95.0\n',
        encoding="utf-8")
    catalog = load_indicator_catalog(tmp_path)
    assert any(r.jurisdiction == "652300000000" and r.target == 95.0
               for r in catalog.rules_for("N1"))
    assert "N7" in catalog.indicators
