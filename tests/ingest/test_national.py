"""The real national hierarchy loads with the published counts, once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from shequ.ingest.national import (
    EXPECTED_COUNTS,
    derive_hierarchy,
    load_national,
    read_address_tree,
)
from shequ.registry import queries
from shequ.registry.models import Division
from shequ.registry.published import read_published_codes


@pytest.fixture(scope="module")
def records() -> list:  # type: ignore[type-arg]
    return list(derive_hierarchy(read_address_tree(), read_published_codes()))


def test_derived_hierarchy_has_the_published_counts_and_unique_codes(records: list) -> None:  # type: ignore[type-arg]
    assert Counter(r.level for r in records) == EXPECTED_COUNTS
    assert EXPECTED_COUNTS == {1: 31, 2: 345, 3: 2854, 4: 39939, 5: 668389}
    codes = [r.code for r in records]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 12 and c.isdigit() for c in codes)


def test_codes_nest_and_follow_the_nbs_ranges(records: list) -> None:  # type: ignore[type-arg]
    by_code = {r.code: r for r in records}
    for record in records:
        if record.parent_code is not None:
            parent = by_code[record.parent_code]
            assert parent.level == record.level - 1
            digits = (2, 4, 6, 9)[parent.level - 1]
            assert record.code[:digits] == parent.code[:digits]
        if record.level == 4:
            number = int(record.code[6:9])
            assert {"street": 1 <= number <= 99, "town": 100 <= number <= 199,
                    "township": 200 <= number <= 399,
                    "township_like": 400 <= number <= 599}[record.kind]
        if record.level == 5:
            number = int(record.code[9:])
            assert {"residents_committee": 1 <= number <= 199,
                    "villagers_committee": 200 <= number <= 399,
                    "committee_like": 400 <= number <= 599}[record.kind]


def test_real_county_codes_are_matched(records: list) -> None:  # type: ignore[type-arg]
    by_name = {(r.level, r.name, r.code[:2]): r for r in records if r.level <= 3}
    zhengding = by_name[(3, "正定县", "13")]
    assert zhengding.code == "130123000000" and zhengding.code_source == "adcode"
    assert by_name[(3, "东城区", "11")].code == "110101000000"
    matched = sum(r.code_source == "adcode" for r in records if r.level == 3)
    assert matched / EXPECTED_COUNTS[3] > 0.97


def test_kinds_and_classes_are_read_from_names(records: list) -> None:  # type: ignore[type-arg]
    units = [r for r in records if r.level == 5]
    assert all(r.kind == "villagers_committee" for r in units if r.name.endswith("村委会"))
    assert all(r.kind == "residents_committee" for r in units if r.name.endswith("居委会"))
    kinds = Counter(r.kind for r in units)
    # The source lists more villages than the 502 k villagers' committees of 2020 and
    # fewer residents' committees than 113 k; the split is the source's, read from names.
    assert kinds == {"villagers_committee": 571_955, "residents_committee": 96_239,
                     "committee_like": 195}
    classes = Counter(r.urban_rural for r in records if r.level == 5)
    assert set(classes) <= {"111", "112", "121", "123", "210", "220"}


def _load_twice(engine: Engine, sessions: sessionmaker[Session]) -> None:
    first = load_national(engine)
    assert first.counts_by_level == EXPECTED_COUNTS
    assert first.inserted == sum(EXPECTED_COUNTS.values())
    if engine.dialect.name == "postgresql":  # the planner's statistics are fresh at once
        with engine.connect() as connection:
            assert connection.scalar(text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'division'"))
    with sessions() as session:
        assert queries.count_by_level(session) == EXPECTED_COUNTS
        assert queries.division(session, "130123").name == "正定县"
    second = load_national(engine)
    assert (second.inserted, second.reversioned) == (0, 0)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Division)) == \
            sum(EXPECTED_COUNTS.values())


@pytest.mark.slow
def test_loading_the_nation_gives_the_counts_per_level_and_is_idempotent(
        engine: Engine, sessions: sessionmaker[Session]) -> None:
    _load_twice(engine, sessions)
