"""Elderly day-care and nursery places: applications, declared priority, offers.

Public surface: the tables, :func:`load_priority_rules` (the data file of points),
the verbs :func:`apply`, :func:`settle` / :func:`fill_free_places`, :func:`accept`,
:func:`decline`, :func:`withdraw`, :func:`end_enrolment`, :func:`expire_offers`,
:func:`waitlist`, :func:`queue_position`, and the indicator input
:func:`care_indicators` (occupancy and waiting times).
"""

from shequ.services.care.models import ApplicationStatus, CareApplication, CarePlaceHold
from shequ.services.care.rules import PriorityRules, load_priority_rules, rank
from shequ.services.care.service import (
    accept,
    apply,
    care_indicators,
    decline,
    end_enrolment,
    expire_offers,
    fill_free_places,
    queue_position,
    settle,
    waitlist,
    withdraw,
)

__all__ = [
    "ApplicationStatus",
    "CareApplication",
    "CarePlaceHold",
    "PriorityRules",
    "accept",
    "apply",
    "care_indicators",
    "decline",
    "end_enrolment",
    "expire_offers",
    "fill_free_places",
    "load_priority_rules",
    "queue_position",
    "rank",
    "settle",
    "waitlist",
    "withdraw",
]
