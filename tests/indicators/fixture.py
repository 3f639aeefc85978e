"""A hand-built region small enough to compute every indicator on paper.

Hebei (13) › 1301 › county 130102 › street 130102001 (communities C1, C2; the street
itself holds a comprehensive facility) and town 130102100 (community C3, villages V1–V3);
Hunan (43) › 4301 › 430102 › 430102001 › community C4.  Figures are for 2024 unless a
row says otherwise; 2022 differs by C3's facility (opened 2023) and V3's (closed 2023).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from shequ.indicators.engine import MeasureTables

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

C1, C2, C3 = "130102001001", "130102001002", "130102100001"
V1, V2, V3 = "130102100201", "130102100202", "130102100203"
C4 = "430102001001"
STREET, TOWN, COUNTY = "130102001000", "130102100000", "130102000000"
PREFECTURE, HEBEI = "130100000000", "130000000000"
HUNAN, HUNAN_COUNTY = "430000000000", "430102000000"
NATION = "000000000000"

DIVISIONS = [
    # code, level, parent, name, kind, urban_rural, lon, lat
    (HEBEI, 1, None, "河北省", "province", None, 114.5, 38.0),
    (PREFECTURE, 2, HEBEI, "石家庄市", "prefecture_city", None, 114.5, 38.0),
    (COUNTY, 3, PREFECTURE, "长安区", "district", None, 114.5, 38.05),
    (STREET, 4, COUNTY, "建北街道", "street", None, 114.49, 38.05),
    (C1, 5, STREET, "一号社区", "residents_committee", "111", 114.48, 38.05),
    (C2, 5, STREET, "二号社区", "residents_committee", "111", 114.50, 38.05),
    (TOWN, 4, COUNTY, "西营镇", "town", None, 114.55, 38.07),
    (C3, 5, TOWN, "镇中社区", "residents_committee", "121", 114.54, 38.07),
    (V1, 5, TOWN, "东村", "villagers_committee", "220", 114.56, 38.08),
    (V2, 5, TOWN, "西村", "villagers_committee", "220", 114.57, 38.06),
    (V3, 5, TOWN, "南村", "villagers_committee", "220", 114.56, 38.05),
    (HUNAN, 1, None, "湖南省", "province", None, 112.9, 28.2),
    ("430100000000", 2, HUNAN, "长沙市", "prefecture_city", None, 112.9, 28.2),
    (HUNAN_COUNTY, 3, "430100000000", "芙蓉区", "district", None, 112.98, 28.19),
    ("430102001000", 4, HUNAN_COUNTY, "文艺路街道", "street", None, 112.98, 28.19),
    (C4, 5, "430102001000", "文艺路社区", "residents_committee", "111", 112.98, 28.19),
]

CSF = "comprehensive_service_facility"
FACILITIES = [
    # division, type, status, floor, activity, capacity, opened, closed
    (C1, CSF, "in_service", 300.0, 200.0, None, dt.date(2019, 1, 1), None),
    (C1, "government_self_service_terminal", "in_service", None, None, None, None, None),
    (C1, "nursery", "in_service", 150.0, None, 20.0, dt.date(2021, 3, 1), None),
    (STREET, CSF, "in_service", 500.0, 250.0, None, dt.date(2018, 1, 1), None),
    (STREET, "street_service_centre", "in_service", 800.0, None, None, None, None),
    (C3, CSF, "in_service", 120.0, 90.0, None, dt.date(2023, 5, 1), None),
    (V1, CSF, "accepted", 100.0, 40.0, None, None, None),
    (V2, CSF, "planned", 150.0, 100.0, None, None, None),
    (V3, CSF, "closed", 80.0, 50.0, None, dt.date(2015, 1, 1), dt.date(2023, 6, 30)),
    (C4, CSF, "in_service", 200.0, 150.0, None, None, None),
]

POPULATION = {
    # code: (residents, households, age_0_2, age_60_plus)
    C1: (3000, 1000, 60, 600),
    C2: (2000, 800, 40, 500),
    C3: (1000, 400, 20, 200),
    V1: (1284, 420, 30, 300),
    V2: (900, 300, 20, 250),
    V3: (700, 250, 10, 200),
    C4: (1000, 500, 25, 180),
}

WORKFORCE = [
    # code, role, certification, headcount
    (C1, "community_worker", "none", 3),
    (C1, "community_worker", "social_worker", 2),
    (C1, "social_worker", "social_worker", 1),
    (C2, "community_worker", "none", 3),
    (C3, "community_worker", "assistant_social_worker", 2),
    (V1, "community_worker", "none", 4),
    (C4, "community_worker", "social_worker", 2),
]

INPUTS = [
    (C1, 2024, "residential_floor_area", 10000.0),
    (C1, 2024, "commercial_service_floor_area", 400.0),
    (C2, 2024, "residential_floor_area", 8000.0),
]


def tables(*, periods: tuple[int, ...] = (2022, 2024)) -> MeasureTables:
    """The fixture as engine tables (population and workforce repeated for each period)."""
    divisions = pl.DataFrame(
        DIVISIONS, orient="row",
        schema=["code", "level", "parent_code", "name", "kind", "urban_rural", "longitude",
                "latitude"])
    divisions = divisions.with_columns(pl.lit(dt.date(2000, 1, 1)).alias("valid_from"),
                                       pl.lit(None, dtype=pl.Date).alias("valid_to"))
    facilities = pl.DataFrame(
        FACILITIES, orient="row",
        schema={"division_code": pl.String, "type_code": pl.String, "status": pl.String,
                "floor_area_m2": pl.Float64, "activity_area_m2": pl.Float64,
                "capacity": pl.Float64, "opened_on": pl.Date, "closed_on": pl.Date})
    population = pl.DataFrame(
        [(code, period, *values) for period in periods for code, values in POPULATION.items()],
        orient="row",
        schema=["division_code", "period", "residents", "households", "age_0_2",
                "age_60_plus"])
    workforce = pl.DataFrame(
        [(code, period, *rest) for period in periods for code, *rest in WORKFORCE],
        orient="row",
        schema=["division_code", "period", "role", "certification", "headcount"])
    inputs = pl.DataFrame(INPUTS, orient="row",
                          schema=["division_code", "period", "measure", "value"])
    return MeasureTables(divisions=divisions, facilities=facilities, population=population,
                         workforce=workforce, inputs=inputs)


def store(session: Session, *, periods: tuple[int, ...] = (2022, 2024)) -> None:
    """Write the fixture into a registry database (divisions, facilities, people, inputs)."""
    from shequ.indicators.models import IndicatorInput
    from shequ.registry.models import Division, Facility, Population, Workforce

    for code, level, parent, name, kind, urban_rural, lon, lat in DIVISIONS:
        session.add(Division(code=code, level=level, parent_code=parent, name=name, kind=kind,
                             urban_rural=urban_rural, valid_from=dt.date(2000, 1, 1),
                             longitude=lon, latitude=lat, synthetic_geography=True))
    for index, (code, ftype, status, floor, activity, capacity, opened, closed) in enumerate(
            FACILITIES):
        session.add(Facility(type_code=ftype, division_code=code, name=f"设施{index}",
                             status=status, floor_area_m2=floor, activity_area_m2=activity,
                             capacity=None if capacity is None else int(capacity),
                             opened_on=opened, closed_on=closed))
    for period in periods:
        for code, (residents, households, age_0_2, age_60) in POPULATION.items():
            session.add(Population(division_code=code, period=period, residents=residents,
                                   households=households, age_0_2=age_0_2,
                                   age_60_plus=age_60))
        for code, role, certification, headcount in WORKFORCE:
            session.add(Workforce(division_code=code, period=period, role=role,
                                  certification=certification, headcount=headcount))
    for code, period, measure, value in INPUTS:
        session.add(IndicatorInput(division_code=code, period=period, measure=measure,
                                   value=value))
