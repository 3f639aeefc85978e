"""The hierarchy is time-versioned: queries are answered as of a date."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import NotFoundError, ValidationError
from shequ.registry import queries
from shequ.registry.history import Successor, apply_change
from shequ.registry.models import Division, DivisionChange

START = dt.date(2020, 1, 1)
MERGE_DAY = dt.date(2023, 7, 1)


def unit(code: str, level: int, parent: str | None, name: str, kind: str) -> Division:
    return Division(code=code, level=level, parent_code=parent, name=name, kind=kind,
                    valid_from=START, code_source="import", source="test",
                    synthetic_geography=False)


@pytest.fixture
def township(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions() as session, session.begin():
        session.add_all([
            unit("130000000000", 1, None, "河北省", "province"),
            unit("130100000000", 2, "130000000000", "石家庄市", "prefecture_city"),
            unit("130123000000", 3, "130100000000", "正定县", "county"),
            unit("130123100000", 4, "130123000000", "正定镇", "town"),
            unit("130123100201", 5, "130123100000", "东村村委会", "villagers_committee"),
            unit("130123100202", 5, "130123100000", "西村村委会", "villagers_committee"),
            unit("130123100203", 5, "130123100000", "南村村委会", "villagers_committee"),
        ])
    return sessions


def names(session: Session, on: dt.date) -> list[str]:
    return [d.name for d in queries.children(session, "130123100", as_of=on)]


def test_a_merge_changes_the_children_from_its_date_on(township: sessionmaker[Session]
                                                       ) -> None:
    with township() as session, session.begin():
        apply_change(session, event="merge", on=MERGE_DAY,
                     predecessors=["130123100201", "130123100202"],
                     successors=[Successor("130123100204", "东西村村委会")])
    with township() as session:
        assert names(session, MERGE_DAY - dt.timedelta(days=1)) == [
            "东村村委会", "西村村委会", "南村村委会"]
        assert names(session, MERGE_DAY) == ["南村村委会", "东西村村委会"]
        with pytest.raises(NotFoundError, match="in force on 2024-01-01"):
            queries.division(session, "130123100201", as_of=dt.date(2024, 1, 1))
        links = session.scalars(select(DivisionChange).order_by(
            DivisionChange.predecessor_code)).all()
        assert [(c.event, c.predecessor_code, c.successor_code) for c in links] == [
            ("merge", "130123100201", "130123100204"),
            ("merge", "130123100202", "130123100204")]


def test_a_rename_keeps_the_code_and_both_names_in_history(township: sessionmaker[Session]
                                                           ) -> None:
    with township() as session, session.begin():
        apply_change(session, event="rename", on=MERGE_DAY, predecessors=["130123100203"],
                     successors=[Successor("130123100203", "南村社区居委会",
                                           kind="residents_committee", urban_rural="121")])
    with township() as session:
        before = queries.division(session, "130123100203", as_of=dt.date(2022, 1, 1))
        after = queries.division(session, "130123100203", as_of=dt.date(2024, 1, 1))
        assert (before.name, before.kind) == ("南村村委会", "villagers_committee")
        assert (after.name, after.kind, after.urban_rural) == (
            "南村社区居委会", "residents_committee", "121")


def test_a_change_with_the_wrong_shape_is_refused(township: sessionmaker[Session]) -> None:
    with township() as session, pytest.raises(ValidationError, match="merge needs"):
        apply_change(session, event="merge", on=MERGE_DAY, predecessors=["130123100201"],
                     successors=[Successor("130123100204", "x")])
    with township() as session, pytest.raises(ValidationError, match="unknown change"):
        apply_change(session, event="annex", on=MERGE_DAY, predecessors=["130123100201"])
