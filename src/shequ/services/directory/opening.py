"""Opening hours in OSM syntax: "open now" and HSDS schedules.

Times are local China Standard Time (UTC+8), the registry's calendar.
"""

from __future__ import annotations

import datetime as dt
import re
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
