"""An in-memory point index of the directory's facilities for "near me" searches.

Pure compute over arrays (no database): points are kept sorted by longitude, so a query
narrows to the longitude band with two binary searches, masks the latitude band, then
computes great-circle distances (the haversine formula of
:func:`shequ.registry.queries.haversine_m`, vectorised) and orders by (distance, id).
At 100 k points a query touches a few thousand array entries instead of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shequ.registry.queries import EARTH_RADIUS_M


def haversine_m(lon: float, lat: float, lons: NDArray[np.float64],
                lats: NDArray[np.float64]) -> NDArray[np.float64]:
    """Great-circle distances in metres from (lon, lat) to each point.

    d = 2 R asin(sqrt(sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)))
    """
    p1 = math.radians(lat)
    p2 = np.radians(lats)
    dp = p2 - p1
    dl = np.radians(lons - lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    distances: NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return distances


@dataclass(frozen=True)
class PointIndex:
    """Facility ids with WGS84 points, sorted by longitude."""

    ids: NDArray[np.int64]
    lons: NDArray[np.float64]
    lats: NDArray[np.float64]

    @classmethod
    def from_arrays(cls, ids: NDArray[np.int64], lons: NDArray[np.float64],
                    lats: NDArray[np.float64]) -> PointIndex:
        """Build from unsorted arrays of equal length."""
        order = np.argsort(lons, kind="stable")
        return cls(np.asarray(ids, dtype=np.int64)[order],
                   np.asarray(lons, dtype=np.float64)[order],
                   np.asarray(lats, dtype=np.float64)[order])

    def __len__(self) -> int:
        return int(self.ids.size)

    def within(self, lon: float, lat: float, radius_m: float
               ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Ids and distances of the points within ``radius_m``, nearest first (ties by id)."""
        dlat = math.degrees(radius_m / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        lo = int(np.searchsorted(self.lons, lon - dlon, side="left"))
        hi = int(np.searchsorted(self.lons, lon + dlon, side="right"))
        lats = self.lats[lo:hi]
        band = np.flatnonzero((lats >= lat - dlat) & (lats <= lat + dlat)) + lo
        distances = haversine_m(lon, lat, self.lons[band], self.lats[band])
        keep = distances <= radius_m
        ids, distances = self.ids[band][keep], distances[keep]
        order = np.lexsort((ids, distances))
        return ids[order], distances[order]
