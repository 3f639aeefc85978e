"""The demo county's synthetic boundaries: they tile, nest, hold their own points, and
route a pin to the village that holds it."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequ.catalog import load_catalog
from shequ.ingest import demo as demo_county
from shequ.ingest.demo_boundaries import store_demo_boundaries
from shequ.registry.boundaries import boundary_records, locate_points
from shequ.registry.models import Division
from shequ.registry.queries import today

COUNTY = "130123000000"


def test_the_demo_county_gets_boundaries_that_tile_and_nest(
        sessions: sessionmaker[Session]) -> None:
    generated = demo_county.generate(COUNTY, seed=7, catalog=load_catalog())
    with sessions.begin() as session:
        demo_county.store(session, generated)
        stored = store_demo_boundaries(session, COUNTY, seed=7, as_of=today())
    assert stored == 1 + 10 + 187  # the county, its townships, its villages
    with sessions() as session:
        villages = boundary_records(session, level=5, prefix="130123")
        towns = boundary_records(session, level=4, prefix="130123")
        county = boundary_records(session, codes=[COUNTY])[0]
        assert len(villages) == 187 and len(towns) == 10
        assert all(r.synthetic and "seed 7" in r.source for r in [*villages, *towns, county])
        # Villages tile the county: their areas add up to it and none overlap.
        shapes = np.asarray([r.shape for r in villages], dtype=object)
        assert bool(shapely.coverage_is_valid(shapes))
        assert sum(s.area for s in shapes) == pytest.approx(county.shape.area, rel=1e-9)
        # Each township is the union of its own villages.
        for town in towns:
            own = [r.shape for r in villages if r.parent_code == town.code]
            assert shapely.equals(shapely.union_all(own), town.shape) or \
                abs(shapely.union_all(own).area - town.shape.area) < 1e-12
        # Each village's representative point lies in its own boundary.
        units = session.scalars(select(Division).where(Division.level == 5,
                                                       Division.code.startswith("130123"))
                                ).all()
        assert all(u.longitude is not None and u.latitude is not None for u in units)
        found = locate_points(session.connection(), [u.longitude or 0.0 for u in units],
                              [u.latitude or 0.0 for u in units])
        assert found == [u.code for u in units]
