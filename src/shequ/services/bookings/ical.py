"""iCalendar (RFC 5545) export of bookings, written with the ``icalendar`` library.

The library takes care of the RFC's text rules (CRLF line ends, content lines folded at
75 octets, TEXT values escaped).  DTSTART, DTEND and DTSTAMP are written in UTC
(``…Z``), so no VTIMEZONE is needed; one VEVENT per booking with a stable UID.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import icalendar

from shequ.services.bookings.clock import to_utc

PRODID = "-//Shequ//Community venue booking//ZH"

# Booking status → iCalendar VEVENT STATUS.
EVENT_STATUS = {
    "pending": "TENTATIVE",
    "approved": "CONFIRMED",
    "cancelled": "CANCELLED",
    "rejected": "CANCELLED",
}


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """What one VEVENT says; times are naive China Standard Time."""

    uid: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    summary: str
    location: str = ""
    description: str = ""
    status: str = "CONFIRMED"


def calendar(events: Iterable[CalendarEvent], *, name: str, stamp: dt.datetime) -> str:
    """A VCALENDAR with one VEVENT per event; ``stamp`` (local time) is the DTSTAMP."""
    cal = icalendar.Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", PRODID)
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for event in events:
        vevent = icalendar.Event()
        vevent.add("uid", event.uid)
        vevent.add("dtstamp", to_utc(stamp))
        vevent.add("dtstart", to_utc(event.starts_at))
        vevent.add("dtend", to_utc(event.ends_at))
        vevent.add("summary", event.summary)
        if event.location:
            vevent.add("location", event.location)
        if event.description:
            vevent.add("description", event.description)
        vevent.add("status", event.status)
        cal.add_component(vevent)
    text: bytes = cal.to_ical()
    return text.decode("utf-8")
