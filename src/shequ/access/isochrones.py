"""Catchment polygons (isochrones) as GeoJSON: the streets reachable within a walk, buffered.

The polygon of a facility at distance D is the union of every street segment reachable
within D (whole edges whose far end is within D, and the reachable part of edges the walk
leaves half-way), buffered by ``buffer_m`` on each side — the area a resident can live in
and still reach the facility along a street.  Geometry is computed in a local
azimuthal equidistant projection in metres around the network's centre and returned in WGS84.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shequ.access.kernels import UNREACHED, nearest_distances
from shequ.access.network import CM_PER_M, StreetNetwork
from shequ.registry.geodesy import LocalProjection, local_projection


def _projection(network: StreetNetwork) -> LocalProjection:
    """Metres around the network's mean point (azimuthal equidistant)."""
    return local_projection(float(np.mean(network.lon)), float(np.mean(network.lat)))


def reachable_segments(network: StreetNetwork, dist: npt.NDArray[np.int32], limit_m: float
                       ) -> npt.NDArray[np.float64]:
    """Segments (x0, y0, x1, y1) in local metres walkable within ``limit_m`` given ``dist``.

    ``dist`` is the kernels' centimetres per node.
    """
    n = network.node_count
    row = np.repeat(np.arange(n), np.diff(network.indptr))
    col = network.indices.astype(np.int64)
    w = network.weights / CM_PER_M
    du = dist[row] / CM_PER_M
    reached_u = dist[row] != UNREACHED
    du = np.where(reached_u, du, np.inf)
    dv = np.where(dist[col] != UNREACHED, dist[col] / CM_PER_M, np.inf)
    # each undirected edge once for whole edges (u < v), both directions for partial ones
    whole = reached_u & (dv <= limit_m) & (du <= limit_m) & (row < col)
    partial = reached_u & (du <= limit_m) & (du + w > limit_m) & ~(dv <= limit_m)
    fraction = np.clip((limit_m - du[partial]) / w[partial], 0.0, 1.0)
    # only the nodes of reached edges are projected: an isochrone is a small part of a
    # network, and projecting all of it for each one was most of the work
    used = np.unique(np.concatenate([row[whole], col[whole], row[partial], col[partial]]))
    x, y = np.zeros(n), np.zeros(n)
    x[used], y[used] = _projection(network).to_metres(network.lon[used], network.lat[used])
    px0, py0 = x[row[partial]], y[row[partial]]
    px1 = px0 + (x[col[partial]] - px0) * fraction
    py1 = py0 + (y[col[partial]] - py0) * fraction
    segments = np.concatenate([
        np.column_stack((x[row[whole]], y[row[whole]], x[col[whole]], y[col[whole]])),
        np.column_stack((px0, py0, px1, py1)),
    ])
    return segments


def isochrone_geometry(network: StreetNetwork, sources: npt.ArrayLike, *, distance_m: float,
                       buffer_m: float = 40.0, simplify_m: float = 5.0) -> dict[str, Any] | None:
    """GeoJSON geometry of everything within ``distance_m`` of the source nodes (or None)."""
    import shapely  # type: ignore[import-untyped, unused-ignore]
    from shapely.geometry import mapping  # type: ignore[import-untyped, unused-ignore]

    src = np.asarray(sources, dtype=np.int64).ravel()
    if src.size == 0:
        return None
    dist = nearest_distances(network, [src], cap_m=distance_m)[0]
    segments = reachable_segments(network, dist, distance_m)
    projection = _projection(network)
    points = np.column_stack(projection.to_metres(network.lon[src], network.lat[src]))
    # arrays of geometries (shapely gives a lone geometry for one row: not the case here)
    parts: list[list[Any]] = [list(np.asarray(shapely.points(points), dtype=object))]
    if segments.size:
        parts.append(list(np.asarray(shapely.linestrings(segments.reshape(-1, 2, 2)),
                                     dtype=object)))
    shape = shapely.union_all(shapely.buffer([g for p in parts for g in p], buffer_m,
                                             quad_segs=4))
    shape = shapely.simplify(shape, simplify_m)

    def to_wgs84(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.column_stack(projection.to_lonlat(coords[:, 0], coords[:, 1]))

    geometry: dict[str, Any] = mapping(shapely.transform(shape, to_wgs84))
    return geometry


def isochrones_geojson(network: StreetNetwork, *, sources: Sequence[npt.ArrayLike],
                       properties: Sequence[dict[str, Any]], distances_m: Sequence[float],
                       buffer_m: float = 40.0, simplify_m: float = 5.0) -> dict[str, Any]:
    """A FeatureCollection: one feature per (source group, distance) with its properties."""
    features = []
    for group, props in zip(sources, properties, strict=True):
        for distance in distances_m:
            geometry = isochrone_geometry(network, group, distance_m=distance,
                                          buffer_m=buffer_m, simplify_m=simplify_m)
            if geometry is None:
                continue
            features.append({"type": "Feature", "geometry": geometry,
                             "properties": {**props, "distance_m": float(distance)}})
    return {"type": "FeatureCollection", "features": features,
            "properties": {"synthetic_network": network.synthetic, "source": network.source}}


__all__ = ["isochrone_geometry", "isochrones_geojson", "reachable_segments"]
