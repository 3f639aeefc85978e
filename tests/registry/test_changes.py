"""Division changes carry their data: facilities, population and workforce move to the
successors by the stated rules, the totals stay, and a bad batch writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ValidationError
from shequ.registry import queries
from shequ.registry.changes import ChangeEvent, NewUnit, apply_changes
from shequ.registry.models import (
    Division,
    DivisionChange,
    DivisionChangeEvent,
    Facility,
    Population,
    Workforce,
)

START = dt.date(2020, 1, 1)
ON = dt.date(2024, 3, 1)
AFTER = dt.date(2024, 6, 1)


def unit(code: str, level: int, parent: str | None, name: str, kind: str,
         point: tuple[float, float] | None = None) -> Division:
    return Division(code=code, level=level, parent_code=parent, name=name, kind=kind,
                    valid_from=START, code_source="nbs-range", source="test",
                    longitude=point[0] if point else None,
                    latitude=point[1] if point else None, synthetic_geography=True)


def people(code: str, period: int, residents: int, sixty: int, eighty: int) -> Population:
    return Population(division_code=code, period=period, residents=residents,
                      households=residents // 2, age_60_plus=sixty, age_80_plus=eighty,
                      synthetic=True, source="test")


def facility(ident: str, code: str, point: tuple[float, float] | None) -> Facility:
    return Facility(external_id=ident, type_code="comprehensive_service", division_code=code,
                    name=f"设施{ident}", longitude=point[0] if point else None,
                    latitude=point[1] if point else None, synthetic=True, source="test")


@pytest.fixture
def county(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Two towns of one county, three villages in the first, one in the second."""
    with sessions() as session, session.begin():
        session.add_all([
            unit("130000000000", 1, None, "河北省", "province"),
            unit("130100000000", 2, "130000000000", "石家庄市", "prefecture_city"),
            unit("130123000000", 3, "130100000000", "正定县", "county"),
            unit("130123100000", 4, "130123000000", "正定镇", "town", (114.50, 38.10)),
            unit("130123101000", 4, "130123000000", "新城铺镇", "town", (114.60, 38.10)),
            unit("130123100201", 5, "130123100000", "东村村委会", "villagers_committee",
                 (114.50, 38.10)),
            unit("130123100202", 5, "130123100000", "西村村委会", "villagers_committee",
                 (114.52, 38.10)),
            unit("130123100203", 5, "130123100000", "南村村委会", "villagers_committee",
                 (114.54, 38.10)),
            unit("130123101201", 5, "130123101000", "北村村委会", "villagers_committee",
                 (114.60, 38.12)),
            people("130123100201", 2021, 1000, 200, 30),
            people("130123100202", 2021, 500, 100, 10),
            people("130123100201", 2024, 1010, 203, 31),
            people("130123100202", 2024, 507, 101, 11),
            people("130123100203", 2024, 901, 150, 21),
            Workforce(division_code="130123100203", period=2024, role="community_worker",
                      certification="none", headcount=5, synthetic=True, source="test"),
            facility("F1", "130123100201", (114.50, 38.10)),
            facility("F2", "130123100202", (114.52, 38.10)),
            facility("F3", "130123100203", (114.539, 38.10)),
            facility("F4", "130123100203", (114.561, 38.10)),
            facility("F5", "130123101201", None),
        ])
    return sessions


def totals(session: Session) -> tuple[int, int, int]:
    return (int(session.scalar(select(func.count()).select_from(Facility)) or 0),
            int(session.scalar(select(func.sum(Population.residents))) or 0),
            int(session.scalar(select(func.sum(Workforce.headcount))) or 0))


def codes_of(session: Session, model: type[Facility] | type[Population]) -> dict[str, str]:
    if model is Facility:
        return {str(f.external_id): f.division_code for f in session.scalars(select(Facility))}
    return {f"{p.division_code}/{p.period}": str(p.residents)
            for p in session.scalars(select(Population))}


def test_a_merge_sums_the_years_it_is_in_force_for_and_moves_the_facilities(
        county: sessionmaker[Session]) -> None:
    with county() as session:
        before = totals(session)
    with county() as session, session.begin():
        report = apply_changes(session, [ChangeEvent(
            "merge", ON, old=("130123100201", "130123100202"),
            new=(NewUnit("130123100201", "东西村村委会"),), rows=(2, 3))])
    assert report.opened == 1 and report.closed == 2
    with county() as session:
        assert totals(session) == before
        merged = queries.division(session, "130123100201", as_of=AFTER)
        assert merged.name == "东西村村委会"
        # the successor keeps the continuing unit's point, so planning still places it
        assert (merged.longitude, merged.latitude) == (114.50, 38.10)
        facilities = codes_of(session, Facility)
        assert facilities["F1"] == facilities["F2"] == "130123100201"
        rows = codes_of(session, Population)
        # 2024: 1010 + 507; 2021 stays on the old codes (that hierarchy was in force then)
        assert rows["130123100201/2024"] == "1517"
        assert "130123100202/2024" not in rows
        assert rows["130123100202/2021"] == "500"
        links = session.execute(select(DivisionChange.predecessor_code,
                                       DivisionChange.successor_code, DivisionChange.share)
                                .order_by(DivisionChange.predecessor_code)).all()
        assert [tuple(link) for link in links] == [
            ("130123100201", "130123100201", 1.0), ("130123100202", "130123100201", 1.0)]
        event = session.scalars(select(DivisionChangeEvent)).one()
        assert (event.kind, event.effective_on) == ("merge", ON)


def test_a_split_shares_people_and_workers_and_places_facilities_by_location(
        county: sessionmaker[Session]) -> None:
    with county() as session:
        before = totals(session)
    with county() as session, session.begin():
        apply_changes(session, [ChangeEvent(
            "split", ON, old=("130123100203",),
            new=(NewUnit("130123100203", "南村村委会", share=0.6, longitude=114.54,
                         latitude=38.10),
                 NewUnit("130123100204", "新南村村委会", share=0.4, longitude=114.56,
                         latitude=38.10)), rows=(4, 5))])
    with county() as session:
        assert totals(session) == before
        rows = codes_of(session, Population)
        # 901 × 0.6 = 540.6 → 541 (largest remainder), 901 × 0.4 = 360.4 → 360
        assert (rows["130123100203/2024"], rows["130123100204/2024"]) == ("541", "360")
        sixty = dict(session.execute(select(Population.division_code, Population.age_60_plus)
                                     .where(Population.period == 2024)).all())
        assert (sixty["130123100203"], sixty["130123100204"]) == (90, 60)
        workers = dict(session.execute(select(Workforce.division_code, Workforce.headcount)).all())
        assert workers == {"130123100203": 3, "130123100204": 2}
        facilities = codes_of(session, Facility)
        # F3 lies 100 m from the old seat, F4 100 m from the new part's point
        assert (facilities["F3"], facilities["F4"]) == ("130123100203", "130123100204")


def test_a_reparent_moves_the_subtree_under_its_new_parent(
        county: sessionmaker[Session]) -> None:
    with county() as session, session.begin():
        session.add(unit("130124000000", 3, "130100000000", "新乐市", "county_level_city"))
    with county() as session, session.begin():
        apply_changes(session, [ChangeEvent(
            "reparent", ON, old=("130123101000",),
            new=(NewUnit(None, None, parent="130124000000"),))])
    with county() as session:
        moved = [(d.code, d.name) for d in queries.subtree(session, "130124", as_of=AFTER)]
        assert moved == [("130124000000", "新乐市"), ("130124101000", "新城铺镇"),
                         ("130124101201", "北村村委会")]
        assert codes_of(session, Facility)["F5"] == "130124101201"
        assert [d.code for d in queries.children(session, "130123", as_of=AFTER)] == [
            "130123100000"]


def test_a_bad_batch_names_every_problem_and_writes_nothing(
        county: sessionmaker[Session]) -> None:
    with county() as session:
        before = (totals(session), session.scalar(select(func.count()).select_from(Division)))
    batch = [
        ChangeEvent("rename", ON, old=("130123100299",), new=(NewUnit(None, "无村"),),
                    rows=(2,)),
        ChangeEvent("split", ON, old=("130123100203",),
                    new=(NewUnit("130123100203", "南村", share=0.5),
                         NewUnit("130123100204", "新南村", share=0.4)), rows=(3, 4)),
        ChangeEvent("rename", dt.date(2019, 5, 1), old=("130123100201",),
                    new=(NewUnit(None, "东庄村委会"),), rows=(5,)),
        ChangeEvent("reparent", ON, old=("130123000000",),
                    new=(NewUnit(None, None, parent="130123100000"),), rows=(6,)),
        ChangeEvent("rename", ON, old=("130123100202",), new=(NewUnit(None, "西庄村委会"),),
                    rows=(7,)),
    ]
    with county() as session, pytest.raises(ValidationError) as caught:
        apply_changes(session, batch, source="changes.csv")
    found = {(p.row, str(p.code)) for p in caught.value.problems}
    assert found == {(2, "changes.unknown_code"), (3, "changes.split_sum"),
                     (5, "changes.before_existence"), (6, "changes.cycle")}
    with county() as session:
        assert (totals(session), session.scalar(select(func.count()).select_from(Division))
                ) == before
        assert session.scalar(select(func.count()).select_from(DivisionChangeEvent)) == 0


def test_abolishing_a_unit_that_still_holds_data_is_refused_naming_the_rows(
        county: sessionmaker[Session]) -> None:
    with county() as session, session.begin(), pytest.raises(ValidationError) as caught:
        apply_changes(session, [ChangeEvent("abolish", ON, old=("130123100203",))])
    reasons = " | ".join(p.reason for p in caught.value.problems)
    assert "facility rows without a division" in reasons
    assert "population rows" in reasons and "workforce rows" in reasons


def test_a_chain_in_one_batch_carries_each_row_through_every_step(
        county: sessionmaker[Session]) -> None:
    """Recodes and merges of one another's successors in one batch: the batch is carried
    in waves of changes that share no code, which must give what the changes one by one
    in date order give."""
    with county() as session:
        before = totals(session)
    batch = [
        ChangeEvent("recode", dt.date(2024, 3, 1), old=("130123100203",),
                    new=(NewUnit("130123100209"),)),
        ChangeEvent("merge", dt.date(2024, 5, 1), old=("130123100201", "130123100209"),
                    new=(NewUnit("130123100201"),)),
        ChangeEvent("recode", dt.date(2024, 7, 1), old=("130123100202",),
                    new=(NewUnit("130123100208"),)),
        ChangeEvent("merge", dt.date(2024, 9, 1), old=("130123100208", "130123100201"),
                    new=(NewUnit("130123100208", "东西南村村委会"),)),
    ]
    with county() as session, session.begin():
        report = apply_changes(session, batch)
    # F3, F4 twice before the last merge, F2 once, then F1, F3, F4; a 2024 row per step
    assert dict(report.moved) == {"facility": 8, "population": 4, "workforce": 3}
    with county() as session:
        assert totals(session) == before
        assert codes_of(session, Facility) == {
            "F1": "130123100208", "F2": "130123100208", "F3": "130123100208",
            "F4": "130123100208", "F5": "130123101201"}
        # 2024: 1010 + 507 + 901; 2021 stays where it was
        assert codes_of(session, Population) == {
            "130123100208/2024": "2418", "130123100201/2021": "1000",
            "130123100202/2021": "500"}
        row = session.scalars(select(Population).where(Population.period == 2024)).one()
        assert (row.households, row.age_60_plus, row.age_80_plus) == (505 + 253 + 450,
                                                                      454, 63)
        worker = session.scalars(select(Workforce)).one()
        assert (worker.division_code, worker.headcount) == ("130123100208", 5)
