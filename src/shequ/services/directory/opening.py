"""Opening hours in OSM syntax: "open now" and HSDS schedules.

Times are local China Standard Time (UTC+8), the registry's calendar.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

import opening_hours

from shequ.registry.columns import CHINA_TZ

_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
# One simple rule: "Mo-Fr 08:00-17:00" or "Sa,Su 09:00-12:00" (anything else: description only).
_SIMPLE = re.compile(r"^\s*([A-Z][a-z](?:[-,][A-Z][a-z])*)\s+(\d\d:\d\d)-(\d\d:\d\d)\s*$")


@lru_cache(maxsize=8192)
def _parsed(text: str) -> opening_hours.OpeningHours | None:
    try:
        return opening_hours.OpeningHours(text)
    except Exception:
        return None


def is_valid(text: str) -> bool:
    """True when ``text`` parses as OSM opening_hours."""
    return _parsed(text) is not None


def is_open(text: str | None, when: dt.datetime) -> bool:
    """True when the hours say open at ``when`` (unknown or unparsable hours: False)."""
    if not text:
        return False
    parsed = _parsed(text)
    if parsed is None:
        return False
    local = when.astimezone(CHINA_TZ).replace(tzinfo=None)
    try:
        return bool(parsed.is_open(local))
    except Exception:
        return False


def _expand(days: str) -> list[str]:
    out: list[str] = []
    for part in days.split(","):
        if "-" in part:
            start, end = part.split("-")
            i, j = _DAYS.index(start), _DAYS.index(end)
            out.extend(_DAYS[i:j + 1] if i <= j else _DAYS[i:] + _DAYS[:j + 1])
        else:
            out.append(part)
    return out


def weekly_rules(text: str | None) -> list[tuple[str, str, str]]:
    """(byday, opens_at, closes_at) per simple ``;``-separated rule; [] when not simple."""
    if not text or not is_valid(text):
        return []
    rules = []
    for part in text.split(";"):
        match = _SIMPLE.match(part)
        if match is None:
            return []
        try:
            days = _expand(match.group(1))
        except ValueError:
            return []
        rules.append((",".join(d.upper() for d in days), match.group(2), match.group(3)))
    return rules


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Days of the week (0 Monday … 6 Sunday) open at the same times, the times as
    ``("08:00", "12:00")`` pairs (``"24:00"`` for the end of the day)."""

    days: tuple[int, ...]
    times: tuple[tuple[str, str], ...]

    @property
    def all_day(self) -> bool:
        """Open the whole day, midnight to midnight."""
        return self.times == (("00:00", "24:00"),)


def _clock(moment: dt.datetime, day: dt.date) -> str:
    if moment.date() > day:
        return "24:00"
    return moment.strftime("%H:%M")


def weekly_hours(text: str | None, *, week_of: dt.date) -> list[WeeklyHours] | None:
    """The opening times of the week (Monday to Sunday) holding ``week_of``, grouped by
    days open at the same times, in the order of their first day; ``[]`` when closed all
    week, None when the hours are unknown or cannot be read.

    The hours are evaluated by the opening_hours parser for each day of that week, so any
    OSM syntax (several ranges, exceptions, "24/7") comes out as the times it gives;
    a time range across midnight is shown as two pieces, one on each day.
    """
    if not text:
        return None
    parsed = _parsed(text)
    if parsed is None:
        return None
    monday = week_of - dt.timedelta(days=week_of.weekday())
    start = dt.datetime.combine(monday, dt.time())
    days: list[list[tuple[str, str]]] = [[] for _ in range(7)]
    try:
        intervals = list(parsed.intervals(start, start + dt.timedelta(days=7)))
    except Exception:
        return None
    for begin, end, state, _comment in intervals:
        if state != opening_hours.State.OPEN:
            continue
        moment = begin
        while moment < end:
            day = moment.date()
            midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
            piece_end = min(end, midnight)
            index = (day - monday).days
            if 0 <= index < 7 and piece_end > moment:
                days[index].append((_clock(moment, day), _clock(piece_end, day)))
            moment = piece_end
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for index, times in enumerate(days):
        if times:
            groups.setdefault(tuple(times), []).append(index)
    return [WeeklyHours(tuple(found), times) for times, found in groups.items()]
