"""The waitlist order follows the declared points, then application time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shequ.errors import CatalogError, ValidationError
from shequ.services.care.rules import (
    Candidate,
    age_in_months,
    age_in_years,
    eligibility_problems,
    load_priority_rules,
    parse_groups,
    rank,
)

from .helpers import cst

RULES = load_priority_rules()
ON = dt.date(2026, 12, 1)


def cand(i: int, birth: dt.date, groups: set[str], day: int) -> Candidate:
    return Candidate(i, birth, frozenset(groups), cst(2026, 11, day, 9))


def test_packaged_rules_declare_points_and_deadline() -> None:
    points = {r.key: r.points for r in RULES.rules}
    assert points == {"age_80_plus": 40, "disability": 30, "family_in_difficulty": 30,
                      "living_alone": 20, "dual_working_parents": 10}
    assert RULES.offer_days == 7


def test_ages_count_completed_years_and_months() -> None:
    assert age_in_years(dt.date(1946, 12, 1), ON) == 80
    assert age_in_years(dt.date(1946, 12, 2), ON) == 79
    assert age_in_months(dt.date(2024, 12, 1), ON) == 24
    assert age_in_months(dt.date(2024, 12, 2), ON) == 23


def test_day_care_queue_by_points_then_time() -> None:
    candidates = [
        cand(1, dt.date(1950, 1, 1), set(), 1),                            # 76: 0 points
        cand(2, dt.date(1940, 1, 1), set(), 5),                            # 86: 40
        cand(3, dt.date(1955, 1, 1), {"disability", "living_alone"}, 3),   # 50 points
        cand(4, dt.date(1944, 6, 1), {"living_alone"}, 2),                 # 82: 60
        cand(5, dt.date(1958, 1, 1), {"family_in_difficulty"}, 4),         # 30
        cand(6, dt.date(1939, 1, 1), set(), 4),                            # 87: 40, earlier
    ]
    ranked = rank(RULES, candidates, facility_type="elderly_day_care", on=ON)
    assert [(r.application_id, r.points) for r in ranked] == [
        (4, 60), (3, 50), (6, 40), (2, 40), (5, 30), (1, 0)]
    assert ranked[0].reasons == ("age_80_plus", "living_alone")
    assert [r.position for r in ranked] == [1, 2, 3, 4, 5, 6]


def test_nursery_ignores_day_care_only_rules() -> None:
    candidates = [cand(1, dt.date(2025, 1, 1), {"living_alone"}, 1),
                  cand(2, dt.date(2025, 3, 1), {"dual_working_parents"}, 2)]
    ranked = rank(RULES, candidates, facility_type="nursery", on=ON)
    assert [(r.application_id, r.points) for r in ranked] == [(2, 10), (1, 0)]


def test_eligibility_by_facility_type() -> None:
    assert eligibility_problems(RULES, facility_type="elderly_day_care",
                                birth=dt.date(1970, 1, 1), on=ON)[0].reason.endswith(
        "aged 60 or over")
    assert eligibility_problems(RULES, facility_type="nursery", birth=dt.date(2023, 12, 1),
                                on=ON)[0].reason.endswith("under 36 months")
    assert eligibility_problems(RULES, facility_type="nursery", birth=dt.date(2023, 12, 2),
                                on=ON) == []


def test_unknown_declared_group_is_named() -> None:
    with pytest.raises(ValidationError, match="unknown group 'vip'"):
        parse_groups(RULES, ["disability", "vip"])


def test_a_deployment_file_replaces_the_rules(tmp_path: Path) -> None:
    (tmp_path / "care_priority_rules.toml").write_text(
        'offer_days = 3\n[[rule]]\nkey = "veteran"\ngroup = "veteran"\npoints = 99\n',
        encoding="utf-8")
    rules = load_priority_rules(tmp_path)
    assert (rules.offer_days, rules.groups) == (3, ("veteran",))
    (tmp_path / "care_priority_rules.toml").write_text(
        '[[rule]]\nkey = "x"\npoints = 1\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="neither group nor min_age"):
        load_priority_rules(tmp_path)
