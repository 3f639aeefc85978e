"""Slots from opening hours: the pure core of venue booking.

A resource is open in the intervals its OSM ``opening_hours`` expression gives
(evaluated by opening-hours-py).  Each open interval ``[a, b)`` is cut into slots of
``slot_minutes`` starting at ``a``: ``a, a+s, a+2s, …`` while ``start + s <= b``; a
remainder shorter than a slot is not bookable.  A booking must cover consecutive whole
slots of one open interval.  Times are naive local (China Standard Time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import opening_hours

from shequ.errors import Problem, ValidationError


@dataclass(frozen=True, slots=True)
class Slot:
    """One bookable slot ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime


@lru_cache(maxsize=512)
def parse_opening_hours(expression: str) -> opening_hours.OpeningHours:
    """The parsed expression; a ValidationError says what is wrong with it."""
    try:
        return opening_hours.OpeningHours(expression)
    except Exception as exc:  # the parser raises its own error types
        raise ValidationError([Problem(
            "opening_hours", f"{expression!r} is not a valid OSM opening_hours expression: "
            f"{exc}", hint="e.g. 'Mo-Fr 08:00-12:00,14:00-18:00; Sa 09:00-17:00'",
            column="opening_hours", code="bookings.bad_opening_hours",
            params={"value": expression},
        )]) from exc


def open_intervals(expression: str, start: dt.datetime, end: dt.datetime
                   ) -> list[tuple[dt.datetime, dt.datetime]]:
    """The intervals in ``[start, end)`` when the expression says *open*, clipped.

    Unknown or closed states are not bookable.  Adjacent open intervals are merged.
    """
    if end <= start:
        return []
    parsed = parse_opening_hours(expression)
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for a, b, state, _comment in parsed.intervals(start, end):
        if state != opening_hours.State.OPEN:
            continue
        lo, hi = max(a, start), min(b if b is not None else end, end)
        if hi <= lo:
            continue
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def open_minutes(expression: str, start: dt.datetime, end: dt.datetime) -> float:
    """Total open time in ``[start, end)``, in minutes."""
    return sum((b - a).total_seconds() for a, b in open_intervals(expression, start, end)) / 60


def _slots_of_interval(a: dt.datetime, b: dt.datetime, step: dt.timedelta) -> Iterator[Slot]:
    t = a
    while t + step <= b:
        yield Slot(t, t + step)
        t += step


def slots_between(expression: str, start: dt.datetime, end: dt.datetime, *,
                  slot_minutes: int) -> list[Slot]:
    """Every slot that starts in ``[start, end)`` on the resource's grid.

    The grid is anchored at the start of each open interval, so the search window is
    widened to whole days: a window beginning mid-interval sees the same slots.
    """
    step = dt.timedelta(minutes=slot_minutes)
    day0 = dt.datetime.combine(start.date(), dt.time())
    day1 = dt.datetime.combine(end.date(), dt.time()) + dt.timedelta(days=1)
    return [s for a, b in open_intervals(expression, day0, day1)
            for s in _slots_of_interval(a, b, step) if start <= s.start < end]


def covering_slots(expression: str, start: dt.datetime, end: dt.datetime, *,
                   slot_minutes: int) -> list[Slot]:
    """The consecutive whole slots that make up ``[start, end)``.

    Raises ValidationError when the period is not on the slot grid or not inside one
    open interval (the message names the nearest slot boundaries to use instead).
    """
    if end <= start:
        raise ValidationError([Problem("booking", "the end is not after the start",
                                       column="ends_at", code="bookings.end_before_start")])
    step = dt.timedelta(minutes=slot_minutes)
    day0 = dt.datetime.combine(start.date(), dt.time())
    day1 = dt.datetime.combine(end.date(), dt.time()) + dt.timedelta(days=1)
    for a, b in open_intervals(expression, day0, day1):
        if not a <= start < b:
            continue
        if end > b:
            raise ValidationError([Problem(
                "booking", f"the resource closes at {b:%Y-%m-%d %H:%M}, before the "
                f"requested end {end:%H:%M}", column="ends_at",
                hint=f"end at {b:%H:%M} at the latest (opening hours: {expression})",
                code="bookings.closes_before_end", params={"closes": f"{b:%H:%M}"})])
        slots = [s for s in _slots_of_interval(a, b, step) if start <= s.start < end]
        if not slots or slots[0].start != start or slots[-1].end != end:
            offset = (start - a) % step
            raise ValidationError([Problem(
                "booking", f"{start:%H:%M}–{end:%H:%M} is not made of whole "
                f"{slot_minutes}-minute slots", column="starts_at",
                hint=f"slots start at {a:%H:%M} and every {slot_minutes} minutes; e.g. "
                f"{(start - offset):%H:%M}", code="bookings.not_whole_slots",
                params={"minutes": slot_minutes, "first": f"{a:%H:%M}"})])
        return slots
    raise ValidationError([Problem(
        "booking", f"the resource is closed at {start:%Y-%m-%d %H:%M}", column="starts_at",
        hint=f"opening hours: {expression}", code="bookings.closed_then",
        params={"time": f"{start:%Y-%m-%d %H:%M}"})])


@dataclass(frozen=True, slots=True)
class DaysOpen:
    """Days of the week (0 = Monday … 6 = Sunday, ``first`` to ``last``) sharing the same
    open times (``"HH:MM"`` pairs; a day open to midnight ends at ``"24:00"``)."""

    first: int
    last: int
    times: tuple[tuple[str, str], ...]


def weekly_hours(expression: str, week_of: dt.date) -> list[DaysOpen]:
    """The open times of each day of the week holding ``week_of``, runs of days with the
    same times joined (what a notice board says instead of the OSM expression); closed
    days are left out."""
    monday = dt.datetime.combine(week_of - dt.timedelta(days=week_of.weekday()), dt.time())
    runs: list[DaysOpen] = []
    for day in range(7):
        start = monday + dt.timedelta(days=day)
        end = start + dt.timedelta(days=1)
        times = tuple((f"{a:%H:%M}", "24:00" if b == end else f"{b:%H:%M}")
                      for a, b in open_intervals(expression, start, end))
        if not times:
            continue
        if runs and runs[-1].last == day - 1 and runs[-1].times == times:
            runs[-1] = DaysOpen(runs[-1].first, day, times)
        else:
            runs.append(DaysOpen(day, day, times))
    return runs
