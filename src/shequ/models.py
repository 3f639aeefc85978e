"""Imports every module that defines tables, so that metadata and migrations see them all.

Each domain package adds its models module here (registry first; analyses and services
after it, following the direction data flows).
"""

# The imports follow the data flow (registry, analyses, services), not the alphabet.
# ruff: noqa: I001
from shequ.registry import models as registry_models
from shequ.indicators import models as indicators_models
from shequ.access import models as access_models
from shequ.plan import models as plan_models
from shequ.services.accounts import models as accounts_models
from shequ.services.directory import models as directory_models
from shequ.services.requests import models as requests_models
from shequ.services.bookings import models as bookings_models
from shequ.services.care import models as care_models
from shequ.services.reviews import models as reviews_models
from shequ.services.volunteers import models as volunteers_models
from shequ.services.jobs import models as jobs_models
from shequ.services.reporting import models as reporting_models
from shequ.services.reporting import rules_models as reporting_rules_models
from shequ.services import offline as offline_models
from shequ.services.notify import models as notify_models

__all__ = [
    "access_models",
    "accounts_models",
    "bookings_models",
    "care_models",
    "directory_models",
    "indicators_models",
    "jobs_models",
    "notify_models",
    "offline_models",
    "plan_models",
    "registry_models",
    "reporting_models",
    "reporting_rules_models",
    "requests_models",
    "reviews_models",
    "volunteers_models",
]
