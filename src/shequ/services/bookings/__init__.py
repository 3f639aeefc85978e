"""Venue booking: community rooms, activity centres and sports fields of the registry.

Public surface: the tables (:class:`BookableResource`, :class:`Booking`, …), the rules
(:class:`Booker`), the service verbs (:func:`create_resource`, :func:`book`,
:func:`book_series`, :func:`decide`, :func:`cancel`, :func:`due_reminders`,
:func:`export_ical`) and the indicator inputs :func:`utilisation` (per facility) and
:func:`utilisation_by_division`.
"""

from shequ.services.bookings.models import (
    BookableResource,
    BookerScope,
    Booking,
    BookingSeries,
    BookingSlot,
    BookingStatus,
)
from shequ.services.bookings.rules import BOOKABLE_FACILITY_TYPES, Booker
from shequ.services.bookings.service import (
    book,
    book_series,
    cancel,
    create_resource,
    decide,
    due_reminders,
    export_ical,
    mark_reminded,
    slot_views,
    utilisation,
    utilisation_by_division,
)

__all__ = [
    "BOOKABLE_FACILITY_TYPES",
    "BookableResource",
    "Booker",
    "BookerScope",
    "Booking",
    "BookingSeries",
    "BookingSlot",
    "BookingStatus",
    "book",
    "book_series",
    "cancel",
    "create_resource",
    "decide",
    "due_reminders",
    "export_ical",
    "mark_reminded",
    "slot_views",
    "utilisation",
    "utilisation_by_division",
]
