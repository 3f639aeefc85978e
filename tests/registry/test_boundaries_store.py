"""Boundaries stored and asked on both back-ends (SQLite blobs, PostGIS geometry)."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from shapely import MultiPolygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.registry import boundaries
from shequ.registry.boundaries import (
    boundary_records,
    has_boundaries,
    locate_point,
    locate_points,
    store_boundaries,
)
from shequ.registry.levels import BoundaryScale
from shequ.registry.models import Division, DivisionBoundary

ON = dt.date(2020, 1, 1)
TOWN = "130123100000"
WEST, EAST = "130123100201", "130123100202"


def _unit(code: str, level: int, parent: str | None, name: str, source: str) -> Division:
    return Division(code=code, level=level, parent_code=parent, name=name, kind="town",
                    valid_from=ON, code_source=source, source="test")


def _load(session: Session) -> None:
    town = _unit(TOWN, 4, None, "城关镇", "adcode")
    west = _unit(WEST, 5, TOWN, "西村", "nbs-range")
    east = _unit(EAST, 5, TOWN, "东村", "nbs-range")
    session.add_all([town, west, east])
    session.flush()
    # Two villages side by side, 0.01° each, sharing the edge x = 114.51.
    store_boundaries(session, [(town, MultiPolygon([box(114.50, 38.00, 114.52, 38.01)])),
                               (west, MultiPolygon([box(114.50, 38.00, 114.51, 38.01)])),
                               (east, MultiPolygon([box(114.51, 38.00, 114.52, 38.01)]))],
                     source="test file")


def test_points_are_located_by_the_boundary_that_holds_them(sessions: sessionmaker[Session]
                                                            ) -> None:
    with sessions.begin() as session:
        _load(session)
    with sessions() as session:
        connection = session.connection()
        assert has_boundaries(connection, level=5, as_of=ON)
        assert not has_boundaries(connection, level=3, as_of=ON)
        found = locate_points(connection, [114.505, 114.515, 114.51, 114.60],
                              [38.005, 38.005, 38.005, 38.005], as_of=ON)
        # On the shared edge the lower code wins; far away, none.
        assert found == [WEST, EAST, WEST, None]
        assert locate_point(connection, 114.515, 38.001, level=4, as_of=ON) == TOWN
        assert locate_point(connection, 114.515, 38.001, as_of=dt.date(2019, 1, 1)) is None


def test_each_boundary_is_kept_whole_and_at_three_map_scales(sessions: sessionmaker[Session]
                                                             ) -> None:
    with sessions.begin() as session:
        _load(session)
    with sessions() as session:
        scales = dict(session.execute(select(DivisionBoundary.scale, func.count())
                                      .group_by(DivisionBoundary.scale)).all())
        assert scales == {"full": 3, "fine": 3, "medium": 3, "coarse": 3}
        records = boundary_records(session, parent_code=TOWN, as_of=ON)
        assert [(r.code, r.name, r.authority) for r in records] == [
            (WEST, "西村", "derived"), (EAST, "东村", "derived")]
        assert shapely.equals(records[0].shape, box(114.50, 38.00, 114.51, 38.01))
        coarse = boundary_records(session, codes=[TOWN], as_of=ON, scale=BoundaryScale.COARSE)
        assert coarse[0].authority == "official"
        assert abs(coarse[0].shape.area - 0.0002) < 1e-9  # a box stays a box


def test_storing_again_replaces_the_boundary(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _load(session)
    with sessions.begin() as session:
        west = session.scalars(select(Division).where(Division.code == WEST)).one()
        store_boundaries(session, [(west, MultiPolygon([box(114.40, 38.00, 114.41, 38.01)]))],
                         source="second file")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DivisionBoundary)) == 12
        assert locate_point(session.connection(), 114.405, 38.005, as_of=ON) == WEST
        assert locate_point(session.connection(), 114.505, 38.005, as_of=ON) is None


def test_many_points_are_assigned_alike_in_process_and_in_the_database(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    with sessions.begin() as session:
        _load(session)
    xs = [114.505, 114.515, 114.51, 114.60, float("nan")]
    ys = [38.005, 38.005, 38.005, 38.005, 38.005]
    with sessions() as session:
        one_by_one = locate_points(session.connection(), xs, ys, as_of=ON)
        monkeypatch.setattr(boundaries, "POSTGIS_POINTS", 1)  # the bulk path on PostgreSQL
        in_bulk = locate_points(session.connection(), xs, ys, as_of=ON)
    assert one_by_one == in_bulk == [WEST, EAST, WEST, None, None]
