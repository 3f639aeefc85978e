"""Places find their division by shape: a request pinned inside a village's boundary is
routed to that village even when another village's representative point is nearer, and
the request records the rule; without boundaries the nearest point still decides."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ValidationError
from shequ.registry.models import Division
from shequ.services.requests import ServiceRequest, load_request_catalog
from shequ.services.requests import service as rs

from .boundary_fixtures import load_hierarchy

CATALOG = load_request_catalog()
SOUTH_WEST, SOUTH_EAST = "130123100201", "130123101201"
# Inside 西南村 (114.50–114.52 E), 0.009° from its centre but 0.002° from 东南村's point,
# which is moved to the west edge of its own village.
PIN = (114.519, 38.005)
NOW = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def _load(session: Session, *, boundaries: bool) -> None:
    units = load_hierarchy(session, villages_with_boundaries=boundaries)
    units[SOUTH_EAST].longitude = 114.521
    session.flush()


def _pin(session: Session) -> ServiceRequest:
    draft = rs.RequestDraft(service_code="public_repair",
                            attributes={"fixture": "streetlight"},
                            longitude=PIN[0], latitude=PIN[1])
    request = rs.submit_request(session, CATALOG, draft, now=NOW).request
    session.flush()
    return request


@pytest.mark.parametrize(("boundaries", "village", "rule"), [
    (True, SOUTH_WEST, "boundary"), (False, SOUTH_EAST, "nearest_point")])
def test_a_pinned_request_goes_to_the_village_whose_boundary_holds_it(
        sessions: sessionmaker[Session], boundaries: bool, village: str, rule: str) -> None:
    with sessions.begin() as session:
        _load(session, boundaries=boundaries)
    with sessions.begin() as session:
        request = _pin(session)
        assert (request.division_code, request.placed_by) == (village, rule)
        assert request.responsible_code == village  # a repair is the village's to answer
        handling = rs.handling_for(session, CATALOG, "public_repair", longitude=PIN[0],
                                   latitude=PIN[1], now=NOW)
        assert (handling.place_code, handling.placed_by) == (village, rule)
    with sessions() as session:
        stored = session.scalars(select(ServiceRequest)).one()
        assert (stored.division_code, stored.placed_by) == (village, rule)


def test_a_request_given_a_code_is_placed_by_the_code(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _load(session, boundaries=True)
    with sessions.begin() as session:
        draft = rs.RequestDraft(service_code="public_repair",
                                attributes={"fixture": "streetlight"},
                                division_code=SOUTH_EAST)
        request = rs.submit_request(session, CATALOG, draft, now=NOW).request
        assert (request.division_code, request.placed_by) == (SOUTH_EAST, "code")


def test_a_pin_outside_every_boundary_falls_back_to_the_nearest_point(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _load(session, boundaries=True)
        west = session.scalars(select(Division).where(Division.code == SOUTH_WEST)).one()
        assert west.longitude == pytest.approx(114.51)
    with sessions() as session:
        code, rule = rs.community_at(session.connection(), 114.495, 38.005)
        assert (code, rule.value) == (SOUTH_WEST, "nearest_point")


def test_facilities_imported_by_point_alone_are_placed_and_say_how(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    from shequ.catalog import load_catalog
    from shequ.ingest.tables import import_file
    from shequ.registry.models import Facility
    from shequ.registry.rules import Table

    with sessions.begin() as session:
        _load(session, boundaries=True)
    path = tmp_path / "facilities.csv"
    path.write_text("external_id,type_code,division_code,name,longitude,latitude\n"
                    f"f1,nursery,{SOUTH_EAST},托育点,114.53,38.005\n"
                    f"f2,nursery,,托育点,{PIN[0]},{PIN[1]}\n"
                    "f3,nursery,,托育点,114.495,38.005\n"
                    "f4,nursery,,托育点,,\n", encoding="utf-8")
    with sessions() as session, pytest.raises(ValidationError) as refused:
        import_file(session, load_catalog(), path, Table.FACILITIES)
    assert [(p.row, p.column) for p in refused.value.problems] == [(5, "division_code")]
    path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:-1]) + "\n",
                    encoding="utf-8")
    with sessions.begin() as session:
        import_file(session, load_catalog(), path, Table.FACILITIES)
    with sessions() as session:
        placed = {f.external_id: (f.division_code, f.placed_by)
                  for f in session.scalars(select(Facility))}
    assert placed == {"f1": (SOUTH_EAST, "code"), "f2": (SOUTH_WEST, "boundary"),
                      "f3": (SOUTH_WEST, "nearest_point")}
