"""What is within a walk of one point, and what is missing (the point query behind the map).

The point is snapped to the nearest network node (within ``max_snap_m``); one bounded
search from it (radius: the largest tier distance asked for) gives the walking distance
to every facility whose node it reaches.  Each life-circle tier then lists its required
types as reached (with the nearest facility) or missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from shequ.access.kernels import single_source
from shequ.access.lifecircle import DEFAULT_MAX_SNAP_M, snap_facilities, tier_distance
from shequ.access.network import CM_PER_M, StreetNetwork
from shequ.catalog import Catalog
from shequ.errors import Problem, ValidationError


@dataclass(frozen=True, slots=True)
class TierAnswer:
    """One tier at the point: required types reached (type → nearest metres) and missing."""

    code: str
    distance_m: int
    reached: dict[str, float]
    missing: list[str]


@dataclass(frozen=True, slots=True)
class PointAnswer:
    """The facilities within reach of a point (nearest first) and each tier's verdict."""

    lon: float
    lat: float
    snapped: bool
    snap_distance_m: float
    node_id: int | None
    facilities: pl.DataFrame  # id, type_code, name?, distance_m
    tiers: list[TierAnswer] = field(default_factory=list)
    synthetic_network: bool = False


def point_query(network: StreetNetwork, *, lon: float, lat: float, facilities: pl.DataFrame,
                catalog: Catalog, tiers: Sequence[str] | None = None,
                radius_m: float | None = None, max_snap_m: float = DEFAULT_MAX_SNAP_M,
                walking_speed_m_per_min: float | None = None) -> PointAnswer:
    """Facilities within walking reach of (lon, lat) and the tiers' reached/missing types."""
    problems = []
    if not -180 <= lon <= 180:
        problems.append(Problem("lon", f"longitude {lon} is outside -180…180"))
    if not -90 <= lat <= 90:
        problems.append(Problem("lat", f"latitude {lat} is outside -90…90"))
    unknown = [t for t in (tiers or []) if t not in catalog.tiers]
    if unknown:
        problems.append(Problem("tier", f"unknown tier(s) {', '.join(unknown)}",
                                hint=f"known: {', '.join(catalog.tiers)}"))
    if problems:
        raise ValidationError(problems, summary="bad point query")
    chosen = [catalog.tiers[t] for t in (tiers or list(catalog.tiers))]
    distances = {t.code: tier_distance(t, walking_speed_m_per_min) for t in chosen}
    radius = radius_m if radius_m is not None else float(max(distances.values()))
    snap = network.snap([lon], [lat], max_distance_m=max_snap_m)
    empty = pl.DataFrame(schema={"id": pl.Int64, "type_code": pl.String, "name": pl.String,
                                 "distance_m": pl.Float64})
    if snap.unsnapped[0]:
        return PointAnswer(lon, lat, False, float(snap.distance_m[0]), None, empty,
                           [TierAnswer(t.code, distances[t.code], {}, list(t.required))
                            for t in chosen], network.synthetic)
    origin = int(snap.node[0])
    nodes, dist = single_source(network, origin, radius_m=radius)
    walk = np.full(network.node_count, np.inf)
    walk[nodes] = dist / CM_PER_M
    located = snap_facilities(network, facilities, max_snap_m=max_snap_m)
    rows: list[int] = []
    metres: list[float] = []
    for node_group, row_group in zip(located.nodes, located.rows, strict=True):
        reach = walk[node_group]
        keep = np.isfinite(reach)
        rows.extend(row_group[keep].tolist())
        metres.extend(reach[keep].tolist())
    names = (facilities["name"] if "name" in facilities.columns
             else pl.Series("name", [None] * facilities.height, dtype=pl.String))
    found = pl.DataFrame({
        "id": facilities["id"].gather(rows).cast(pl.Int64, strict=False),
        "type_code": facilities["type_code"].gather(rows).cast(pl.String),
        "name": names.gather(rows).cast(pl.String),
        "distance_m": pl.Series(metres, dtype=pl.Float64),
    }).sort("distance_m", "id") if rows else empty
    nearest = (found.group_by("type_code").agg(pl.col("distance_m").min())
               if found.height else pl.DataFrame(schema={"type_code": pl.String,
                                                         "distance_m": pl.Float64}))
    best = dict(zip(nearest["type_code"].to_list(), nearest["distance_m"].to_list(),
                    strict=True))
    answers = []
    for tier in chosen:
        limit = distances[tier.code]
        reached = {code: best[code] for code in tier.required
                   if code in best and best[code] <= limit}
        missing = [code for code in tier.required if code not in reached]
        answers.append(TierAnswer(tier.code, limit, reached, missing))
    return PointAnswer(lon, lat, True, float(snap.distance_m[0]),
                       int(network.node_ids[origin]), found, answers, network.synthetic)


def answer_as_json(answer: PointAnswer, catalog: Catalog, *, lang: str = "zh-CN"
                   ) -> dict[str, Any]:
    """The answer as plain JSON-ready data (names in ``lang``)."""
    def type_name(code: str) -> str:
        return (catalog.facility_types[code].name(lang) if code in catalog.facility_types
                else code)

    return {
        "lon": answer.lon, "lat": answer.lat, "snapped": answer.snapped,
        "snap_distance_m": answer.snap_distance_m, "node_id": answer.node_id,
        "synthetic_network": answer.synthetic_network,
        "facilities": [{**row, "type_name": type_name(row["type_code"])}
                       for row in answer.facilities.iter_rows(named=True)],
        "tiers": [{"code": t.code, "name": catalog.tiers[t.code].name(lang),
                   "distance_m": t.distance_m,
                   "reached": [{"type": k, "type_name": type_name(k), "distance_m": v}
                               for k, v in t.reached.items()],
                   "missing": [{"type": k, "type_name": type_name(k)} for k in t.missing]}
                  for t in answer.tiers],
    }


__all__ = ["PointAnswer", "TierAnswer", "answer_as_json", "point_query"]
