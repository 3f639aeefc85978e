"""Figures of year Y on the hierarchy of date H: data on predecessor codes count in their
successors (a merge sums them, a split shares them out), so a series across a change is
continuous.  Hand-checked on a town of four villages:

    2024-01-01  A (201) absorbs B (202): A' = A + B
                C (203) splits: C' keeps 0.6, E (205) takes 0.4
    D (204) does not change.

2021 households: A 100, B 60, C 200, D 80 (440); comprehensive service facilities (CSF):
300 m² in B (carried to A' by the merge: facilities are kept on today's codes), 200 m² in
C.  On the 2025 hierarchy: households A' 160, C' 120, E 80, D 80
(still 440); N4 = 100 × CSF floor area ÷ households: A' 100 × 300 / 160 = 187.5,
C' 100 × 200 / 120 = 166.67, E 0, county 100 × 500 / 440 = 113.64; N2 (villages with a
CSF) = 2 of 4 = 50 %.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from sqlalchemy.orm import Session, sessionmaker

from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.engine import MeasureTables, compute_indicators
from shequ.indicators.remap import code_mapping
from shequ.indicators.store import load_measure_tables
from shequ.registry.changes import ChangeEvent, NewUnit, apply_changes
from shequ.registry.models import Division, Facility, Population

ON = dt.date(2024, 1, 1)
START = dt.date(2020, 1, 1)
OLD, NEW = dt.date(2021, 12, 31), dt.date(2025, 1, 1)
PROVINCE, PREFECTURE, COUNTY, TOWN = ("130000000000", "130100000000", "130123000000",
                                      "130123100000")
A, B, C, D, E = (f"1301231002{n:02d}" for n in (1, 2, 3, 4, 5))
CSF = "comprehensive_service_facility"


def divisions() -> pl.DataFrame:
    rows = [
        (PROVINCE, 1, None, "河北省", "province", None, START, None),
        (PREFECTURE, 2, PROVINCE, "石家庄市", "prefecture_city", None, START, None),
        (COUNTY, 3, PREFECTURE, "正定县", "county", None, START, None),
        (TOWN, 4, COUNTY, "正定镇", "town", None, START, None),
        (A, 5, TOWN, "甲村", "villagers_committee", "220", START, ON),
        (A, 5, TOWN, "甲乙村", "villagers_committee", "220", ON, None),
        (B, 5, TOWN, "乙村", "villagers_committee", "220", START, ON),
        (C, 5, TOWN, "丙村", "villagers_committee", "220", START, ON),
        (C, 5, TOWN, "丙村", "villagers_committee", "220", ON, None),
        (D, 5, TOWN, "丁村", "villagers_committee", "220", START, None),
        (E, 5, TOWN, "戊村", "villagers_committee", "220", ON, None),
    ]
    return pl.DataFrame(rows, schema={
        "code": pl.String, "level": pl.Int64, "parent_code": pl.String, "name": pl.String,
        "kind": pl.String, "urban_rural": pl.String, "valid_from": pl.Date,
        "valid_to": pl.Date}, orient="row")


def links() -> pl.DataFrame:
    return pl.DataFrame([(A, A, 1.0, ON), (B, A, 1.0, ON), (C, C, 0.6, ON), (C, E, 0.4, ON)],
                        schema={"predecessor_code": pl.String, "successor_code": pl.String,
                                "share": pl.Float64, "effective_on": pl.Date}, orient="row")


def population() -> pl.DataFrame:
    rows = [(A, 2021, 250, 100), (B, 2021, 150, 60), (C, 2021, 500, 200), (D, 2021, 200, 80),
            (A, 2025, 420, 170), (C, 2025, 320, 130), (E, 2025, 220, 90), (D, 2025, 210, 85)]
    return pl.DataFrame(rows, schema={"division_code": pl.String, "period": pl.Int64,
                                      "residents": pl.Float64, "households": pl.Float64},
                        orient="row")


def facilities() -> pl.DataFrame:
    return pl.DataFrame([(A, CSF, "in_service", 300.0, dt.date(2019, 1, 1)),
                         (C, CSF, "in_service", 200.0, dt.date(2019, 1, 1))],
                        schema={"division_code": pl.String, "type_code": pl.String,
                                "status": pl.String, "floor_area_m2": pl.Float64,
                                "opened_on": pl.Date}, orient="row")


def values(results: pl.DataFrame, indicator: str, period: int) -> dict[str, tuple[float, ...]]:
    rows = results.filter(pl.col("indicator") == indicator, pl.col("period") == period)
    return {r["division_code"]: (r["numerator"], r["denominator"], r["value"])
            for r in rows.iter_rows(named=True)}


def test_2021_on_the_new_hierarchy_sums_the_predecessors() -> None:
    tables = MeasureTables(divisions=divisions(), facilities=facilities(),
                           population=population(), links=links())
    catalog = load_indicator_catalog().subset(["N2", "N4"])
    new = compute_indicators(tables, catalog, as_of=NEW, periods=[2021])
    n4 = values(new, "N4", 2021)
    assert n4[A] == (300.0, 160.0, 187.5)
    assert n4[C][:2] == (200.0, 120.0) and n4[C][2] == pytest.approx(166.6667, abs=1e-4)
    assert n4[E] == (0.0, 80.0, 0.0)
    assert n4[D] == (0.0, 80.0, 0.0)
    assert n4[COUNTY][:2] == (500.0, 440.0)
    assert n4[COUNTY][2] == pytest.approx(113.6364, abs=1e-4)
    assert B not in n4
    assert values(new, "N2", 2021)[COUNTY] == (2.0, 4.0, 50.0)
    # the same year on its own hierarchy: the same county totals, the old villages (the
    # merged village's facility counts in the village whose code it continues)
    old = values(compute_indicators(tables, catalog, as_of=OLD, periods=[2021]), "N4", 2021)
    assert (old[A][:2], old[B][:2], old[C][:2], old[COUNTY][:2]) == (
        (300.0, 100.0), (0.0, 60.0), (200.0, 200.0), (500.0, 440.0))


def test_a_later_year_on_an_earlier_hierarchy_goes_back_to_the_predecessors() -> None:
    tables = MeasureTables(divisions=divisions(), population=population(), links=links())
    catalog = load_indicator_catalog().subset(["N4"])
    old = values(compute_indicators(tables, catalog, as_of=OLD, periods=[2025]), "N4", 2025)
    # E (90) goes back to C (130): 220; A keeps its code (170); B held nothing in 2025
    assert {code: old[code][1] for code in (A, B, C, D, COUNTY)} == {
        A: 170.0, B: 0.0, C: 220.0, D: 85.0, COUNTY: 475.0}


def test_the_mapping_follows_chains_and_keeps_the_weights() -> None:
    later = "130123100206"
    chained = pl.concat([links(), pl.DataFrame([(E, later, 1.0, dt.date(2024, 6, 1))],
                                               schema=links().schema, orient="row")])
    forward = code_mapping(pl.Series([A, B, C, D]), chained, since=OLD, as_of=NEW)
    assert forward.rows() == [(B, A, 1.0), (C, C, 0.6), (C, later, 0.4)]
    back = code_mapping(pl.Series([A, C, later]), chained, since=NEW, as_of=OLD)
    assert back.rows() == [(later, C, 1.0)]


@pytest.fixture
def registry(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    def unit(code: str, level: int, parent: str | None, name: str, kind: str) -> Division:
        return Division(code=code, level=level, parent_code=parent, name=name, kind=kind,
                        urban_rural="220" if level == 5 else None, valid_from=START,
                        code_source="nbs-range", source="test", longitude=114.5 + level / 100,
                        latitude=38.1, synthetic_geography=True)

    with sessions() as session, session.begin():
        session.add_all([
            unit(PROVINCE, 1, None, "河北省", "province"),
            unit(PREFECTURE, 2, PROVINCE, "石家庄市", "prefecture_city"),
            unit(COUNTY, 3, PREFECTURE, "正定县", "county"),
            unit(TOWN, 4, COUNTY, "正定镇", "town"),
            *(unit(code, 5, TOWN, name, "villagers_committee")
              for code, name in ((A, "甲村"), (B, "乙村"), (C, "丙村"), (D, "丁村"))),
        ])
        for code, period, residents, households in population().rows():
            if code != E:
                session.add(Population(division_code=code, period=period,
                                       residents=residents, households=households,
                                       synthetic=True, source="test"))
        session.add_all([
            Facility(type_code=CSF, division_code=code, name=f"{code} 综合服务设施",
                     floor_area_m2=area, opened_on=dt.date(2019, 1, 1), status="in_service",
                     synthetic=True, source="test")
            for code, area in ((B, 300.0), (C, 200.0))])
    return sessions


def test_applied_changes_give_the_hand_checked_figures_from_the_registry(
        registry: sessionmaker[Session]) -> None:
    with registry() as session, session.begin():
        apply_changes(session, [
            ChangeEvent("merge", ON, old=(A, B), new=(NewUnit(A, "甲乙村"),)),
            ChangeEvent("split", ON, old=(C,), new=(NewUnit(C, "丙村", share=0.6),
                                                    NewUnit(E, "戊村", share=0.4)))])
    catalog = load_indicator_catalog().subset(["N2", "N4"])
    with registry() as session:
        tables = load_measure_tables(session, as_of=NEW, period=[2021])
    new = compute_indicators(tables, catalog, as_of=NEW, periods=[2021])
    n4 = values(new, "N4", 2021)
    assert (n4[A][:2], n4[C][:2], n4[E][:2], n4[COUNTY][:2]) == (
        (300.0, 160.0), (200.0, 120.0), (0.0, 80.0), (500.0, 440.0))
    assert values(new, "N2", 2021)[COUNTY] == (2.0, 4.0, 50.0)
