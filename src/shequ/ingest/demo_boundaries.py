"""Synthetic boundaries for the demo county, made from its seeded representative points.

Each village's boundary is its Voronoi cell among the county's village points, clipped to
the county's outline (the points' convex hull grown by ``MARGIN_M``); a township's is the
union of its villages' cells and the county's the union of all, so the boundaries tile
exactly and every village point lies inside its own village.  The points come from the
demo's seed, so the boundaries do too; they are stored as synthetic, named in their source.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import numpy as np
import shapely
from shapely import MultiPolygon
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.registry.boundaries import as_multipolygon, store_boundaries
from shequ.registry.models import Division
from shequ.registry.queries import valid_on

MARGIN_M = 1500.0


def store_demo_boundaries(session: Session, county_code: str, *, seed: int,
                          as_of: dt.date) -> int:
    """Make and store the demo county's synthetic boundaries; how many were stored."""
    prefix = county_code[:6]
    units = list(session.scalars(select(Division).where(
        valid_on(as_of), Division.code.startswith(prefix)).order_by(Division.code)))
    villages = [u for u in units if u.level == 5 and u.longitude is not None
                and u.latitude is not None]
    if len(villages) < 3:
        return 0
    xs = np.asarray([v.longitude for v in villages], dtype=np.float64)
    ys = np.asarray([v.latitude for v in villages], dtype=np.float64)
    # Metres to degrees at the county's latitude, for the outline's margin.
    lat0 = float(ys.mean())
    dx, dy = MARGIN_M / (111_320.0 * math.cos(math.radians(lat0))), MARGIN_M / 110_574.0
    seeds = shapely.multipoints(np.column_stack([xs, ys]))
    outline = shapely.buffer(shapely.convex_hull(seeds), max(dx, dy), quad_segs=4)
    cells = shapely.voronoi_polygons(seeds, extend_to=outline, ordered=True)
    shapes = shapely.intersection(np.asarray(shapely.get_parts(cells)), outline)
    shapes = shapely.make_valid(shapely.set_precision(shapes, 1e-7))
    by_code = {v.code: as_multipolygon(s) for v, s in zip(villages, shapes, strict=True)}
    by_parent: dict[str, list[MultiPolygon]] = defaultdict(list)
    for village in villages:
        if village.parent_code:
            by_parent[village.parent_code].append(by_code[village.code])
    pairs = [(v, by_code[v.code]) for v in villages]
    for unit in units:
        if unit.level == 4 and by_parent.get(unit.code):
            pairs.append((unit, as_multipolygon(shapely.coverage_union_all(
                np.asarray(by_parent[unit.code], dtype=object)))))
        elif unit.code == county_code:
            pairs.append((unit, as_multipolygon(shapely.coverage_union_all(
                np.asarray(list(by_code.values()), dtype=object)))))
    return store_boundaries(session, pairs, synthetic=True, source=(
        f"synthetic: Voronoi cells of the demo's seeded village points (seed {seed})"))
