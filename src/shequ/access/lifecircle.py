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
:func:`store_community_access`) cover every catalog facility type at every tier distance
of the community's area: indicators compute "residents within X m of type T" as
Σ residents × covered_share.

Tier distances are the standard's ``distance_m``; with ``walking_speed_m_per_min`` given
they become minutes × speed instead (a configurable assumption).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from shequ.access.kernels import UNREACHED, nearest_distances
from shequ.access.network import SnapResult, StreetNetwork
from shequ.catalog import Catalog, LifeCircleTier
from shequ.errors import NotFoundError, Problem, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shequ.context import Context

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
    node_distances: npt.NDArray[np.int32]
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


def _require_columns(table: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValidationError([Problem(name, f"missing column(s) {', '.join(missing)}",
                                       hint=f"give at least {', '.join(columns)}")])


def snap_facilities(network: StreetNetwork, facilities: pl.DataFrame, *,
                    max_snap_m: float, types: Sequence[str] | None = None
                    ) -> SnappedFacilities:
    """Snap facilities (id, type_code, longitude, latitude) and group them by type."""
    _require_columns(facilities, FACILITY_COLUMNS, "facilities")
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
    _require_columns(communities, COMMUNITY_COLUMNS, "communities")
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
        _require_columns(residences, RESIDENCE_COLUMNS, "residences")
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
            complete &= point_d[type_index[code]] <= distance
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
    # distance of every point to every type (UNREACHED when unsnapped)
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
        nearest = np.where(median == UNREACHED, np.nan, median.astype(np.float64))
        for distance in all_distances:
            covered = np.bincount(group, weights=point_w * (d <= distance), minlength=n_comm)
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


LEVEL_PREFIX = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}


def roll_up(per_community: pl.DataFrame) -> pl.DataFrame:
    """Sum the per-community figures per division (levels 1–5) and tier, by code prefix."""
    sums = [pl.col(name).sum() for name in POPULATION_FIGURES] + [
        pl.col(f"{name}_covered").sum() for name in POPULATION_FIGURES]
    frames = []
    for level, digits in LEVEL_PREFIX.items():
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
    """Per node: id, lon, lat and the distance to each type (null beyond the cap)."""
    columns: dict[str, Any] = {"id": network.node_ids, "lon": network.lon, "lat": network.lat}
    for index, code in enumerate(types):
        row = distances[index]
        columns[code] = pl.Series(code, row, dtype=pl.Int32).set(
            pl.Series(row == UNREACHED), None) if (row == UNREACHED).any() else row
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


def load_community_access(session: Session, *, prefix: str = "",
                          period: int | None = None) -> pl.DataFrame:
    """Stored ``community_access`` rows (under ``prefix``) of ``period`` (default: the
    latest year stored there), with their period and computed_at."""
    from sqlalchemy import func, select

    from shequ.access.models import CommunityAccess

    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        **ACCESS_SCHEMA, "period": pl.Int64, "computed_at": pl.Datetime(time_zone=None)}
    under = CommunityAccess.division_code.startswith(prefix) if prefix else None
    if period is None:
        latest = select(func.max(CommunityAccess.period))
        period = session.scalar(latest if under is None else latest.where(under))
        if period is None:
            return pl.DataFrame(schema=schema)
    query = select(CommunityAccess.division_code, CommunityAccess.facility_type,
                   CommunityAccess.distance_m, CommunityAccess.covered_share,
                   CommunityAccess.nearest_m, CommunityAccess.period,
                   CommunityAccess.computed_at).where(CommunityAccess.period == period)
    if under is not None:
        query = query.where(under)
    rows = session.execute(query).all()
    return pl.DataFrame([tuple(r) for r in rows], orient="row", schema=schema) if rows else \
        pl.DataFrame(schema=schema)


# -- adapters: the registry in, the community_access table out ---------------------------

@dataclass(frozen=True, slots=True)
class RegionInputs:
    """The registry's communities (with population) and in-service facilities as tables."""

    communities: pl.DataFrame
    facilities: pl.DataFrame
    without_point: list[str]


def load_region(session: Session, *, as_of: dt.date | None = None, prefix: str = "",
                period: int | None = None) -> RegionInputs:
    """Communities (level 5, in force on ``as_of``) and their facilities with points.

    Without ``period``: the facilities in service now and each community's latest
    population.  With ``period`` (a year): the facilities that served residents that year
    (:func:`shequ.registry.queries.in_service_in`, the indicators' rule) and the latest
    population up to that year.  Communities without a representative point are listed
    in ``without_point``.
    """
    from sqlalchemy import func, select

    from shequ.registry.models import Division, Facility, FacilityStatus, Population
    from shequ.registry.queries import in_service_in, today, valid_on

    when = as_of or today()
    query = select(Division.code, Division.longitude, Division.latitude,
                   Division.urban_rural).where(valid_on(when), Division.level == 5)
    if prefix:
        query = query.where(Division.code.startswith(prefix))
    rows = session.execute(query.order_by(Division.code)).all()
    without = [r.code for r in rows if r.longitude is None or r.latitude is None]
    rows = [r for r in rows if r.longitude is not None and r.latitude is not None]
    latest = (select(Population.division_code, func.max(Population.period).label("period"))
              .group_by(Population.division_code))
    if period is not None:
        latest = latest.where(Population.period <= period)
    if prefix:
        latest = latest.where(Population.division_code.startswith(prefix))
    chosen = latest.subquery()
    population = session.execute(
        select(Population.division_code, Population.residents, Population.households,
               Population.age_60_plus, Population.age_0_2, Population.age_3_5,
               Population.age_6_14)
        .join(chosen, (Population.division_code == chosen.c.division_code)
              & (Population.period == chosen.c.period))).all()
    people = {p.division_code: p for p in population}
    communities = pl.DataFrame(
        {
            "division_code": [r.code for r in rows],
            "longitude": [r.longitude for r in rows],
            "latitude": [r.latitude for r in rows],
            "urban_rural": [r.urban_rural for r in rows],
            **{name: [getattr(people[r.code], name) if r.code in people else 0 for r in rows]
               for name in ("residents", "households", "age_60_plus", "age_0_2",
                            "age_3_5", "age_6_14")},
        },
        schema={"division_code": pl.String, "longitude": pl.Float64, "latitude": pl.Float64,
                "urban_rural": pl.String, "residents": pl.Int64, "households": pl.Int64,
                "age_60_plus": pl.Int64, "age_0_2": pl.Int64, "age_3_5": pl.Int64,
                "age_6_14": pl.Int64})
    serving = (Facility.status == FacilityStatus.IN_SERVICE.value if period is None
               else in_service_in(period))
    fquery = select(Facility.id, Facility.type_code, Facility.longitude, Facility.latitude,
                    Facility.capacity, Facility.division_code, Facility.name).where(
        serving, Facility.longitude.is_not(None), Facility.latitude.is_not(None))
    if prefix:
        fquery = fquery.where(Facility.division_code.startswith(prefix))
    frows = session.execute(fquery.order_by(Facility.id)).all()
    facilities = pl.DataFrame(
        {"id": [f.id for f in frows], "type_code": [f.type_code for f in frows],
         "longitude": [f.longitude for f in frows], "latitude": [f.latitude for f in frows],
         "capacity": [f.capacity for f in frows],
         "division_code": [f.division_code for f in frows], "name": [f.name for f in frows]},
        schema={"id": pl.Int64, "type_code": pl.String, "longitude": pl.Float64,
                "latitude": pl.Float64, "capacity": pl.Float64, "division_code": pl.String,
                "name": pl.String})
    return RegionInputs(communities, facilities, without)


def region_network(session: Session, *, network_dir: Path | None = None) -> StreetNetwork:
    """The stored street network of the loaded region (RegistryMeta ``network_dir``)."""
    from shequ.registry.queries import meta

    folder = network_dir or (Path(meta(session)["network_dir"])
                             if "network_dir" in meta(session) else None)
    if folder is None:
        raise NotFoundError(
            "the registry records no street network (RegistryMeta network_dir); build the "
            "demo region or run `shequ access network --osm FILE --out DIR` and pass --network"
        )
    return StreetNetwork.load(folder)


def compute_region_access(ctx: Context, *, period: int | None = None,
                          as_of: dt.date | None = None, network_dir: Path | None = None,
                          prefix: str = "", walking_speed_m_per_min: float | None = None,
                          max_snap_m: float = DEFAULT_MAX_SNAP_M,
                          residences: pl.DataFrame | None = None,
                          store: bool = False) -> LifeCircleResult:
    """Evaluate the loaded region from the registry and its stored network.

    ``period`` is the year whose facilities count (default: this year); the result's
    ``meta["period"]`` says which.  ``residences`` (division_code, longitude, latitude,
    weight — e.g. buildings with their population) replace the communities'
    representative points where given.  With ``store`` the ``community_access`` rows are
    written for that year (replacing that year's earlier rows of the same communities).
    """
    year = period if period is not None else today_year()
    with ctx.sessions() as session:
        network = region_network(session, network_dir=network_dir)
        region = load_region(session, as_of=as_of, prefix=prefix, period=year)
    if region.communities.height == 0:
        raise NotFoundError(
            f"no community with a representative point under prefix {prefix!r}; load the "
            "registry (e.g. `shequ demo build`) first")
    points = None
    if residences is not None:
        given = set(residences["division_code"].cast(pl.String).to_list())
        # communities without residence points keep their representative point
        points = pl.concat([
            residences.select(pl.col("division_code").cast(pl.String),
                              pl.col("longitude").cast(pl.Float64),
                              pl.col("latitude").cast(pl.Float64),
                              pl.col("weight").cast(pl.Float64)),
            region.communities.filter(~pl.col("division_code").is_in(list(given))).select(
                "division_code", "longitude", "latitude", pl.lit(1.0).alias("weight")),
        ])
    result = evaluate_life_circles(
        network, communities=region.communities, facilities=region.facilities,
        catalog=ctx.catalog, walking_speed_m_per_min=walking_speed_m_per_min,
        max_snap_m=max_snap_m, residences=points)
    result.meta["communities_without_point"] = region.without_point
    result.meta["period"] = year
    if store:
        with ctx.sessions() as session, session.begin():
            store_community_access(session, result.community_access, period=year)
    return result


def today_year() -> int:
    """This year in the registry's calendar (China Standard Time)."""
    from shequ.registry.queries import today

    return today().year


def store_community_access(session: Session, table: pl.DataFrame, *, period: int,
                           computed_at: dt.datetime | None = None) -> int:
    """Write ``community_access`` rows of year ``period``, replacing that year's earlier
    rows of the same communities (other years stay).

    ``table`` has division_code, facility_type, distance_m, covered_share, nearest_m.
    Returns the number of rows written.  The caller commits.
    """
    from sqlalchemy import delete, insert

    from shequ.access.models import CommunityAccess
    from shequ.registry.models import MAX_PERIOD, MIN_PERIOD

    _require_columns(table, ("division_code", "facility_type", "distance_m", "covered_share",
                             "nearest_m"), "community_access")
    shares = table["covered_share"].cast(pl.Float64)
    if shares.null_count() or (shares.len() and (shares.min() < 0 or shares.max() > 1)):  # type: ignore[operator]
        raise ValidationError([Problem("community_access", "covered_share must be in 0..1")])
    when = computed_at or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise ValidationError([Problem("computed_at", "must be timezone-aware")])
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        raise ValidationError([Problem("period", f"{period} is not a year in "
                                       f"{MIN_PERIOD}…{MAX_PERIOD}")])
    codes = table["division_code"].unique().to_list()
    for start in range(0, len(codes), 500):
        session.execute(delete(CommunityAccess).where(
            CommunityAccess.period == period,
            CommunityAccess.division_code.in_(codes[start:start + 500])))
    rows = [
        {"division_code": r[0], "facility_type": r[1], "distance_m": int(r[2]),
         "covered_share": float(r[3]), "nearest_m": None if r[4] is None else float(r[4]),
         "period": period, "computed_at": when}
        for r in table.select("division_code", "facility_type", "distance_m",
                              "covered_share", "nearest_m").iter_rows()
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(CommunityAccess), rows[start:start + 5000])
    return len(rows)


__all__ = [
    "LifeCircleResult",
    "RegionInputs",
    "compute_region_access",
    "evaluate_life_circles",
    "load_community_access",
    "load_region",
    "node_table",
    "region_network",
    "roll_up",
    "snap_facilities",
    "store_community_access",
    "tier_distance",
    "tiers_from_access",
    "today_year",
    "write_table",
]
