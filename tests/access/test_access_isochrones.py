"""Isochrone polygons: the reachable street length, buffered, in WGS84."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import shape

from shequ.access.isochrones import isochrone_geometry, isochrones_geojson, reachable_segments
from shequ.access.kernels import nearest_distances
from shequ.access.network import StreetNetwork

LAT = 39.0
STEP = 100.0 / (111_320.0 * math.cos(math.radians(LAT)))


def _line() -> StreetNetwork:
    k = 11
    return StreetNetwork.from_edges(
        node_ids=np.arange(k), lon=116 + np.arange(k) * STEP, lat=np.full(k, LAT),
        edge_u=np.arange(k - 1), edge_v=np.arange(1, k), length_m=np.full(k - 1, 100.0),
        reorder=False)


def test_segments_stop_part_way_along_an_edge() -> None:
    line = _line()
    dist = nearest_distances(line, [[5]], cap_m=250)[0]
    segments = reachable_segments(line, dist, 250)
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    # 2 whole edges each way and half an edge each way: 500 m of street in all
    assert abs(lengths.sum() - 500.0) < 2.0


def test_isochrone_covers_the_walk_and_not_beyond() -> None:
    line = _line()
    geometry = isochrone_geometry(line, [5], distance_m=250, buffer_m=20, simplify_m=0)
    assert geometry is not None
    polygon = shape(geometry)
    inside = shapely.points([[116 + 5 * STEP, LAT], [116 + 7.4 * STEP, LAT],
                             [116 + 2.6 * STEP, LAT]])
    outside = shapely.points([[116 + 8 * STEP, LAT], [116 + 2 * STEP, LAT],
                              [116 + 5 * STEP, LAT + 0.001]])
    assert all(polygon.contains(p) for p in inside)
    assert not any(polygon.contains(p) for p in outside)


def test_feature_collection_has_one_feature_per_group_and_distance() -> None:
    line = _line()
    collection = isochrones_geojson(line, sources=[[0], [10], []],
                                    properties=[{"id": 1}, {"id": 2}, {"id": 3}],
                                    distances_m=[100, 300])
    assert [(f["properties"]["id"], f["properties"]["distance_m"])
            for f in collection["features"]] == [(1, 100.0), (1, 300.0), (2, 100.0), (2, 300.0)]
    small = shape(collection["features"][0]["geometry"])
    large = shape(collection["features"][1]["geometry"])
    assert large.contains(small.buffer(-1e-6))
