"""Volunteer service: activities of communities and social organisations, sign-up,
hours recorded and confirmed by the organiser, and :func:`volunteer_totals` per
community (an indicator input).
"""

from shequ.services.volunteers.models import (
    ActivityStatus,
    HoursStatus,
    OrganiserKind,
    Volunteer,
    VolunteerActivity,
    VolunteerSignup,
)
from shequ.services.volunteers.service import (
    confirm_hours,
    publish,
    record_hours,
    record_of,
    register,
    sign_up,
    volunteer_totals,
)

__all__ = [
    "ActivityStatus",
    "HoursStatus",
    "OrganiserKind",
    "Volunteer",
    "VolunteerActivity",
    "VolunteerSignup",
    "confirm_hours",
    "publish",
    "record_hours",
    "record_of",
    "register",
    "sign_up",
    "volunteer_totals",
]
