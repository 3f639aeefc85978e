"""Slots come from the OSM opening hours, cut into whole slots from each opening."""

from __future__ import annotations

import datetime as dt

import pytest

from shequ.errors import ValidationError
from shequ.services.bookings.slots import (
    covering_slots,
    open_intervals,
    open_minutes,
    slots_between,
)

from .helpers import cst

HOURS = "Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-17:00"
MONDAY = cst(2026, 11, 30)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour, minutes=minute)


def test_open_intervals_of_a_weekday_are_the_two_sessions() -> None:
    assert open_intervals(HOURS, at(0, 0), at(1, 0)) == [(at(0, 8), at(0, 12)),
                                                          (at(0, 14), at(0, 18))]


def test_open_minutes_of_a_week_is_5_days_of_8_hours_plus_saturday() -> None:
    assert open_minutes(HOURS, at(0, 0), at(7, 0)) == (5 * 8 + 8) * 60


def test_ninety_minute_slots_drop_the_remainder_of_each_session() -> None:
    slots = slots_between(HOURS, at(0, 0), at(1, 0), slot_minutes=90)
    # 08:00–09:30, 09:30–11:00; 11:00–12:30 would pass noon, so the last hour is lost.
    assert [s.start for s in slots] == [at(0, 8), at(0, 9, 30), at(0, 14), at(0, 15, 30)]
    assert slots[-1].end == at(0, 17)


def test_window_starting_mid_session_keeps_the_grid() -> None:
    slots = slots_between(HOURS, at(0, 10, 15), at(0, 12), slot_minutes=60)
    assert [s.start for s in slots] == [at(0, 11)]


def test_sunday_has_no_slots() -> None:
    assert slots_between(HOURS, at(6, 0), at(7, 0), slot_minutes=60) == []


def test_covering_slots_of_two_hours_are_two_hourly_slots() -> None:
    slots = covering_slots(HOURS, at(0, 14), at(0, 16), slot_minutes=60)
    assert [(s.start, s.end) for s in slots] == [(at(0, 14), at(0, 15)), (at(0, 15), at(0, 16))]


@pytest.mark.parametrize(("start", "end", "reason"), [
    (at(0, 12), at(0, 13), "closed"),
    (at(0, 11), at(0, 14), "closes at"),
    (at(0, 8, 30), at(0, 9, 30), "whole 60-minute slots"),
    (at(6, 10), at(6, 11), "closed"),
    (at(0, 10), at(0, 10), "not after"),
])
def test_periods_off_the_grid_or_outside_hours_are_refused(
        start: dt.datetime, end: dt.datetime, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        covering_slots(HOURS, start, end, slot_minutes=60)


def test_a_bad_expression_names_itself() -> None:
    with pytest.raises(ValidationError, match="not a valid OSM opening_hours"):
        open_intervals("Mo-Fr 25:00-26:99", at(0, 0), at(1, 0))
