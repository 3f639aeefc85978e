"""The rules core: comparisons, pairs, last period's figures, outlier checks, the catalog.

Every expected value is worked by hand in the test's comment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shequ.errors import CatalogError
from shequ.indicators.expr import Vocabulary
from shequ.indicators.rules import (
    OutlierCheck,
    check_outliers,
    check_rules,
    load_rules,
    parse_rules,
)

NAN = np.nan
VOCABULARY = Vocabulary(frozenset({"comprehensive_service_facility"}),
                        {"residential_floor_area": "m2"})


def rules_of(*entries: dict[str, object]) -> list:  # type: ignore[type-arg]
    return list(parse_rules([("test.toml", {"rule": list(entries)})],
                            vocabulary=VOCABULARY).rules)


def rule(code: str, left: str, operator: str, right: str, **extra: object) -> dict[str, object]:
    return {"code": code, "left": left, "operator": operator, "right": right,
            "message_zh": "中", "message_en": "en", **extra}


def test_a_comparison_is_broken_where_false_and_skipped_where_a_figure_is_missing() -> None:
    rules = rules_of(rule("elderly", "age_60_plus", "<=", "residents"))
    outcome = check_rules(rules, {"age_60_plus": np.array([100.0, 200.0, NAN]),
                                  "residents": np.array([150.0, 150.0, 100.0])}, size=3)[0]
    assert outcome.broken.tolist() == [False, True, False]
    assert outcome.left[1] == 200 and outcome.right[1] == 150


def test_sums_and_scales_evaluate_like_the_indicator_language() -> None:
    # children 10 + 20 + 30 = 60 ≤ 0.5 × 100 = 50 is false; 60 ≤ 0.5 × 120 = 60 holds
    rules = rules_of(rule("kids", "age_0_2 + age_3_5 + age_6_14", "<=", "residents / 2"))
    figures = {"age_0_2": np.array([10.0, 10.0]), "age_3_5": np.array([20.0, 20.0]),
               "age_6_14": np.array([30.0, 30.0]), "residents": np.array([100.0, 120.0])}
    outcome = check_rules(rules, figures, size=2)[0]
    assert outcome.left.tolist() == [60.0, 60.0]
    assert outcome.right.tolist() == [50.0, 60.0]
    assert outcome.broken.tolist() == [True, False]


@pytest.mark.parametrize(("operator", "expected"), [
    ("==", [True, False, True]), ("!=", [False, True, False]), ("<", [False, True, True]),
    ("<=", [False, False, True]), (">", [True, True, False]), (">=", [True, False, False])])
def test_each_operator_breaks_where_1_2_3_vs_2_is_false(operator: str,
                                                        expected: list[bool]) -> None:
    rules = rules_of(rule("x", "residents", operator, "households"))
    outcome = check_rules(rules, {"residents": np.array([1.0, 2.0, 3.0]),
                                  "households": np.array([2.0, 2.0, 2.0])}, size=3)[0]
    assert outcome.broken.tolist() == expected


def test_compulsory_and_exclusive_pairs() -> None:
    pair = rules_of(rule("pair", "households", "compulsory_pair", "residents"),
                    rule("either", "households", "exclusive_pair", "residents"))
    figures = {"households": np.array([10.0, NAN, NAN, 3.0]),
               "residents": np.array([NAN, 5.0, NAN, 9.0])}
    compulsory, exclusive = check_rules(pair, figures, size=4)
    assert compulsory.broken.tolist() == [True, True, False, False]
    assert exclusive.broken.tolist() == [False, False, False, True]


def test_a_rule_on_last_periods_figures_warns_of_a_jump_over_20_percent() -> None:
    rules = rules_of(rule("growth", "residents", "<=", "residents * 1.2",
                          right_period="previous", importance="warning"))
    outcome = check_rules(rules, {"residents": np.array([1200.0, 1201.0, 1500.0])},
                          {"residents": np.array([1000.0, 1000.0, NAN])}, size=3)[0]
    # 1.2 × 1000 = 1200: equal holds, 1201 breaks it, no last figure skips
    assert outcome.broken.tolist() == [False, True, False]
    assert rules[0].importance == "warning"


def test_workers_and_inputs_are_figures_keyed_by_their_measure_text() -> None:
    rules = rules_of(rule("area", "input(residential_floor_area)", ">", "0"),
                     rule("staff", "workers(community_worker)", ">=", "1"))
    assert rules[0].field == "input(residential_floor_area)"
    assert rules[1].fields == ("workers(community_worker)",)


def check(method: str, threshold: float, **extra: object) -> OutlierCheck:
    history = int(extra.pop("min_history", 1 if method == "min_max" else 3))  # type: ignore[call-overload]
    return OutlierCheck("o", "residents", method, threshold, "warning", "中", "en",
                        history, **extra)  # type: ignore[arg-type]


def test_modified_z_score_uses_the_median_and_mad_with_iglewicz_hoaglins_3_5() -> None:
    # history 98…102: median 100, |deviations| 0 2 2 1 1 → MAD 1;
    # 106: 0.6745 × 6 = 4.047 > 3.5 flagged; 105: 0.6745 × 5 = 3.3725 not
    past = np.array([[100.0, 102.0, 98.0, 101.0, 99.0]] * 2)
    outcome = check_outliers(check("modified_z", 3.5), np.array([106.0, 105.0]), past)
    assert outcome.flagged.tolist() == [True, False]
    assert outcome.score == pytest.approx([4.047, 3.3725])
    assert outcome.high[0] == pytest.approx(100 + 3.5 / 0.6745)


def test_z_score_uses_the_sample_standard_deviation() -> None:
    # history 10 20 30: mean 20, sample sd 10; 51 → z 3.1 flagged, 50 → z 3.0 not (> 3)
    past = np.array([[10.0, 20.0, 30.0]] * 3)
    outcome = check_outliers(check("z_score", 3.0), np.array([51.0, 50.0, -11.0]), past)
    assert outcome.score == pytest.approx([3.1, 3.0, 3.1])
    assert outcome.flagged.tolist() == [True, False, True]
    assert (outcome.low[0], outcome.high[0]) == (pytest.approx(-10.0), pytest.approx(50.0))


def test_min_max_widens_the_range_seen_and_fixed_bounds_apply_without_history() -> None:
    # history 4 and 6 widened by 50%: [2, 9]; 10 flagged, 9 not; fixed max 200: 250 flagged
    past = np.array([[4.0, 6.0], [4.0, 6.0], [NAN, NAN]])
    outcome = check_outliers(check("min_max", 0.5, lower=0.0, upper=200.0),
                             np.array([10.0, 9.0, 250.0]), past)
    assert outcome.flagged.tolist() == [True, False, True]
    assert outcome.low.tolist()[:2] == [2.0, 2.0]
    assert outcome.high.tolist() == [9.0, 9.0, 200.0]


def test_a_flat_history_and_a_short_one_are_not_judged() -> None:
    # unit 1: every past value 5 (MAD 0, no score); unit 2: 2 of the 3 years needed;
    # unit 3: 4 4 5 → median 4, MAD 0 as well; unit 4: 4 5 6 → MAD 1, 60 flagged
    past = np.array([[5.0, 5.0, 5.0], [5.0, 5.0, NAN], [4.0, 4.0, 5.0], [4.0, 5.0, 6.0]])
    outcome = check_outliers(check("modified_z", 3.5), np.array([60.0, 60.0, 60.0, 60.0]),
                             past)
    assert outcome.flagged.tolist() == [False, False, False, True]
    assert np.isnan(outcome.score[:3]).all()
    assert outcome.score[3] == pytest.approx(0.6745 * 55)


def test_the_packaged_rules_load_and_include_errors_and_a_20_percent_warning() -> None:
    rules = load_rules()
    by_code = rules.by_code()
    elderly = by_code["elderly_within_residents"]
    growth = by_code["residents_growth"]
    assert elderly.importance == "error"
    assert growth.importance == "warning"
    assert growth.right_period == "previous"  # type: ignore[union-attr]
    assert {o.method for o in rules.outliers} == {"z_score", "modified_z", "min_max"}
    assert "{left}" in elderly.message("en") and "60岁" in elderly.message("zh-CN")


def test_a_province_adds_its_own_rules_under_its_jurisdiction(tmp_path: Path) -> None:
    (tmp_path / "validation_rules_44.toml").write_text(
        '[[rule]]\ncode = "gd_disabled"\nleft = "disabled"\noperator = "<="\n'
        'right = "residents * 0.2"\nimportance = "warning"\njurisdiction = "44"\n'
        'message_zh = "残疾人比例偏高"\nmessage_en = "Many residents with disabilities"\n',
        encoding="utf-8")
    rules = load_rules(tmp_path)
    assert "gd_disabled" in rules.by_code()
    assert "gd_disabled" in {r.code for r in rules.for_unit("440106001001").rules}
    assert "gd_disabled" not in {r.code for r in rules.for_unit("130102001001").rules}
    assert "elderly_within_residents" in {r.code for r in rules.for_unit("130102001001").rules}


@pytest.mark.parametrize(("entry", "words"), [
    (rule("a", "residentz", "<=", "residents"), "unknown measure 'residentz'"),
    (rule("a", "residents", "=<", "households"), "operator = '=<' must be one of"),
    (rule("a", "residents[urban]", "<=", "households"), "is computed, not reported"),
    (rule("A b", "residents", "<=", "households"), "code 'A b' must be lower-case"),
    (rule("a", "residents", "<=", "households", importance="fatal"), "importance = 'fatal'"),
    ({"code": "a", "left": "residents", "operator": "<=", "right": "households"},
     "message_zh is missing"),
])
def test_a_bad_rule_says_what_and_where(entry: dict[str, object], words: str) -> None:
    with pytest.raises(CatalogError, match=r"test\.toml, rule #1") as caught:
        rules_of(entry)
    assert words in str(caught.value)


def test_a_code_used_twice_is_refused() -> None:
    with pytest.raises(CatalogError, match="used twice"):
        rules_of(rule("a", "residents", "<=", "households"),
                 rule("a", "residents", ">=", "households"))


def test_no_units_give_no_outliers() -> None:
    outcome = check_outliers(check("z_score", 3.0), np.array([]), np.empty((0, 4)))
    assert outcome.flagged.tolist() == []
