"""Wall-clock time of the services: China Standard Time (UTC+8, no daylight saving).

Bookings, care applications, volunteer hours and reviews compute with naive local
datetimes (what residents read on the notice board; the database keeps the instants, see
:class:`shequ.registry.columns.ChinaDateTime`); iCalendar export converts them to UTC.
"""

from __future__ import annotations

import datetime as dt

from shequ.registry.columns import CHINA_TZ


def local_now() -> dt.datetime:
    """The current China Standard Time as a naive datetime, to the second."""
    return dt.datetime.now(CHINA_TZ).replace(tzinfo=None, microsecond=0)


def to_utc(local: dt.datetime) -> dt.datetime:
    """A naive China Standard Time datetime as an aware UTC datetime."""
    return local.replace(tzinfo=CHINA_TZ).astimezone(dt.UTC)


def as_local(value: dt.datetime) -> dt.datetime:
    """A datetime as naive China Standard Time, to the second (aware input is converted)."""
    if value.tzinfo is not None:
        value = value.astimezone(CHINA_TZ).replace(tzinfo=None)
    return value.replace(microsecond=0)


def as_aware(local: dt.datetime) -> dt.datetime:
    """A naive China Standard Time datetime marked as such (what the page formats take:
    they read a naive value as UTC)."""
    return local.replace(tzinfo=CHINA_TZ) if local.tzinfo is None else local
