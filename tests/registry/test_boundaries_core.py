"""The pure point-in-polygon core: hand-checked squares, edges, holes and a brute-force
oracle on random polygons."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import Polygon, box

from shequ.registry.boundaries import OUTSIDE, assign_points


def test_points_find_the_square_that_holds_them() -> None:
    squares = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2)]
    found = assign_points([0.5, 1.5, 0.5, 3.0], [0.5, 0.5, 1.5, 3.0], squares)
    assert found.tolist() == [0, 1, 2, OUTSIDE]


def test_a_point_on_a_shared_edge_goes_to_the_first_polygon() -> None:
    squares = [box(1, 0, 2, 1), box(0, 0, 1, 1)]
    assert assign_points([1.0, 1.0], [0.5, 0.0], squares).tolist() == [0, 0]


def test_a_hole_holds_no_point_and_nan_is_outside() -> None:
    ring = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])
    found = assign_points([2.0, 0.5, np.nan], [2.0, 0.5, 1.0], [ring])
    assert found.tolist() == [OUTSIDE, 0, OUTSIDE]


def test_no_points_or_no_polygons() -> None:
    assert assign_points([], [], [box(0, 0, 1, 1)]).tolist() == []
    assert assign_points([0.5], [0.5], []).tolist() == [OUTSIDE]


def test_agrees_with_brute_force_on_random_voronoi_cells() -> None:
    rng = np.random.default_rng(7)
    seeds = shapely.multipoints(rng.uniform(0, 10, size=(60, 2)))
    cells = np.asarray(shapely.get_parts(shapely.voronoi_polygons(seeds,
                                                                   extend_to=box(0, 0, 10, 10))))
    cells = shapely.intersection(cells, box(0, 0, 10, 10))
    xs, ys = rng.uniform(-1, 11, 2000), rng.uniform(-1, 11, 2000)
    found = assign_points(xs, ys, cells)
    for i in range(xs.size):
        point = shapely.Point(xs[i], ys[i])
        covering = np.flatnonzero(shapely.covers(cells, point))
        assert found[i] == (covering.min() if covering.size else OUTSIDE)
    assert (found == OUTSIDE).sum() == ((xs < 0) | (xs > 10) | (ys < 0) | (ys > 10)).sum()


def test_large_polygons_vertices_and_edges_agree_with_geos() -> None:
    """A polygon of many edges (tested by GEOS) beside small ones (tested in numpy), with
    points on vertices, on edges and just inside and outside them."""
    disc = shapely.Point(5, 5).buffer(3, quad_segs=64)  # 256 edges
    triangle = Polygon([(0, 0), (2, 0), (1, 1.5)])
    holed = box(8, 0, 12, 4).difference(box(9, 1, 11, 3))
    shapes = [triangle, disc, holed]
    ring = np.asarray(disc.exterior.coords)[:40]
    xs = np.concatenate([ring[:, 0], [0.0, 1.0, 1.0, 0.5, 1.0, 9.0, 10.0, 10.0, 8.0,
                                      5.0, 5.0 + 3 - 1e-9, 2.0 + 1e-12, 11.0]])
    ys = np.concatenate([ring[:, 1], [0.0, 0.0, 1.5, 0.75, 1.5 + 1e-12, 1.0, 2.0, 1.0,
                                      4.0, 5.0, 5.0, 0.0, 3.0]])
    found = assign_points(xs, ys, shapes)
    for i in range(xs.size):
        covering = np.flatnonzero(shapely.covers(shapes, shapely.Point(xs[i], ys[i])))
        assert found[i] == (covering.min() if covering.size else OUTSIDE), (xs[i], ys[i])
    assert found[40:].tolist() == [0, 0, 0, 0, OUTSIDE, 2, OUTSIDE, 2, 2, 1, 1, OUTSIDE, 2]
