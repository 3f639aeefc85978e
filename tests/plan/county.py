"""A seeded test county written through the real registry models.

Three towns of ten villages each (30 villages, rural class 220); 20 villages have a
comprehensive service facility (66.7%); six of the ten without one have a village clinic
whose space can be reused.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from shequ.registry.models import Division, Facility, Population

COUNTY = "330110000000"
TOWNS = ["330110100000", "330110101000", "330110102000"]
START = dt.date(2000, 1, 1)
PERIOD = 2024


def village_codes() -> list[str]:
    """The 30 village codes, town by town."""
    return [town[:9] + f"{200 + k:03d}" for town in TOWNS for k in range(1, 11)]


def without_facility() -> list[str]:
    """The ten villages lacking a comprehensive service facility (the gap)."""
    codes = village_codes()
    return [codes[i] for i in (2, 5, 8, 11, 14, 17, 20, 23, 26, 29)]


def with_clinic_only() -> list[str]:
    """Gap villages that have a village clinic (reuse candidates)."""
    return without_facility()[:6]


def seed_county(sessions: sessionmaker[Session], *, seed: int = 5) -> None:
    """Write the county, its towns, villages, population and facilities."""
    rng = np.random.default_rng(seed)
    with sessions.begin() as session:
        session.add_all([
            Division(code="330000000000", level=1, name="Test province", kind="province",
                     valid_from=START),
            Division(code="330100000000", level=2, parent_code="330000000000",
                     name="Test city", kind="prefecture_city", valid_from=START),
            Division(code=COUNTY, level=3, parent_code="330100000000", name="Test county",
                     kind="county", valid_from=START, longitude=120.0, latitude=30.0),
        ])
        for t, town in enumerate(TOWNS):
            session.add(Division(code=town, level=4, parent_code=COUNTY, name=f"Town {t + 1}",
                                 kind="town", valid_from=START, longitude=120.0 + 0.05 * t,
                                 latitude=30.0))
        gaps = set(without_facility())
        clinics = set(with_clinic_only())
        for v, code in enumerate(village_codes()):
            lon = 120.0 + 0.05 * (v // 10) + 0.004 * (v % 5)
            lat = 30.0 + 0.004 * ((v % 10) // 5)
            session.add(Division(code=code, level=5, parent_code=code[:9] + "000",
                                 name=f"Village {v + 1}", kind="villagers_committee",
                                 urban_rural="220", valid_from=START, longitude=lon,
                                 latitude=lat))
            residents = int(rng.integers(600, 2400))
            session.add(Population(division_code=code, period=PERIOD, residents=residents,
                                   households=residents // 3, age_60_plus=residents // 5,
                                   age_80_plus=residents // 30))
            if code not in gaps:
                session.add(Facility(type_code="comprehensive_service_facility",
                                     division_code=code, name=f"Village {v + 1} centre",
                                     longitude=lon + 0.0005, latitude=lat,
                                     floor_area_m2=250.0, activity_area_m2=160.0))
            if code in clinics:
                session.add(Facility(type_code="village_clinic", division_code=code,
                                     name=f"Village {v + 1} clinic", longitude=lon - 0.0005,
                                     latitude=lat, floor_area_m2=120.0))
