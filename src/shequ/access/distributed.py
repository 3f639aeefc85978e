"""Life circles beyond one machine: one Dask job per county, with a border buffer.

Each job gets the county's communities, the part of the street network within a box
around them and the facilities in that box, and runs the same evaluator as a single
process (:func:`shequ.access.lifecircle.evaluate_life_circles`).  The box is the
communities' bounding box widened by the border: at least the largest tier distance plus
the snap distance (plus a margin for whole-metre rounding), so that every facility a
resident can walk to — also across the county line — and every street on the way is in
the job.  Walking distance is never shorter than the straight line, so nothing outside
the box can be reached within the tier distance; the results therefore equal the
single-process run exactly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from shequ.access.lifecircle import (
    DEFAULT_MAX_SNAP_M,
    LifeCircleResult,
    evaluate_life_circles,
    roll_up,
    tier_distance,
)
from shequ.access.network import CM_PER_M, StreetNetwork
from shequ.access.store import load_region, region_network, today_year
from shequ.catalog import Catalog
from shequ.errors import ConfigurationError, NotFoundError
from shequ.registry.geodesy import degree_box

if TYPE_CHECKING:
    from shequ.context import Context

COUNTY_DIGITS = 6
ROUNDING_MARGIN_M = 500.0


def sub_network(network: StreetNetwork, *, west: float, south: float, east: float,
                north: float) -> StreetNetwork:
    """The induced sub-network of the nodes inside a lon/lat box (node order kept)."""
    inside = ((network.lon >= west) & (network.lon <= east) & (network.lat >= south)
              & (network.lat <= north))
    keep = np.flatnonzero(inside)
    position = np.full(network.node_count, -1, dtype=np.int64)
    position[keep] = np.arange(keep.size)
    row = np.repeat(np.arange(network.node_count), np.diff(network.indptr))
    col = network.indices.astype(np.int64)
    edge = inside[row] & inside[col] & (row < col)
    if keep.size == 0:
        keep = np.array([0])  # an empty box still needs one node; it reaches nothing
        position[0] = 0
    return StreetNetwork.from_edges(
        node_ids=network.node_ids[keep], lon=network.lon[keep], lat=network.lat[keep],
        edge_u=position[row[edge]], edge_v=position[col[edge]],
        length_m=network.weights[edge] / CM_PER_M, synthetic=network.synthetic,
        source=network.source, reorder=False)


def county_jobs(network: StreetNetwork, *, communities: pl.DataFrame,
                facilities: pl.DataFrame, border_m: float) -> list[dict[str, Any]]:
    """One job's inputs per county: its communities, the network and facilities in reach."""
    jobs = []
    counties = communities.with_columns(
        pl.col("division_code").str.slice(0, COUNTY_DIGITS).alias("_county"))
    for (county,), group in counties.group_by("_county", maintain_order=True):
        part = group.drop("_county")
        lat_extreme = float(np.max(np.abs(part["latitude"].to_numpy())))
        dlon, dlat = degree_box(0.0, lat_extreme, border_m)
        box = {"west": float(part["longitude"].min()) - dlon,  # type: ignore[arg-type]
               "east": float(part["longitude"].max()) + dlon,  # type: ignore[arg-type]
               "south": float(part["latitude"].min()) - dlat,  # type: ignore[arg-type]
               "north": float(part["latitude"].max()) + dlat}  # type: ignore[arg-type]
        near = facilities.filter(
            pl.col("longitude").is_between(box["west"], box["east"])
            & pl.col("latitude").is_between(box["south"], box["north"]))
        jobs.append({"county": str(county), "network": sub_network(network, **box),
                     "communities": part, "facilities": near})
    return jobs


def _run_job(job: dict[str, Any], catalog: Catalog, options: dict[str, Any]
             ) -> dict[str, pl.DataFrame]:
    result = evaluate_life_circles(job["network"], communities=job["communities"],
                                   facilities=job["facilities"], catalog=catalog, **options)
    return {"community_access": result.community_access, "communities": result.communities,
            "unsnapped_residences": result.unsnapped_residences,
            "unsnapped_facilities": result.unsnapped_facilities}


def evaluate_by_county(network: StreetNetwork, *, communities: pl.DataFrame,
                       facilities: pl.DataFrame, catalog: Catalog, client: Any,
                       border_m: float = 0.0, max_snap_m: float = DEFAULT_MAX_SNAP_M,
                       walking_speed_m_per_min: float | None = None) -> LifeCircleResult:
    """The life-circle evaluation as one Dask job per county on ``client``.

    ``border_m`` is raised to the largest tier distance + ``max_snap_m`` + a margin when
    smaller, because a narrower border would lose facilities across the county line.
    """
    cap = max(tier_distance(t, walking_speed_m_per_min) for t in catalog.tiers.values())
    border = max(border_m, cap + max_snap_m + ROUNDING_MARGIN_M)
    jobs = county_jobs(network, communities=communities, facilities=facilities,
                       border_m=border)
    options = {"max_snap_m": max_snap_m, "walking_speed_m_per_min": walking_speed_m_per_min}
    futures = [client.submit(_run_job, job, catalog, options, pure=False,
                             key=f"lifecircle-{job['county']}-{id(job)}") for job in jobs]
    parts = client.gather(futures)
    rank = {code: index for index, code in enumerate(catalog.tiers)}
    access = pl.concat([p["community_access"] for p in parts]).sort(
        "division_code", "facility_type", "distance_m")
    per_community = pl.concat([p["communities"] for p in parts]).sort(
        pl.col("tier").replace_strict(rank, return_dtype=pl.Int64), "division_code")
    unsnapped_facilities = pl.concat([p["unsnapped_facilities"] for p in parts]).unique(
        maintain_order=True)
    types = tuple(catalog.facility_types)
    return LifeCircleResult(
        community_access=access, communities=per_community, divisions=roll_up(per_community),
        unsnapped_residences=pl.concat([p["unsnapped_residences"] for p in parts]),
        unsnapped_facilities=unsnapped_facilities, types=types,
        node_distances=np.zeros((len(types), 0), dtype=np.int32), cap_m=cap,
        meta={"jobs": len(jobs), "border_m": border,
              "tiers": {t.code: tier_distance(t, walking_speed_m_per_min)
                        for t in catalog.tiers.values()}})


def compute_by_county(ctx: Context, *, scheduler: str | Any, network_dir: Path | None = None,
                      border_m: float = 0.0, max_snap_m: float = DEFAULT_MAX_SNAP_M,
                      walking_speed_m_per_min: float | None = None,
                      as_of: dt.date | None = None, period: int | None = None
                      ) -> LifeCircleResult:
    """:func:`evaluate_by_county` for the loaded region, on the Dask scheduler given.

    ``period``: the year whose facilities count, as for
    :func:`shequ.access.lifecircle.compute_region_access` (default: this year).
    """
    try:
        from distributed import Client
    except ImportError as exc:  # a dependency, but say what to do if it is missing
        raise ConfigurationError("dask[distributed] is not installed; `pip install "
                                 "'dask[distributed]'`") from exc
    with ctx.sessions() as session:
        network = region_network(session, network_dir=network_dir)
        year = period if period is not None else today_year()
        region = load_region(session, as_of=as_of, period=year)
    if region.communities.height == 0:
        raise NotFoundError("no community with a representative point; load the registry")
    own = isinstance(scheduler, str)
    client: Any = Client(scheduler) if own else scheduler  # type: ignore[no-untyped-call]
    try:
        result = evaluate_by_county(network, communities=region.communities,
                                    facilities=region.facilities, catalog=ctx.catalog,
                                    client=client, border_m=border_m, max_snap_m=max_snap_m,
                                    walking_speed_m_per_min=walking_speed_m_per_min)
        result.meta["period"] = year
        return result
    finally:
        if own:
            client.close()


__all__ = ["compute_by_county", "county_jobs", "evaluate_by_county", "sub_network"]
