"""An in-memory point index of the directory's facilities for "near me" searches.

Pure compute over arrays (no database): points are kept sorted by longitude, so a query
narrows to the longitude band with two binary searches, masks the latitude band, then
measures great-circle distances and orders by (distance, id).  The points' Earth-centred
coordinates are computed once by pyproj (:func:`shequ.registry.geodesy.cartesian`); a
query's distances are then one chord per point in the band, turned into the arc on the
sphere — the same metres as :func:`shequ.registry.geodesy.great_circle_m`.
At 100 k points a query touches a few thousand array entries instead of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shequ.registry.geodesy import cartesian, cartesian_point, chord_to_arc_m, degree_box


@dataclass(frozen=True)
class PointIndex:
    """Facility ids with WGS84 points (and their Earth-centred metres, one array per
    axis so that a band is gathered contiguously), sorted by longitude."""

    ids: NDArray[np.int64]
    lons: NDArray[np.float64]
    lats: NDArray[np.float64]
    xs: NDArray[np.float64]
    ys: NDArray[np.float64]
    zs: NDArray[np.float64]

    @classmethod
    def from_arrays(cls, ids: NDArray[np.int64], lons: NDArray[np.float64],
                    lats: NDArray[np.float64]) -> PointIndex:
        """Build from unsorted arrays of equal length."""
        order = np.argsort(lons, kind="stable")
        sorted_lons = np.asarray(lons, dtype=np.float64)[order]
        sorted_lats = np.asarray(lats, dtype=np.float64)[order]
        xyz = cartesian(sorted_lons, sorted_lats)
        return cls(np.asarray(ids, dtype=np.int64)[order], sorted_lons, sorted_lats,
                   *(np.ascontiguousarray(xyz[:, axis]) for axis in range(3)))

    def __len__(self) -> int:
        return int(self.ids.size)

    def within(self, lon: float, lat: float, radius_m: float
               ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Ids and distances of the points within ``radius_m``, nearest first (ties by id)."""
        dlon, dlat = degree_box(lon, lat, radius_m)
        lo = int(np.searchsorted(self.lons, lon - dlon, side="left"))
        hi = int(np.searchsorted(self.lons, lon + dlon, side="right"))
        lats = self.lats[lo:hi]
        band = np.flatnonzero((lats >= lat - dlat) & (lats <= lat + dlat)) + lo
        qx, qy, qz = cartesian_point(lon, lat)
        dx, dy, dz = self.xs[band] - qx, self.ys[band] - qy, self.zs[band] - qz
        distances = chord_to_arc_m(np.sqrt(dx * dx + dy * dy + dz * dz))
        keep = distances <= radius_m
        ids, distances = self.ids[band][keep], distances[keep]
        order = np.lexsort((ids, distances))
        return ids[order], distances[order]
