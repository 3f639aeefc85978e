"""Property: the slot grid agrees with opening-hours-py's own minute-by-minute answer."""

from __future__ import annotations

import datetime as dt

import opening_hours
from hypothesis import given, settings
from hypothesis import strategies as st

from shequ.services.bookings.slots import open_minutes, slots_between

from .helpers import cst

DAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """A rule of one to three day ranges, each with one or two time spans."""
    rules = []
    for _ in range(draw(st.integers(1, 3))):
        first = draw(st.integers(0, 6))
        last = draw(st.integers(first, 6))
        marks = sorted(draw(st.lists(st.integers(0, 24 * 4), min_size=2, max_size=4,
                                     unique=True)))
        if len(marks) % 2:
            marks = marks[:-1]
        spans = ",".join(f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}"
                         for a, b in zip(marks[::2], marks[1::2], strict=True))
        days = DAYS[first] if first == last else f"{DAYS[first]}-{DAYS[last]}"
        rules.append(f"{days} {spans}")
    return "; ".join(rules)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(expression=expressions(), slot=st.sampled_from([15, 30, 45, 60, 90]))
def test_slots_lie_in_open_time_and_open_minutes_match_the_oracle(expression: str,
                                                                   slot: int) -> None:
    start = cst(2026, 11, 30)
    end = start + dt.timedelta(days=7)
    oh = opening_hours.OpeningHours(expression)
    minutes = [start + dt.timedelta(minutes=m) for m in range(7 * 24 * 60)]
    open_set = {t for t in minutes if oh.is_open(t)}
    assert open_minutes(expression, start, end) == len(open_set)
    slots = slots_between(expression, start, end, slot_minutes=slot)
    for s in slots:
        assert s.end - s.start == dt.timedelta(minutes=slot)
        inside = [s.start + dt.timedelta(minutes=m) for m in range(slot)]
        assert all(t in open_set for t in inside), (expression, s)
    starts = [s.start for s in slots]
    assert starts == sorted(set(starts))
