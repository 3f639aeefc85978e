"""The life-circle evaluator: which residents reach which services on foot, and what is missing.

Pure core (:func:`evaluate_life_circles`) over tables and a :class:`StreetNetwork`:

1. facilities and residence points are snapped to the network (``max_snap_m``); what
   cannot be snapped is returned in ``unsnapped_facilities`` / ``unsnapped_residences``,
   never silently dropped (an unsnapped residence counts as not covered);
2. one bounded multi-source search per facility type gives every node its walking
   distance to the nearest facility of that type (:func:`shequ.access.kernels.nearest_distances`);
3. per community, facility type and tier distance D:
   ``covered_share = Σ_i w_i [d_i ≤ D] / Σ_i w_i`` over the community's residence points i
   with weights w_i (its population; a community given only by its representative point
   has one point, so the share is 0 or 1), and ``nearest_m`` = the weighted median of d_i;
4. per community and tier (GB 50180 tiers as data, urban tiers for urban communities,
   rural township/village tiers for rural ones): the required types reached (share 1),
   partly reached, missing (share 0), and the share of residents who reach *every*
   required type; residents, households, people aged 60+ and 0–5 covered = the
   community's figures × that share;
5. rolled up the hierarchy by code prefix (township, county, prefecture, province).

``community_access`` rows (this module's output for the indicators, stored by
:func:`shequ.access.store.store_community_access`) cover every catalog facility type at
every tier distance of the community's area: indicators compute "residents within X m of
type T" as Σ residents × covered_share.

The database adapters (the registry in, ``community_access`` out) are in
:mod:`shequ.access.store`; this module imports no SQLAlchemy.

Tier distances are the standard's ``distance_m``; with ``walking_speed_m_per_min`` given
they become minutes × speed instead (a configurable assumption).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from shequ.access.kernels import UNREACHED, nearest_distances
from shequ.access.network import CM_PER_M, SnapResult, StreetNetwork
from shequ.catalog import Catalog, LifeCircleTier
from shequ.errors import Problem, ValidationError
from shequ.registry.codes import LEVEL_DIGITS

DEFAULT_MAX_SNAP_M = 500.0
URBAN, RURAL = "urban", "rural"

COMMUNITY_COLUMNS = ("division_code", "longitude", "latitude")
FACILITY_COLUMNS = ("id", "type_code", "longitude", "latitude")
RESIDENCE_COLUMNS = ("division_code", "longitude", "latitude", "weight")
POPULATION_FIGURES = ("residents", "households", "age_60_plus", "age_0_5")
ACCESS_SCHEMA = {"division_code": pl.String, "facility_type": pl.String,
                 "distance_m": pl.Int64, "covered_share": pl.Float64, "nearest_m": pl.Float64}


@dataclass(frozen=True, slots=True)
class SnappedFacilities:
    """Facilities by type with their network nodes; ``unsnapped`` lists the rest."""

    types: tuple[str, ...]
    nodes: tuple[npt.NDArray[np.int64], ...]
    rows: tuple[npt.NDArray[np.int64], ...]  # row numbers into the input table
    unsnapped: pl.DataFrame


@dataclass(frozen=True, slots=True)
class LifeCircleResult:
    """Everything the evaluator found (tables are polars frames).

    community_access  division_code, facility_type, distance_m, covered_share, nearest_m
    communities       one row per community and tier: tier, distance_m, required,
                      reached, partial, missing (lists of type codes), complete_share,
                      residents … and the *_covered figures
    divisions         the same figures summed per division and tier (levels 1–5)
    """

    community_access: pl.DataFrame
    communities: pl.DataFrame
    divisions: pl.DataFrame
    unsnapped_residences: pl.DataFrame
    unsnapped_facilities: pl.DataFrame
    types: tuple[str, ...]
    node_distances: npt.NDArray[np.int32]  # centimetres (UNREACHED beyond cap_m)
    cap_m: int
    meta: dict[str, Any] = field(default_factory=dict)

    def uncovered(self, tier: str | None = None) -> pl.DataFrame:
        """Communities (and tiers) where some residents miss a required type."""
        frame = self.communities.filter(pl.col("complete_share") < 1.0)
        return frame if tier is None else frame.filter(pl.col("tier") == tier)


def tier_distance(tier: LifeCircleTier, walking_speed_m_per_min: float | None) -> int:
    """The walking distance of ``tier`` in whole metres."""
    if walking_speed_m_per_min is None:
        return round(tier.distance_m)
    return round(tier.minutes * walking_speed_m_per_min)


def require_columns(table: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    """Refuse ``table`` (named ``name`` in the message) when it lacks one of ``columns``."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValidationError([Problem(name, f"missing column(s) {', '.join(missing)}",
                                       hint=f"give at least {', '.join(columns)}")])


def snap_facilities(network: StreetNetwork, facilities: pl.DataFrame, *,
                    max_snap_m: float, types: Sequence[str] | None = None
                    ) -> SnappedFacilities:
    """Snap facilities (id, type_code, longitude, latitude) and group them by type."""
    require_columns(facilities, FACILITY_COLUMNS, "facilities")
    lon = facilities["longitude"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    lat = facilities["latitude"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    snapped = network.snap(lon, lat, max_distance_m=max_snap_m)
    codes = facilities["type_code"].cast(pl.String).to_numpy()
    wanted = tuple(types) if types is not None else tuple(sorted(set(codes.tolist())))
    nodes = []
    rows = []
    for code in wanted:
        chosen = np.flatnonzero((codes == code) & ~snapped.unsnapped)
        rows.append(chosen.astype(np.int64))
        nodes.append(snapped.node[chosen])
    unsnapped = facilities.with_columns(
        pl.Series("snap_distance_m", snapped.distance_m)).filter(
        pl.Series(snapped.unsnapped))
    return SnappedFacilities(wanted, tuple(nodes), tuple(rows), unsnapped)


def _age_0_5(communities: pl.DataFrame) -> pl.Expr:
    parts = [pl.col(c).fill_null(0) for c in ("age_0_2", "age_3_5") if c in communities.columns]
    return pl.sum_horizontal(parts) if parts else pl.lit(0)


def _prepare_communities(communities: pl.DataFrame) -> pl.DataFrame:
    require_columns(communities, COMMUNITY_COLUMNS, "communities")
    columns = [pl.col("division_code").cast(pl.String)]
    for name in ("residents", "households", "age_60_plus"):
        columns.append((pl.col(name).cast(pl.Float64).fill_null(0.0)
                        if name in communities.columns else pl.lit(0.0)).alias(name))
    columns.append(_age_0_5(communities).cast(pl.Float64).alias("age_0_5"))
    if "urban" in communities.columns:
        area = pl.when(pl.col("urban").fill_null(True)).then(pl.lit(URBAN)).otherwise(
            pl.lit(RURAL))
    elif "urban_rural" in communities.columns:
        area = pl.when(pl.col("urban_rural").cast(pl.String).str.starts_with("2")).then(
            pl.lit(RURAL)).otherwise(pl.lit(URBAN))
    else:
        area = pl.lit(URBAN)
    columns.append(area.alias("area"))
    columns.extend(pl.col(c).cast(pl.Float64) for c in ("longitude", "latitude"))
    prepared = communities.select(columns)
    if prepared["division_code"].n_unique() != prepared.height:
        raise ValidationError([Problem("communities", "a division_code appears twice",
                                       hint="give one row per community")])
    return prepared


def _weighted_median(groups: npt.NDArray[np.int64], values: npt.NDArray[np.int64],
                     weights: npt.NDArray[np.float64], count: int) -> npt.NDArray[np.int64]:
    """Per group, the smallest value whose cumulative weight reaches half the group's."""
    order = np.lexsort((values, groups))
    g, v, w = groups[order], values[order], weights[order]
    total = np.bincount(g, weights=w, minlength=count)
    cumulative = np.cumsum(w)
    start = np.zeros(count, dtype=np.float64)
    first = np.searchsorted(g, np.arange(count))
    has = first < g.size
    before = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    start[has] = before[has]
    within = cumulative - start[g]
    reached = within >= total[g] / 2.0 - 1e-12
    # the first index per group where the half is reached
    candidates = np.where(reached, np.arange(g.size), g.size)
    best = np.full(count, g.size, dtype=np.int64)
    np.minimum.at(best, g, candidates)
    result = np.full(count, UNREACHED, dtype=np.int64)
    ok = best < g.size
    result[ok] = v[best[ok]]
    return result


@dataclass(frozen=True, slots=True)
class _Points:
    """Residence points: their community (row in the prepared table), weight, snap."""

    table: pl.DataFrame
    group: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float64]
    denominator: npt.NDArray[np.float64]
    snapped: SnapResult


def _residence_points(network: StreetNetwork, prepared: pl.DataFrame,
                      residences: pl.DataFrame | None, *, max_snap_m: float) -> _Points:
    if residences is None:
        points = prepared.select("division_code", "longitude", "latitude",
                                 pl.lit(1.0).alias("weight"))
    else:
        require_columns(residences, RESIDENCE_COLUMNS, "residences")
        points = residences.select(pl.col("division_code").cast(pl.String),
                                   pl.col("longitude").cast(pl.Float64),
                                   pl.col("latitude").cast(pl.Float64),
                                   pl.col("weight").cast(pl.Float64).fill_null(0.0))
    code_index = {code: i for i, code in enumerate(prepared["division_code"].to_list())}
    point_codes = points["division_code"].to_list()
    strays = sorted({c for c in point_codes if c not in code_index})
    if strays:
        raise ValidationError([Problem("residences", f"division_code {c} is not a community "
                                       "in the communities table") for c in strays[:20]])
    group = np.fromiter((code_index[c] for c in point_codes), dtype=np.int64,
                        count=len(point_codes))
    weight = points["weight"].to_numpy().astype(np.float64)
    snapped = network.snap(points["longitude"].fill_null(np.nan).to_numpy(),
                           points["latitude"].fill_null(np.nan).to_numpy(),
                           max_distance_m=max_snap_m)
    n_comm = prepared.height
    total_w = np.bincount(group, weights=weight, minlength=n_comm)
    n_points = np.bincount(group, minlength=n_comm).astype(np.float64)
    use_count = total_w <= 0  # no population given: every point counts the same
    return _Points(points, group, np.where(use_count[group], 1.0, weight),
                   np.where(use_count, n_points, total_w), snapped)


COMMUNITY_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "division_code": pl.String, "tier": pl.String, "area": pl.String,
    "distance_m": pl.Int64, "required": pl.List(pl.String), "reached": pl.List(pl.String),
    "partial": pl.List(pl.String), "missing": pl.List(pl.String),
    "complete_share": pl.Float64,
    **dict.fromkeys(POPULATION_FIGURES, pl.Float64),
    **dict.fromkeys((f"{name}_covered" for name in POPULATION_FIGURES), pl.Float64),
}


def _tier_records(prepared: pl.DataFrame, chosen: Sequence[LifeCircleTier], *,
                  distance_of: dict[str, int], types: Sequence[str],
                  point_d: npt.NDArray[np.int64], points: _Points,
                  share_at: dict[tuple[int, int], npt.NDArray[np.float64]]) -> pl.DataFrame:
    """One row per community and tier of its area: reached, missing, residents covered."""
    n_comm = prepared.height
    codes = prepared["division_code"].to_list()
    areas = prepared["area"].to_list()
    type_index = {code: i for i, code in enumerate(types)}
    figures = {name: prepared[name].to_numpy() for name in POPULATION_FIGURES}
    records: list[dict[str, Any]] = []
    for tier in chosen:
        distance = distance_of[tier.code]
        required = [code for code in tier.required if code in type_index]
        complete = np.ones(points.group.size, dtype=bool)
        for code in required:
            complete &= point_d[type_index[code]] <= distance * CM_PER_M
        complete_share = np.divide(
            np.bincount(points.group, weights=points.weight * complete, minlength=n_comm),
            points.denominator, out=np.zeros(n_comm), where=points.denominator > 0)
        for c in range(n_comm):
            if areas[c] != tier.area:
                continue
            shares = {code: float(share_at[(type_index[code], distance)][c])
                      for code in required}
            record: dict[str, Any] = {
                "division_code": codes[c], "tier": tier.code, "area": tier.area,
                "distance_m": distance, "required": required,
                "reached": [k for k, v in shares.items() if v >= 1.0],
                "partial": [k for k, v in shares.items() if 0.0 < v < 1.0],
                "missing": [k for k, v in shares.items() if v <= 0.0],
                "complete_share": float(complete_share[c]),
            }
            for name in POPULATION_FIGURES:
                record[name] = float(figures[name][c])
                record[f"{name}_covered"] = float(figures[name][c] * complete_share[c])
            records.append(record)
    rank = {tier.code: index for index, tier in enumerate(chosen)}
    return pl.DataFrame(records, schema=COMMUNITY_SCHEMA).sort(
        pl.col("tier").replace_strict(rank, return_dtype=pl.Int64), "division_code")


def evaluate_life_circles(
    network: StreetNetwork,
    *,
    communities: pl.DataFrame,
    facilities: pl.DataFrame,
    catalog: Catalog,
    residences: pl.DataFrame | None = None,
    tiers: Sequence[str] | None = None,
    walking_speed_m_per_min: float | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> LifeCircleResult:
    """Evaluate the life-circle tiers for every community (see the module docstring).

    communities  division_code, longitude, latitude; optional urban (bool) or urban_rural
                 (3-digit class), residents, households, age_60_plus, age_0_2, age_3_5
    facilities   id, type_code, longitude, latitude (in service only: filter before)
    residences   optional points: division_code, longitude, latitude, weight (population);
                 without them each community's representative point is its residence
    """
    prepared = _prepare_communities(communities)
    chosen = [catalog.tiers[code] for code in (tiers or list(catalog.tiers))
              if code in catalog.tiers]
    unknown = [code for code in (tiers or []) if code not in catalog.tiers]
    if unknown or not chosen:
        raise ValidationError([Problem("tiers", f"unknown tier(s) {', '.join(unknown)}",
                                       hint=f"known: {', '.join(catalog.tiers)}")])
    distance_of = {t.code: tier_distance(t, walking_speed_m_per_min) for t in chosen}
    cap = max(distance_of.values())
    types = tuple(catalog.facility_types)
    located = snap_facilities(network, facilities, max_snap_m=max_snap_m, types=types)
    table = nearest_distances(network, list(located.nodes), cap_m=cap)

    points = _residence_points(network, prepared, residences, max_snap_m=max_snap_m)
    group, point_w, denominator = points.group, points.weight, points.denominator
    n_comm = prepared.height
    # distance of every point to every type in centimetres (UNREACHED when unsnapped)
    point_d = np.full((len(types), group.size), UNREACHED, dtype=np.int64)
    ok = ~points.snapped.unsnapped
    point_d[:, ok] = table[:, points.snapped.node[ok]]

    distances_by_area = {
        area: sorted({distance_of[t.code] for t in chosen if t.area == area})
        for area in (URBAN, RURAL)
    }
    # community_access rows: every type at every tier distance of the community's area
    code_array = prepared["division_code"].to_numpy()
    area_array = prepared["area"].to_numpy()
    share_at: dict[tuple[int, int], npt.NDArray[np.float64]] = {}
    parts: list[pl.DataFrame] = []
    all_distances = sorted({x for v in distances_by_area.values() for x in v})
    for t_index, type_code in enumerate(types):
        d = point_d[t_index]
        median = _weighted_median(group, d, point_w, n_comm)
        nearest = np.where(median == UNREACHED, np.nan, median / CM_PER_M)
        for distance in all_distances:
            covered = np.bincount(group, weights=point_w * (d <= distance * CM_PER_M),
                                  minlength=n_comm)
            share = np.divide(covered, denominator, out=np.zeros(n_comm),
                              where=denominator > 0)
            share_at[(t_index, distance)] = share
            members = np.flatnonzero(np.isin(
                area_array, [a for a, ds in distances_by_area.items() if distance in ds]))
            parts.append(pl.DataFrame({
                "division_code": code_array[members],
                "facility_type": np.full(members.size, type_code, dtype=object),
                "distance_m": np.full(members.size, distance, dtype=np.int64),
                "covered_share": share[members],
                "nearest_m": nearest[members],
            }, schema=ACCESS_SCHEMA, nan_to_null=True))
    community_access = (pl.concat(parts) if parts else pl.DataFrame(schema=ACCESS_SCHEMA)
                        ).sort("division_code", "facility_type", "distance_m")
    per_community = _tier_records(prepared, chosen, distance_of=distance_of, types=types,
                                  point_d=point_d, points=points, share_at=share_at)
    divisions = roll_up(per_community)

    unsnapped_residences = points.table.with_columns(
        pl.Series("snap_distance_m", points.snapped.distance_m)).filter(
        pl.Series(points.snapped.unsnapped))
    return LifeCircleResult(
        community_access=community_access, communities=per_community, divisions=divisions,
        unsnapped_residences=unsnapped_residences,
        unsnapped_facilities=located.unsnapped, types=types, node_distances=table, cap_m=cap,
        meta={"tiers": {t.code: distance_of[t.code] for t in chosen},
              "facilities_used": int(sum(r.size for r in located.rows)),
              "residence_points": int(group.size), "network_nodes": network.node_count,
              "network_source": network.source, "synthetic_network": network.synthetic},
    )


def roll_up(per_community: pl.DataFrame) -> pl.DataFrame:
    """Sum the per-community figures per division (levels 1–5) and tier, by code prefix."""
    sums = [pl.col(name).sum() for name in POPULATION_FIGURES] + [
        pl.col(f"{name}_covered").sum() for name in POPULATION_FIGURES]
    frames = []
    for level, digits in LEVEL_DIGITS.items():
        frames.append(
            per_community.with_columns(
                pl.col("division_code").str.slice(0, digits).str.pad_end(12, "0")
                .alias("code"))
            .group_by("code", "tier", "distance_m")
            .agg(pl.len().alias("communities"),
                 (pl.col("complete_share") >= 1.0).sum().alias("communities_complete"),
                 *sums)
            .with_columns(pl.lit(level).alias("level")))
    if not frames:
        return pl.DataFrame()
    result = pl.concat(frames).with_columns(
        pl.when(pl.col("residents") > 0)
        .then(pl.col("residents_covered") / pl.col("residents"))
        .otherwise(None).alias("residents_covered_share"))
    return result.rename({"code": "division_code"}).sort("level", "division_code", "tier")


def node_table(network: StreetNetwork, types: Sequence[str],
               distances: npt.NDArray[np.int32]) -> pl.DataFrame:
    """Per node: id, lon, lat and the metres to each type (null beyond the cap).

    ``distances`` are the kernels' centimetres; the table shows metres to the centimetre.
    """
    columns: dict[str, Any] = {"id": network.node_ids, "lon": network.lon, "lat": network.lat}
    for index, code in enumerate(types):
        row = distances[index]
        metres = pl.Series(code, row / CM_PER_M, dtype=pl.Float64)
        columns[code] = metres.set(pl.Series(row == UNREACHED), None) if (
            row == UNREACHED).any() else metres
    return pl.DataFrame(columns)


def write_table(table: pl.DataFrame, path: Path) -> Path:
    """Write ``table`` as Parquet or CSV (by suffix; lists become ';'-joined text in CSV)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.write_parquet(path)
    elif path.suffix == ".csv":
        flat = table.with_columns(
            pl.col(c).list.join(";") for c, t in table.schema.items()
            if isinstance(t, pl.List))
        flat.write_csv(path)
    else:
        raise ValidationError([Problem(str(path), "unknown output format",
                                       hint="name the file .parquet or .csv")])
    return path


def tiers_from_access(access: pl.DataFrame, communities: pl.DataFrame, catalog: Catalog, *,
                      tiers: Sequence[str] | None = None,
                      walking_speed_m_per_min: float | None = None) -> pl.DataFrame:
    """Per community and tier, from stored ``community_access`` rows: reached and missing.

    ``covered_share`` of a tier is the smallest share among its required types — exact
    when each community is one point (shares 0 or 1), an upper bound otherwise; residents
    covered = residents × that share.
    """
    prepared = _prepare_communities(communities)
    chosen = [catalog.tiers[c] for c in (tiers or list(catalog.tiers)) if c in catalog.tiers]
    lookup = {(r[0], r[1], int(r[2])): float(r[3]) for r in access.select(
        "division_code", "facility_type", "distance_m", "covered_share").iter_rows()}
    records: list[dict[str, Any]] = []
    for row in prepared.iter_rows(named=True):
        for tier in chosen:
            if tier.area != row["area"]:
                continue
            distance = tier_distance(tier, walking_speed_m_per_min)
            shares = {code: lookup.get((row["division_code"], code, distance), 0.0)
                      for code in tier.required}
            share = min(shares.values()) if shares else 1.0
            records.append({
                "division_code": row["division_code"], "tier": tier.code,
                "distance_m": distance, "longitude": row["longitude"],
                "latitude": row["latitude"], "residents": row["residents"],
                "age_60_plus": row["age_60_plus"], "covered_share": share,
                "residents_covered": row["residents"] * share,
                "reached": [k for k, v in shares.items() if v >= 1.0],
                "missing": [k for k, v in shares.items() if v < 1.0],
            })
    return pl.DataFrame(records, schema={
        "division_code": pl.String, "tier": pl.String, "distance_m": pl.Int64,
        "longitude": pl.Float64, "latitude": pl.Float64, "residents": pl.Float64,
        "age_60_plus": pl.Float64, "covered_share": pl.Float64,
        "residents_covered": pl.Float64, "reached": pl.List(pl.String),
        "missing": pl.List(pl.String)})


__all__ = [
    "ACCESS_SCHEMA",
    "DEFAULT_MAX_SNAP_M",
    "LifeCircleResult",
    "evaluate_life_circles",
    "node_table",
    "require_columns",
    "roll_up",
    "snap_facilities",
    "tier_distance",
    "tiers_from_access",
    "write_table",
]
