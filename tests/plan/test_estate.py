"""Estate review: hand-computed shortfalls in m² and missing types, on the real registry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shequ.catalog import load_catalog
from shequ.errors import ValidationError
from shequ.plan.estate import (
    EstatePlan,
    load_estate_standards,
    review_estate,
    review_estate_in_registry,
)
from shequ.registry.models import Division, Facility

LON, LAT = 116.40, 39.90
URBAN_TYPES_5MIN = ["comprehensive_service_facility", "cultural_activity_station",
                    "outdoor_fitness_area", "kindergarten", "nursery", "elderly_day_care",
                    "community_health_station", "recycling_point"]


def _plan(**changes: object) -> EstatePlan:
    data: dict[str, object] = {
        "name": "Riverside Garden", "households": 2000, "residents": 5200,
        "total_floor_area_m2": 200_000, "commercial_floor_area_m2": 15_000,
        "longitude": LON, "latitude": LAT,
        "facilities": [{"type_code": "comprehensive_service_facility",
                        "floor_area_m2": 500, "activity_area_m2": 280}],
    }
    data.update(changes)
    return EstatePlan.from_mapping(data)


def test_estate_short_of_the_area_standard_fails_with_the_shortfall_in_m2() -> None:
    catalog = load_catalog()
    review = review_estate(_plan(), standards=load_estate_standards(), catalog=catalog,
                           nearest_existing_m={})
    assert not review.passed
    by_check = {f.check: f for f in review.findings}
    area = by_check["service_area_per_100_households"]
    # 30 m² × 2000 / 100 = 600 m² required, 500 planned → 100 m² short
    assert area.required == pytest.approx(600.0)
    assert area.shortfall == pytest.approx(100.0)
    assert "short by 100.0 m²" in area.message
    assert not area.passed
    activity = by_check["activity_share"]
    # 60 % of 500 = 300 m² required, 280 planned → 20 m² short
    assert activity.shortfall == pytest.approx(20.0)
    commercial = by_check["commercial_service_share"]
    # 10 % of 200 000 = 20 000 m²; 15 000 + 500 planned → 4 500 m² short
    assert commercial.shortfall == pytest.approx(4500.0)
    five = by_check["tier:5min"]
    assert set(five.missing_types) == set(URBAN_TYPES_5MIN) - {"comprehensive_service_facility"}
    assert review.failures[0].passed is False
    assert "30" in area.source or "国办发" in area.source


def test_estate_meeting_every_standard_passes() -> None:
    catalog = load_catalog()
    facilities = [{"type_code": "comprehensive_service_facility", "floor_area_m2": 700,
                   "activity_area_m2": 450}]
    nearby = {code: 100.0 for tier in catalog.tiers.values() for code in tier.required}
    review = review_estate(_plan(facilities=facilities, commercial_floor_area_m2=19_500),
                           standards=load_estate_standards(), catalog=catalog,
                           nearest_existing_m=nearby)
    assert review.passed, [f.message for f in review.failures]
    assert all(f.shortfall == 0 for f in review.findings)


def test_bad_estate_plans_report_every_field() -> None:
    with pytest.raises(ValidationError) as caught:
        EstatePlan.from_mapping({"households": -3, "residents": "many", "longitude": 500,
                                 "latitude": 30,
                                 "facilities": [{"type_code": "nursery", "floor_area_m2": 10,
                                                  "activity_area_m2": 20}]})
    text = str(caught.value)
    assert "households" in text and "residents" in text and "total_floor_area_m2" in text
    assert "exceeds the floor area" in text and "WGS84" in text


@pytest.fixture
def registry(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """A community with a kindergarten 200 m away and a nursery 2 km away."""
    with sessions.begin() as session:
        session.add(Division(code="110101001001", level=5, parent_code="110101001000",
                             name="Test community", kind="residents_committee",
                             valid_from=dt.date(2000, 1, 1)))
        session.add(Facility(type_code="kindergarten", division_code="110101001001",
                             name="Sunny kindergarten", longitude=LON + 0.00234,
                             latitude=LAT))  # ≈ 200 m east
        session.add(Facility(type_code="nursery", division_code="110101001001",
                             name="Far nursery", longitude=LON + 0.0234, latitude=LAT))
        session.add(Facility(type_code="elderly_day_care", division_code="110101001001",
                             name="Closed day care", longitude=LON, latitude=LAT,
                             status="closed"))
    return sessions


def test_registry_review_counts_what_exists_within_the_tier_distance(
        registry: sessionmaker[Session]) -> None:
    with registry() as session:
        review = review_estate_in_registry(session, _plan(), catalog=load_catalog())
    five = next(f for f in review.findings if f.check == "tier:5min")
    assert "kindergarten" not in five.missing_types       # 200 m ≤ 300 m
    assert "nursery" in five.missing_types                # 2 km > 300 m
    assert "elderly_day_care" in five.missing_types       # closed does not count
