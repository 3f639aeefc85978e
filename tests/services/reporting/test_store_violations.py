"""A round's violations written in one stream (COPY on PostgreSQL, one prepared insert
on SQLite) read back exactly as the ORM would have written them, inside the caller's
transaction (a rollback leaves nothing), replacing the round's earlier list.

Hand-checked rows: a rule broken with whole figures (params keep them whole), an
outlier whose upper bound is infinite and whose right value is NaN (both stored as
nothing), and a rule with a fractional figure and the reporter's comment.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequ.services.bookings.clock import local_now
from shequ.services.reporting.rules_models import ValidationViolation
from shequ.services.reporting.validation import store_round_violations

TABLE = pl.DataFrame({
    "division_code": ["110101001001", "110101001002", "110101002001"],
    "left_value": [5.0, 7.0, 6.5],
    "right_value": [2.0, math.nan, 6.0],
    "low": [None, 1.5, None],
    "high": [None, math.inf, None],
    "rule_code": ["elderly_within_residents", "residents_outlier", "household_size"],
    "kind": ["rule", "outlier", "rule"],
    "importance": ["error", "warning", "warning"],
    "field": ["age_60_plus", "residents", "residents"],
    "comment": [None, None, "集体宿舍多"],
})


def _stored(session: Session) -> list[tuple[object, ...]]:
    return [(v.round_id, v.division_code, v.rule_code, v.kind, v.importance, v.field,
             v.left_value, v.right_value, v.params, v.comment)
            for v in session.scalars(select(ValidationViolation).order_by(
                ValidationViolation.id))]


def test_violations_are_stored_exactly_inside_the_transaction(
        sessions: sessionmaker[Session]) -> None:
    before = local_now() - dt.timedelta(seconds=1)
    with sessions() as session:
        assert store_round_violations(session, 7, TABLE) == 3
        session.rollback()
        assert _stored(session) == []  # the stream was part of the transaction
    with sessions() as session, session.begin():
        store_round_violations(session, 7, TABLE)
        store_round_violations(session, 8, TABLE.head(1))
    with sessions() as session:
        rows = _stored(session)
        found = session.scalars(select(ValidationViolation.found_at)).all()
    assert rows == [
        (7, "110101001001", "elderly_within_residents", "rule", "error", "age_60_plus",
         5.0, 2.0, {"left": 5, "right": 2}, None),
        (7, "110101001002", "residents_outlier", "outlier", "warning", "residents",
         7.0, None, {"value": 7, "low": 1.5, "high": None}, None),
        (7, "110101002001", "household_size", "rule", "warning", "residents",
         6.5, 6.0, {"left": 6.5, "right": 6}, "集体宿舍多"),
        (8, "110101001001", "elderly_within_residents", "rule", "error", "age_60_plus",
         5.0, 2.0, {"left": 5, "right": 2}, None)]
    # China wall clock, as every other time of the round
    assert all(before <= at <= local_now() for at in found)
    with sessions() as session, session.begin():  # a new check replaces the round's list
        assert store_round_violations(session, 7, TABLE.tail(1).drop("comment")) == 1
    with sessions() as session:
        assert [(r[0], r[2], r[9]) for r in _stored(session)] == [
            (8, "elderly_within_residents", None), (7, "household_size", None)]
        assert store_round_violations(session, 7, TABLE.head(0)) == 0


def test_a_table_read_back_the_fast_way_keeps_every_value(
        sessions: sessionmaker[Session]) -> None:
    from shequ.services.reporting.validation import _frame

    tricky = TABLE.with_columns(
        pl.Series("comment", ['含,逗号 "引号"\n换行', None, ""]),
        pl.Series("left_value", [0.1, 1e-300, 123456789.123456789]))
    with sessions() as session, session.begin():
        store_round_violations(session, 9, tricky)
    query = select(ValidationViolation.division_code, ValidationViolation.round_id,
                   ValidationViolation.left_value, ValidationViolation.comment).where(
        ValidationViolation.round_id == 9).order_by(ValidationViolation.id)
    schema = {"division_code": pl.String(), "round_id": pl.Int64(),
              "left_value": pl.Float64(), "comment": pl.String()}
    with sessions() as session:
        read = _frame(session, query, schema)
        nothing = _frame(session, query.where(ValidationViolation.round_id == 10), schema)
    assert read.rows() == [("110101001001", 9, 0.1, '含,逗号 "引号"\n换行'),
                           ("110101001002", 9, 1e-300, None),
                           ("110101002001", 9, 123456789.123456789, "")]
    assert nothing.height == 0 and nothing.schema == pl.Schema(schema)
