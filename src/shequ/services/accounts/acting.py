"""Where a caller acts: a resident's community, a staff member's jurisdiction.

The resident services (bookings, care places, volunteering, reviews) file a caller's
records under the division they act in (:func:`acting_division`) and list to staff only
what lies under their jurisdiction (:func:`visible_prefix`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from shequ.errors import AccessDenied
from shequ.services.accounts.models import Resident, User
from shequ.services.accounts.policy import jurisdiction_prefix


def acting_division(session: Session, user: User) -> str | None:
    """The caller's division: a resident's community, a staff member's jurisdiction."""
    if user.resident_id is not None:
        resident = session.get(Resident, user.resident_id)
        if resident is not None:
            return resident.division_code
    return user.jurisdiction_code


def visible_prefix(user: User | None) -> str:
    """The prefix of divisions whose staff lists ``user`` may see (residents: none)."""
    if user is None:
        raise AccessDenied("sign in first", code="resident_services.sign_in_first")
    prefix = jurisdiction_prefix(user)
    if prefix is None:
        raise AccessDenied(f"user {user.id} ({user.role}) has no jurisdiction to list",
                           code="resident_services.no_jurisdiction")
    return prefix
