"""What every domain's tables share: the China time zone, time stamps, division codes,
enum constraints and the "get by id or say how to find one" look-up.

The registry is the bottom layer, so any domain's models may import from here; this module
imports nothing of Shequ but its errors, so that ``registry.models`` can use it as well.

Time stamps come in two kinds, both stored time-zone aware (``timestamptz`` on PostgreSQL,
UTC text on SQLite):

* :class:`AwareDateTime` — an instant; Python sees an aware datetime in UTC on both
  back-ends (SQLite hands back naive text, which is UTC by construction).
* :class:`ChinaDateTime` — the services' wall-clock times (a booking from 19:00, an
  offer deadline, when a review was written), which the services compute with as naive
  China Standard Time.  The database keeps the instant; Python keeps reading and writing
  the naive wall clock, so opening-hours and slot-grid rules stay in local time.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import CheckConstraint, DateTime, Dialect, String
from sqlalchemy.orm import Mapped, MappedColumn, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from shequ.errors import NotFoundError

# Digits of a division code (province 2, prefecture 2, county 2, township 3, community 3).
CODE_LENGTH = 12

# China Standard Time: UTC+8 all year (no daylight saving since 1991), so a naive local
# time maps to exactly one instant and back.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def utc_now() -> dt.datetime:
    """The current instant, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def enum_values(enum: type[StrEnum]) -> str:
    """The enum's values as an SQL list body: ``'a', 'b', 'c'``."""
    return ", ".join(f"'{member.value}'" for member in enum)


def enum_check(column: str, enum: type[StrEnum], *, name: str) -> CheckConstraint:
    """A CHECK that ``column`` holds one of the enum's values.

    The SQL text is ``column IN ('a', 'b')`` exactly as the migrations wrote it, so moving
    a table to this helper changes nothing Alembic compares.
    """
    return CheckConstraint(f"{column} IN ({enum_values(enum)})", name=name)


def division_code_column(*, index: bool = False, nullable: bool | None = None,
                         **kwargs: Any) -> MappedColumn[Any]:
    """A column holding a 12-digit division code (a division is referred to by code)."""
    if nullable is not None:
        kwargs["nullable"] = nullable
    return mapped_column(String(CODE_LENGTH), index=index, **kwargs)


class AwareDateTime(TypeDecorator[dt.datetime]):
    """An instant, stored aware; read back aware in UTC on SQLite as on PostgreSQL.

    A naive value is refused: it is either a wall-clock time (use :class:`ChinaDateTime`)
    or a bug, and storing it as UTC would shift it silently.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect
                           ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given for an instant; "
                             "give an aware datetime (e.g. utc_now())")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect
                             ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class ChinaDateTime(TypeDecorator[dt.datetime]):
    """A wall-clock time in China Standard Time, stored as the aware instant it names.

    Python gives and gets naive CST datetimes (what residents read on the notice board
    and what opening hours are written in); an aware value is converted to CST first.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect
                           ) -> dt.datetime | None:
        if value is None:
            return None
        local = value.replace(tzinfo=CHINA_TZ) if value.tzinfo is None else value
        utc = local.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect
                             ) -> dt.datetime | None:
        if value is None:
            return None
        aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        return aware.astimezone(CHINA_TZ).replace(tzinfo=None)


class CreatedAt:
    """``created_at``: the instant a row was made, aware, set when it is inserted."""

    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime(), default=utc_now)


class CreatedAtLocal:
    """``created_at`` of the services that work in China wall-clock time (see module doc);
    the service sets it to its ``now`` so one request's times agree."""

    created_at: Mapped[dt.datetime] = mapped_column(ChinaDateTime())


RowT = TypeVar("RowT")


def get_or_not_found(session: Session, model: type[RowT], key: object, *, what: str,
                     hint: str, code: str, listed_on: str | None = None) -> RowT:
    """The row of ``model`` with primary key ``key``, or a :class:`NotFoundError` that names
    what was missing (``what``, e.g. "booking") and where valid ids are listed (``hint``,
    e.g. "GET /api/v1/bookings lists yours", in the English text); ``code`` names its
    message for pages and other languages (``errors.<code>``, given the ``id``) and
    ``listed_on`` the page that lists such records, the error page's way on."""
    row = session.get(model, key)
    if row is None:
        raise NotFoundError(f"no {what} with id {key}; {hint}", code=code,
                            params={"id": key}, listed_on=listed_on)
    return row
