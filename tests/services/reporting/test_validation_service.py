"""Checking a unit's form against the rules and its history, keeping the violations, and
the list (filters, keyset pages, the XLSX export), on SQLite and PostgreSQL.

The unit is 多福巷社区 (110101001001) of the services' test region, with registry
population for 2022–2024 (residents 1000, 1010, 990) and a round for 2025.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import AccessDenied, NotFoundError, ValidationError
from shequ.registry.models import Population
from shequ.services.accounts.models import User
from shequ.services.bookings.clock import local_now
from shequ.services.reporting.models import ReportingRound
from shequ.services.reporting.rules_models import ValidationViolation
from shequ.services.reporting.validation import (
    Violation,
    ViolationFilter,
    check_submission,
    list_violations,
    record_violations,
    violation_text,
    violations_for,
    violations_xlsx,
)
from tests.services.conftest import seed

UNIT, OTHER, WEST = "110101001001", "110101001002", "110102001001"
GOOD = {"residents": 1000.0, "households": 400.0, "age_0_2": 20.0, "age_3_5": 30.0,
        "age_6_14": 90.0, "age_60_plus": 250.0, "age_80_plus": 40.0, "disabled": 15.0,
        "assisted_households": 8.0}


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[tuple[Session, int]]:
    """A seeded session with the unit's history and a 2025 round (its id)."""
    with sessions() as session:
        yield from _seeded(session)


def _seeded(session: Session) -> Iterator[tuple[Session, int]]:
    seed(session)
    for period, residents in ((2022, 1000), (2023, 1010), (2024, 990)):
        session.add(Population(division_code=UNIT, period=period, residents=residents,
                               households=400, age_60_plus=240, age_80_plus=40))
    round_ = ReportingRound(name="2025年度填报", period=2025, frequency="annual",
                            opens_on=dt.date(2026, 1, 5), due_on=dt.date(2026, 3, 31),
                            created_at=local_now())
    session.add(round_)
    session.commit()
    yield session, round_.id
    session.rollback()


def codes(found: list[Violation]) -> set[str]:
    return {v.rule_code for v in found}


def test_plausible_figures_break_nothing(db: tuple[Session, int]) -> None:
    session, round_id = db
    assert check_submission(session, round_id, UNIT, GOOD, {}) == []


def test_more_elderly_than_residents_is_an_error_beside_the_elderly_field(
        db: tuple[Session, int]) -> None:
    session, round_id = db
    found = check_submission(session, round_id, UNIT, {**GOOD, "age_60_plus": 1200.0}, {})
    elderly = next(v for v in found if v.rule_code == "elderly_within_residents")
    assert (elderly.importance, elderly.field, elderly.params) == (
        "error", "age_60_plus", {"left": 1200, "right": 1000})
    assert elderly.blocks
    assert violation_text(elderly, "zh-CN") == "60岁及以上人口（1,200）不能多于常住人口（1,000）。"
    assert violation_text(elderly, "en") == (
        "Residents aged 60 and over (1,200) cannot exceed the resident population (1,000).")


def test_a_jump_of_over_20_percent_on_last_year_is_a_warning_a_comment_answers(
        db: tuple[Session, int]) -> None:
    session, round_id = db
    # last year 990 × 1.2 = 1188 < 1300; and far from 1000/1010/990 (median 1000, MAD 10:
    # 0.6745 × 300 / 10 = 20.2 > 3.5)
    figures = {**GOOD, "residents": 1300.0}
    found = check_submission(session, round_id, UNIT, figures, {})
    assert codes(found) == {"residents_growth", "residents_outlier"}
    growth = next(v for v in found if v.rule_code == "residents_growth")
    assert (growth.importance, growth.field, growth.commented) == ("warning", "residents", False)
    assert growth.params == {"left": 1300, "right": 1188}
    answered = check_submission(session, round_id, UNIT, figures,
                                {"residents": "新建小区交付入住"})
    assert all(v.commented and not v.blocks for v in answered)
    outlier = next(v for v in answered if v.rule_code == "residents_outlier")
    assert outlier.params["value"] == 1300
    assert outlier.params["high"] == pytest.approx(1000 + 3.5 * 10 / 0.6745, abs=0.01)


def test_households_without_residents_break_the_compulsory_pair(
        db: tuple[Session, int]) -> None:
    session, round_id = db
    found = check_submission(session, round_id, UNIT, {"households": 400.0}, {})
    assert codes(found) == {"households_with_residents"}
    assert found[0].field == "households"


def test_an_unknown_round_is_not_found(db: tuple[Session, int]) -> None:
    session, _ = db
    with pytest.raises(NotFoundError):
        check_submission(session, 999, UNIT, GOOD, {})


def keep(session: Session, round_id: int) -> None:
    """Seven violations in three units (2 in OTHER, 4 in UNIT, 1 in WEST)."""
    bad = {**GOOD, "residents": 1300.0, "age_60_plus": 1400.0}
    record_violations(session, round_id, UNIT,
                      check_submission(session, round_id, UNIT, bad, {}),
                      {"residents": "新小区"})
    record_violations(session, round_id, OTHER, check_submission(
        session, round_id, OTHER, {**GOOD, "age_80_plus": 300.0, "households": 1200.0}, {}))
    record_violations(session, round_id, WEST, check_submission(
        session, round_id, WEST, {**GOOD, "disabled": 2000.0}, {}))
    session.commit()


def test_recording_again_replaces_the_units_violations(db: tuple[Session, int]) -> None:
    session, round_id = db
    keep(session, round_id)
    # UNIT: elderly > residents (1400 > 1300), growth, outlier, household size
    # (1300 > 6 × 400? no: 2400) → 3; OTHER: 80+ > 60+, households > residents → 2
    by_unit = dict(session.execute(select(ValidationViolation.division_code, func.count())
                                   .group_by(ValidationViolation.division_code)).all())
    assert by_unit == {UNIT: 3, OTHER: 2, WEST: 1}
    record_violations(session, round_id, UNIT, [])
    session.commit()
    assert session.scalar(select(func.count()).select_from(ValidationViolation).where(
        ValidationViolation.division_code == UNIT)) == 0


def test_keyset_pages_walk_the_list_in_code_order_without_gaps(
        db: tuple[Session, int]) -> None:
    session, round_id = db
    keep(session, round_id)
    chosen = ViolationFilter(round_id)
    seen: list[tuple[str, str]] = []
    cursor = None
    pages = 0
    while True:
        page = list_violations(session, chosen, after=cursor, limit=2)
        seen += [(r.division_code, r.rule_code) for r in page.rows]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert [c for c, _ in seen] == [UNIT] * 3 + [OTHER] * 2 + [WEST]
    assert len(set(seen)) == 6


def test_filters_by_area_rule_and_importance(db: tuple[Session, int]) -> None:
    session, round_id = db
    keep(session, round_id)

    def listed(**kw: str) -> list[tuple[str, str]]:
        rows = list_violations(session, ViolationFilter(round_id, **kw), limit=100).rows
        return sorted((r.division_code, r.rule_code) for r in rows)

    assert listed(under="110102000000") == [(WEST, "disabled_within_residents")]
    assert listed(under="110101001000", importance="warning") == [
        (UNIT, "residents_growth"), (UNIT, "residents_outlier")]
    assert listed(rule_code="households_within_residents") == [
        (OTHER, "households_within_residents")]
    with pytest.raises(ValidationError):
        listed(importance="fatal")
    with pytest.raises(ValidationError):
        list_violations(session, ViolationFilter(round_id), after="not-a-cursor")


def test_a_street_officer_sees_their_street_only(db: tuple[Session, int]) -> None:
    session, round_id = db
    keep(session, round_id)
    officer = session.scalars(select(User).where(User.username == "officer_dhm")).one()
    rows = violations_for(session, officer, ViolationFilter(round_id), limit=100).rows
    assert {r.division_code for r in rows} == {UNIT, OTHER}
    with pytest.raises(NotFoundError):
        violations_for(session, officer, ViolationFilter(round_id, under="110102000000"))
    resident = session.scalars(select(User).where(User.username == "resident1")).one()
    with pytest.raises(AccessDenied):
        violations_for(session, resident, ViolationFilter(round_id))


def test_the_export_has_every_row_its_message_a_link_and_no_formula(
        db: tuple[Session, int], tmp_path: Path) -> None:
    session, round_id = db
    keep(session, round_id)
    session.execute(update(ValidationViolation).where(
        ValidationViolation.division_code == WEST).values(comment="=HYPERLINK(\"x\")"))
    session.commit()
    admin = session.scalars(select(User).where(User.username == "admin")).one()
    path = tmp_path / "violations.xlsx"
    assert violations_xlsx(session, admin, ViolationFilter(round_id), path, lang="en") == 6
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0] == ("Unit code", "Rule", "Importance", "Item", "Problem",
                       "Reporter's comment", "Form")
    west = rows[-1]
    assert west[:4] == (WEST, "disabled_within_residents", "Error", "disabled")
    assert west[4] == ("Residents with disabilities (2,000) cannot exceed the resident "
                       "population (1,000).")
    assert west[5] == "'=HYPERLINK(\"x\")"
    assert west[6] == f"/reporting/rounds/{round_id}/forms/{WEST}"


def test_a_whole_round_at_once_finds_what_each_form_would() -> None:
    """Three units, 2024 as last year: A is fine, B has more elderly than residents and
    grew 1000 → 1300 (> 1.2 × 1000), C reported no households (compulsory pair)."""
    import polars as pl

    from shequ.indicators.rules import load_rules
    from shequ.services.reporting.validation import (
        RoundFigures,
        figures_table,
        round_violations,
        rule_measures,
    )

    rules = load_rules()
    codes = pl.Series("division_code", ["110101001001", "110101001002", "110102001001"])
    empty_workforce = pl.DataFrame(schema={"division_code": pl.String, "role": pl.String,
                                           "certification": pl.String,
                                           "headcount": pl.Float64})
    empty_inputs = pl.DataFrame(schema={"division_code": pl.String, "measure": pl.String,
                                        "value": pl.Float64})

    def population(residents: list[float | None], households: list[float | None],
                   elderly: list[float]) -> pl.DataFrame:
        return pl.DataFrame({"division_code": codes, "residents": residents,
                             "households": households, "age_60_plus": elderly},
                            schema_overrides={"residents": pl.Float64,
                                              "households": pl.Float64})

    measures = rule_measures(rules)
    now = figures_table(measures, codes, population([1000, 1300, 800], [400, 500, None],
                                                    [200, 1400, 100]),
                        empty_workforce, empty_inputs)
    before = figures_table(measures, codes, population([990, 1000, 790], [400, 400, 300],
                                                       [200, 200, 100]),
                           empty_workforce, empty_inputs)
    table = round_violations(rules, RoundFigures(codes, now, {2024: before}), period=2025,
                             workforce={})
    found = sorted(table.select("division_code", "rule_code", "importance", "field")
                   .iter_rows())
    assert found == [
        ("110101001002", "elderly_within_residents", "error", "age_60_plus"),
        ("110101001002", "residents_growth", "warning", "residents"),
        ("110102001001", "households_with_residents", "error", "households"),
    ]


def test_checking_the_whole_round_finds_what_each_submission_did(
        db: tuple[Session, int]) -> None:
    from shequ.services.reporting.models import FormValue, RoundForm
    from shequ.services.reporting.validation import check_round

    session, round_id = db
    # UNIT: residents 1300 (growth on 990 and an outlier), explained; OTHER: 80+ > 60+;
    # WEST: a draft, not checked
    forms = {UNIT: ("submitted", {**GOOD, "residents": 1300.0}, {"residents": "新小区"}),
             OTHER: ("approved", {**GOOD, "age_80_plus": 300.0}, {}),
             WEST: ("draft", {**GOOD, "disabled": 2000.0}, {})}
    for code, (status, values, notes) in forms.items():
        form = RoundForm(round_id=round_id, division_code=code, status=status,
                         updated_at=local_now())
        session.add(form)
        session.flush()
        session.add_all([FormValue(form_id=form.id, item=k, value=v, comment=notes.get(k))
                         for k, v in values.items()])
    session.commit()
    admin = session.scalars(select(User).where(User.username == "admin")).one()
    assert check_round(session, admin, round_id) == 3
    session.commit()
    rows = sorted((r.division_code, r.rule_code, r.comment) for r in session.scalars(
        select(ValidationViolation)))
    assert rows == [(UNIT, "residents_growth", "新小区"), (UNIT, "residents_outlier", "新小区"),
                    (OTHER, "oldest_within_elderly", None)]
    expected = {(code, v.rule_code) for code in (UNIT, OTHER) for v in check_submission(
        session, round_id, code, forms[code][1], {})}
    assert {(c, r) for c, r, _ in rows} == expected
    officer = session.scalars(select(User).where(User.username == "officer_dhm")).one()
    with pytest.raises(AccessDenied):
        check_round(session, officer, round_id)
