"""A split by boundaries: each part brings its polygon; facilities and located rows go by
location, the communities by containment and the people by the share of the old unit each
part takes (the communities' residents for a township, else the old boundary's area).
Hand-checked on small boxes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from shapely import box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ValidationError
from shequ.registry import queries
from shequ.registry.boundaries import (
    as_multipolygon,
    boundary_records,
    carry_boundaries,
    store_boundaries,
)
from shequ.registry.changes import ChangeEvent, NewUnit, apply_changes
from shequ.registry.models import (
    Division,
    DivisionChangeEvent,
    Facility,
    Population,
    Workforce,
)
from tests.registry.test_changes import facility, people, totals, unit

START = dt.date(2020, 1, 1)
ON = dt.date(2024, 3, 1)
AFTER = dt.date(2024, 6, 1)
SOUTH, NORTH = 38.09, 38.11


@pytest.fixture
def county(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """One town (114.49–114.57) of three villages side by side, 0.02°, 0.02° and 0.04°
    wide, each with its boundary; population, workers and facilities as listed."""
    with sessions() as session, session.begin():
        divisions = [
            unit("130000000000", 1, None, "河北省", "province"),
            unit("130100000000", 2, "130000000000", "石家庄市", "prefecture_city"),
            unit("130123000000", 3, "130100000000", "正定县", "county"),
            unit("130123100000", 4, "130123000000", "正定镇", "town", (114.53, 38.10)),
            unit("130123100201", 5, "130123100000", "东村村委会", "villagers_committee",
                 (114.50, 38.10)),
            unit("130123100202", 5, "130123100000", "西村村委会", "villagers_committee",
                 (114.52, 38.10)),
            unit("130123100203", 5, "130123100000", "南村村委会", "villagers_committee",
                 (114.55, 38.10)),
        ]
        session.add_all(divisions)
        session.add_all([
            people("130123100201", 2024, 1010, 203, 31),
            people("130123100202", 2024, 507, 101, 11),
            people("130123100203", 2021, 800, 140, 20),
            people("130123100203", 2024, 901, 150, 21),
            Workforce(division_code="130123100203", period=2024, role="community_worker",
                      certification="none", headcount=5, synthetic=True, source="test"),
            facility("F1", "130123100201", (114.50, 38.10)),
            facility("F3", "130123100203", (114.539, 38.10)),
            facility("F4", "130123100203", (114.561, 38.10)),
            facility("F5", "130123100203", None),
        ])
        session.flush()
        by_code = {d.code: d for d in divisions}
        store_boundaries(session, [
            (by_code["130123100000"], as_multipolygon(box(114.49, SOUTH, 114.57, NORTH))),
            (by_code["130123100201"], as_multipolygon(box(114.49, SOUTH, 114.51, NORTH))),
            (by_code["130123100202"], as_multipolygon(box(114.51, SOUTH, 114.53, NORTH))),
            (by_code["130123100203"], as_multipolygon(box(114.53, SOUTH, 114.57, NORTH))),
        ], source="test")
    return sessions


def south_village_split(west: BaseGeometry | None = None, east: BaseGeometry | None = None
                        ) -> ChangeEvent:
    """南村 into a west quarter (keeps the code) and an east three quarters."""
    return ChangeEvent("split", ON, old=("130123100203",), new=(
        NewUnit("130123100203", "南村村委会", boundary=west or box(114.53, SOUTH, 114.54, NORTH),
                facilities=("F5",)),
        NewUnit("130123100204", "新南村村委会",
                boundary=east or box(114.54, SOUTH, 114.57, NORTH))), rows=(4, 5))


def test_a_village_split_by_boundaries_shares_people_by_area_and_places_facilities(
        county: sessionmaker[Session]) -> None:
    with county() as session:
        before = totals(session)
    with county() as session, session.begin():
        report = apply_changes(session, [south_village_split()])
    assert report.moved["facility"] == 1  # F4 to the east part; F3 and F5 stay
    with county() as session:
        assert totals(session) == before
        placed = {f.external_id: f.division_code for f in session.scalars(select(Facility))}
        # F3 (114.539) lies in the west quarter, F4 (114.561) in the east; F5 has no
        # location and is listed for the west part
        assert placed == {"F1": "130123100201", "F3": "130123100203",
                          "F4": "130123100204", "F5": "130123100203"}
        rows = {(p.division_code, p.period): (p.residents, p.households, p.age_60_plus,
                                              p.age_80_plus)
                for p in session.scalars(select(Population))}
        # 2024 by the area shares ¼ and ¾ (largest remainders, ties to the first part):
        # residents 901 → 225.25 | 675.75 → 225 | 676; households 450 → 112.5 | 337.5 →
        # 113 | 337; 60+ 150 → 37.5 | 112.5 → 38 | 112; 80+ 21 → 5.25 | 15.75 → 5 | 16
        assert rows[("130123100203", 2024)] == (225, 113, 38, 5)
        assert rows[("130123100204", 2024)] == (676, 337, 112, 16)
        assert rows[("130123100203", 2021)] == (800, 400, 140, 20)  # before: stays
        workers = {row.division_code: row.headcount for row in session.execute(
            select(Workforce.division_code, Workforce.headcount))}
        assert workers == {"130123100203": 1, "130123100204": 4}  # 1.25 | 3.75
        event = session.scalars(select(DivisionChangeEvent)).one()
        shares = json.loads(event.shares or "{}")
        assert shares == pytest.approx({"130123100203": 0.25, "130123100204": 0.75})
        assert event.note == "people shared by boundaries: area of the old boundary"
        # the parts' boundaries are stored for their new versions
        stored = {r.code: r.shape.bounds for r in boundary_records(
            session, level=5, as_of=AFTER)}
        assert stored["130123100204"] == pytest.approx((114.54, SOUTH, 114.57, NORTH))
        assert stored["130123100203"] == pytest.approx((114.53, SOUTH, 114.54, NORTH))


def test_a_township_split_by_boundaries_moves_communities_by_containment(
        county: sessionmaker[Session]) -> None:
    with county() as session:
        before = totals(session)
    with county() as session, session.begin():
        apply_changes(session, [ChangeEvent("split", ON, old=("130123100000",), new=(
            NewUnit("130123100000", "正定镇", boundary=box(114.49, SOUTH, 114.53, NORTH)),
            NewUnit("130123102000", "正定新镇", boundary=box(114.53, SOUTH, 114.57, NORTH))),
            rows=(2, 3))])
    with county() as session:
        assert totals(session) == before
        kids = {d.code: d.name for d in queries.children(session, "130123102000",
                                                          as_of=AFTER)}
        assert kids == {"130123102203": "南村村委会"}
        assert {d.code for d in queries.children(session, "130123100000", as_of=AFTER)} == {
            "130123100201", "130123100202"}
        # the communities' residents of 2024: 1010 + 507 west, 901 east
        event = session.scalars(select(DivisionChangeEvent).where(
            DivisionChangeEvent.kind == "split")).one()
        assert json.loads(event.shares or "{}") == pytest.approx(
            {"130123100000": 1517 / 2418, "130123102000": 901 / 2418})
        assert event.note == "people shared by boundaries: residents of the communities"
        moved = {f.external_id: f.division_code for f in session.scalars(select(Facility))}
        assert moved["F4"] == moved["F3"] == "130123102203"


def test_bad_part_boundaries_are_each_named_and_nothing_is_written(
        county: sessionmaker[Session]) -> None:
    bowtie = box(0, 0, 1, 1).exterior  # a ring, not a polygon
    with county() as session, session.begin(), pytest.raises(ValidationError) as caught:
        apply_changes(session, [
            # the parts overlap by 0.005° (≈ 440 m) and leave 114.565–114.57 uncovered
            south_village_split(box(114.53, SOUTH, 114.545, NORTH),
                                box(114.54, SOUTH, 114.565, NORTH)),
            ChangeEvent("split", ON, old=("130123100202",), new=(
                NewUnit("130123100202", "西村村委会", boundary=bowtie),
                NewUnit("130123100205", "新西村村委会",
                        boundary=box(114.52, SOUTH, 114.60, NORTH))), rows=(8, 9)),
        ])
    found = sorted((p.row, p.code) for p in caught.value.problems)
    assert found == [(4, "changes.split_boundary_uncovered"),
                     (5, "changes.split_boundary_overlap"),
                     (8, "changes.split_boundary_not_polygon")]
    with county() as session:
        assert session.scalar(select(func.count()).select_from(DivisionChangeEvent)) == 0
        assert queries.division(session, "130123100203", as_of=AFTER).name == "南村村委会"


def test_a_part_reaching_outside_and_a_facility_in_no_part_are_refused(
        county: sessionmaker[Session]) -> None:
    with county() as session, session.begin(), pytest.raises(ValidationError) as caught:
        apply_changes(session, [south_village_split(east=box(114.54, SOUTH, 114.58, NORTH))])
    assert [(p.row, p.code) for p in caught.value.problems] == [
        (5, "changes.split_boundary_outside")]
    # without a stored boundary of the old unit the parts are not checked against it, but
    # a facility that lies in no part is named
    with county() as session, session.begin():
        session.execute(Division.__table__.update().values(longitude=None))  # type: ignore[attr-defined]
        from shequ.registry.models import DivisionBoundary
        session.execute(DivisionBoundary.__table__.delete())  # type: ignore[attr-defined]
    with county() as session, session.begin(), pytest.raises(ValidationError) as caught:
        apply_changes(session, [south_village_split(east=box(114.54, SOUTH, 114.555, NORTH))])
    with county() as session:  # a session of its own: none is left holding a connection
        f4 = session.scalar(select(Facility.id).where(Facility.external_id == "F4"))
    assert [(p.code, p.params["id"]) for p in caught.value.problems] == [
        ("changes.outside_parts", f4)]
    assert "114.561000, 38.100000" in caught.value.problems[0].reason


def test_a_merge_and_a_rename_carry_the_boundaries_on_both_back_ends(
        county: sessionmaker[Session]) -> None:
    with county() as session, session.begin():
        report = apply_changes(session, [
            ChangeEvent("merge", ON, old=("130123100201", "130123100202"),
                        new=(NewUnit("130123100201", "东西村村委会"),), rows=(2, 3)),
            ChangeEvent("rename", ON, old=("130123100203",),
                        new=(NewUnit("130123100203", "南庄村委会"),), rows=(4,))])
        assert carry_boundaries(session, report.events, source="test") == 2
    with county() as session:
        shapes = {r.code: r for r in boundary_records(session, level=5, as_of=AFTER)}
        # the merged village: 114.49–114.51 ∪ 114.51–114.53, one box 0.04° × 0.02°
        merged = shapes["130123100201"]
        assert merged.name == "东西村村委会"
        assert merged.shape.bounds == pytest.approx((114.49, SOUTH, 114.53, NORTH))
        assert merged.shape.area == pytest.approx(0.04 * 0.02)
        assert len(merged.shape.geoms) == 1  # one polygon, the shared edge dissolved
        renamed = shapes["130123100203"]
        assert renamed.name == "南庄村委会"
        assert renamed.shape.bounds == pytest.approx((114.53, SOUTH, 114.57, NORTH))
        assert set(shapes) == {"130123100201", "130123100203"}
