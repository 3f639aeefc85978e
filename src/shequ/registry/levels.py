"""The registry's plain vocabulary: division levels and kinds, facility statuses.

Kept apart from the table models so that the compute cores (the indicator engine, the
code rules of :mod:`shequ.registry.codes`) use them without loading SQLAlchemy;
:mod:`shequ.registry.models` builds its columns and checks from them.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class DivisionLevel(IntEnum):
    """The five levels of the administrative hierarchy."""

    PROVINCE = 1
    PREFECTURE = 2
    COUNTY = 3
    TOWNSHIP = 4
    COMMUNITY = 5

    @property
    def code_digits(self) -> int:
        """How many leading digits of the 12-digit code this level owns."""
        return (2, 4, 6, 9, 12)[self.value - 1]


class DivisionKind(StrEnum):
    """What kind of unit a division is (from its name or the source data)."""

    # level 1
    PROVINCE = "province"
    MUNICIPALITY = "municipality"
    AUTONOMOUS_REGION = "autonomous_region"
    # level 2
    PREFECTURE_CITY = "prefecture_city"
    AUTONOMOUS_PREFECTURE = "autonomous_prefecture"
    PREFECTURE_AREA = "prefecture_area"
    LEAGUE = "league"
    MUNICIPAL_DISTRICTS = "municipal_districts"
    MUNICIPAL_COUNTIES = "municipal_counties"
    # level 3
    DISTRICT = "district"
    COUNTY = "county"
    COUNTY_CITY = "county_city"
    BANNER = "banner"
    AUTONOMOUS_COUNTY = "autonomous_county"
    SPECIAL_DISTRICT = "special_district"
    # level 4
    STREET = "street"
    TOWN = "town"
    TOWNSHIP = "township"
    TOWNSHIP_LIKE = "township_like"
    # level 5
    RESIDENTS_COMMITTEE = "residents_committee"
    VILLAGERS_COMMITTEE = "villagers_committee"
    COMMITTEE_LIKE = "committee_like"


class FacilityStatus(StrEnum):
    """Lifecycle of a facility, from plan to closure."""

    PLANNED = "planned"
    UNDER_CONSTRUCTION = "under_construction"
    ACCEPTED = "accepted"
    IN_SERVICE = "in_service"
    CLOSED = "closed"


# Statuses of a facility that serves residents (accepted: built and handed over, opening).
ACTIVE_STATUSES = (FacilityStatus.IN_SERVICE.value, FacilityStatus.ACCEPTED.value)


__all__ = ["ACTIVE_STATUSES", "DivisionKind", "DivisionLevel", "FacilityStatus"]


class PlacedBy(StrEnum):
    """Which rule put a located record (a facility, a request) in its division."""

    BOUNDARY = "boundary"  # the division's boundary polygon holds the point
    NEAREST_POINT = "nearest_point"  # no boundary holds it: the nearest representative point
    CODE = "code"  # the record named its division's code


class BoundaryScale(StrEnum):
    """A stored copy of a boundary: the imported shape, or one simplified for maps."""

    FULL = "full"
    FINE = "fine"  # streets and villages on screen
    MEDIUM = "medium"  # a county's townships
    COARSE = "coarse"  # a province's counties


# Douglas–Peucker tolerance of each simplified copy, in metres.
SCALE_TOLERANCE_M = {BoundaryScale.FINE: 5.0, BoundaryScale.MEDIUM: 25.0,
                     BoundaryScale.COARSE: 100.0}


def code_authority(code_source: str) -> str:
    """``official`` when a division's code was published or given by its importer,
    ``derived`` when Shequ made it from the NBS digit ranges or its parent's code."""
    return "derived" if code_source in {"nbs-range", "derived"} else "official"
