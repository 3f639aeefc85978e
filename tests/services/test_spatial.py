"""The directory's point index against a brute-force oracle (the registry's scalar
haversine over every point)."""

from __future__ import annotations

import numpy as np
import pytest

from shequ.registry.geodesy import great_circle_m as haversine_m
from shequ.services.directory.spatial import PointIndex


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_within_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    lons, lats = rng.uniform(116.2, 116.6, n), rng.uniform(39.75, 40.05, n)
    # duplicate points give equal distances: ties must come out by id
    lons[10:20], lats[10:20] = lons[0], lats[0]
    ids = rng.permutation(n).astype(np.int64) + 1
    index = PointIndex.from_arrays(ids, lons, lats)
    for _ in range(20):
        lon, lat, radius = rng.uniform(116.2, 116.6), rng.uniform(39.75, 40.05), rng.uniform(
            50, 3000)
        got_ids, got_d = index.within(lon, lat, radius)
        brute = sorted((haversine_m(lon, lat, lo, la), int(i))
                       for i, lo, la in zip(ids, lons, lats, strict=True)
                       if haversine_m(lon, lat, lo, la) <= radius)
        assert got_ids.tolist() == [i for _, i in brute]
        assert got_d == pytest.approx([d for d, _ in brute], abs=1e-6)
    got_ids, got_d = index.within(lons[0], lats[0], 1.0)
    assert sorted(got_ids.tolist()) == got_ids.tolist() and got_d.max() == 0.0


def test_empty_index() -> None:
    empty = np.zeros(0)
    index = PointIndex.from_arrays(empty.astype(np.int64), empty, empty)
    ids, distances = index.within(116.4, 39.9, 1000)
    assert len(index) == 0 and ids.size == 0 and distances.size == 0
