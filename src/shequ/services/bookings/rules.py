"""Booking rules of a resource, checked without the database.

Who may book (account roles, and residents of the resource's community, township or
county), how far ahead (minimum notice, maximum advance), how long (maximum duration),
how many people (capacity).  :func:`booking_problems` lists every broken rule so that
the resident sees all of them at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shequ.errors import Problem
from shequ.services.bookings.models import BookableResource, BookerScope

# Digits of the division code a scope compares (community 12, township 9, county 6).
SCOPE_DIGITS = {BookerScope.COMMUNITY: 12, BookerScope.TOWNSHIP: 9, BookerScope.COUNTY: 6}

# Facility types whose rooms and fields are booked (catalog codes).
BOOKABLE_FACILITY_TYPES = frozenset({
    "comprehensive_service_facility",
    "street_service_centre",
    "cultural_activity_station",
    "cultural_activity_centre",
    "sports_field",
    "sports_venue",
    "volunteer_service_station",
})


@dataclass(frozen=True, slots=True)
class Booker:
    """Who books: an account id, its role and the division it belongs to.

    ``division_code`` is a resident's community or a staff member's jurisdiction
    (12 digits); None when unknown (then only resources open to anyone can be booked).
    """

    user_id: int
    role: str
    division_code: str | None


def allowed_roles(resource: BookableResource) -> list[str]:
    """The account roles that may book the resource."""
    return [r.strip() for r in resource.allowed_roles.split(",") if r.strip()]


def booking_problems(resource: BookableResource, *, facility_division: str, booker: Booker,
                     starts_at: dt.datetime, ends_at: dt.datetime, attendees: int,
                     now: dt.datetime, series: bool = False) -> list[Problem]:
    """Every rule of ``resource`` the requested booking breaks (empty: allowed).

    The opening hours and the slot grid are checked separately (see ``slots``).  A
    booking in a recurring series is exempt from the maximum advance: the series as a
    whole is limited by ``max_series_occurrences`` instead.
    """
    where = f"resource {resource.id} ({resource.name})"
    problems: list[Problem] = []
    if not resource.active:
        problems.append(Problem(where, "the resource is not open for booking",
                                code="bookings.resource_closed"))
    roles = allowed_roles(resource)
    if booker.role not in roles:
        problems.append(Problem(where, f"accounts of role {booker.role!r} may not book it",
                                hint="allowed: " + ", ".join(roles),
                                code="bookings.role_not_allowed"))
    scope = BookerScope(resource.booker_scope)
    if scope != BookerScope.ANYONE:
        digits = SCOPE_DIGITS[scope]
        prefix = facility_division[:digits]
        if booker.division_code is None or not booker.division_code.startswith(prefix):
            problems.append(Problem(
                where, f"only residents of its {scope.value} ({prefix.ljust(12, '0')}) may "
                "book it", hint="choose a venue of your own community or township",
                code=f"bookings.outside_{scope.value}"))
    earliest = now + dt.timedelta(minutes=resource.min_notice_minutes)
    if starts_at < earliest:
        problems.append(Problem(
            where, f"bookings must be made {resource.min_notice_minutes} minutes ahead",
            column="starts_at", hint=f"start at {earliest:%Y-%m-%d %H:%M} or later",
            code="bookings.too_soon", params={"minutes": resource.min_notice_minutes,
                                              "earliest": f"{earliest:%Y-%m-%d %H:%M}"}))
    latest = now + dt.timedelta(days=resource.max_advance_days)
    if not series and starts_at > latest:
        problems.append(Problem(
            where, f"bookings open {resource.max_advance_days} days ahead",
            column="starts_at", hint=f"start by {latest:%Y-%m-%d %H:%M} at the latest",
            code="bookings.too_far", params={"days": resource.max_advance_days,
                                             "latest": f"{latest:%Y-%m-%d %H:%M}"}))
    minutes = (ends_at - starts_at).total_seconds() / 60
    if minutes > resource.max_duration_minutes:
        problems.append(Problem(
            where, f"{minutes:.0f} minutes is longer than the {resource.max_duration_minutes}"
            "-minute maximum", column="ends_at", code="bookings.too_long",
            params={"minutes": f"{minutes:.0f}", "limit": resource.max_duration_minutes}))
    if attendees < 1:
        problems.append(Problem(where, "attendees must be at least 1", column="attendees",
                                code="bookings.no_attendees"))
    if resource.capacity is not None and attendees > resource.capacity:
        problems.append(Problem(
            where, f"{attendees} attendees exceed the capacity of {resource.capacity}",
            column="attendees", code="bookings.over_capacity",
            params={"value": attendees, "capacity": resource.capacity}))
    return problems
