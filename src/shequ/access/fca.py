"""Capacity-aware access: two-step floating catchment area (2SFCA, E2SFCA).

For facilities j with capacity S_j, demand points i with population P_i (the people who
need the service), walking distance d_ij on the street network and catchment radius d0:

    R_j = S_j / Σ_{i: d_ij ≤ d0} P_i · W(d_ij)          (supply per person it can serve)
    A_i = Σ_{j: d_ij ≤ d0} R_j · W(d_ij)                 (access of demand point i)

2SFCA (Luo & Wang 2003): W = 1.  E2SFCA with Gaussian decay: W(d) = exp(−d² / 2σ²), the
form of PySAL ``access.weights.gaussian(σ)`` (σ defaults to d0 / 2).  A facility that no
demand reaches gets R_j = 0 (nobody to serve); a demand point that reaches no facility
has A_i = 0.  A_i reads as "places per person in need" (e.g. beds per resident aged 60+).

:func:`fca_from_costs` is the pure core over a sparse (origin, dest, cost) table, the
input PySAL ``access`` takes; :func:`two_step_fca` gets that table from the street network
with :func:`shequ.access.kernels.catchments` (one bounded search per facility) and then
needs only a few ``bincount`` passes, so its cost is the searches.

Example::

    >>> from shequ.access.network import grid_network
    >>> net = grid_network(20, 20, seed=1)
    >>> result = two_step_fca(net, demand_nodes=[0, 399], demand=[100, 50],
    ...                       supply_nodes=[0], supply=[10], radius_m=500)
    >>> float(result.access[0])   # 10 places for the 100 people within 500 m
    0.1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from shequ.access.kernels import catchments, prefetch
from shequ.access.network import CM_PER_M, StreetNetwork
from shequ.catalog import Catalog
from shequ.errors import Problem, ValidationError

FloatArray = npt.NDArray[np.float64]


class Decay(StrEnum):
    """Distance weight inside the catchment."""

    NONE = "none"          # 2SFCA: every distance within the radius counts fully
    GAUSSIAN = "gaussian"  # E2SFCA: exp(−d² / 2σ²)


# Who needs a service: the population column that is its demand, by facility type or area.
DEMAND_BY_TYPE = {"nursery": "age_0_2", "kindergarten": "age_3_5",
                  "primary_school": "age_6_14"}
DEMAND_BY_AREA = {"elderly": "age_60_plus", "childcare": "age_0_2"}


def demand_column(catalog: Catalog, type_code: str) -> str:
    """The population column that needs ``type_code`` (residents when no group is named)."""
    if type_code in DEMAND_BY_TYPE:
        return DEMAND_BY_TYPE[type_code]
    area = catalog.facility_type(type_code).service_area
    return DEMAND_BY_AREA.get(area, "residents")


def decay_weights(distance: npt.ArrayLike, *, decay: Decay, sigma_m: float) -> FloatArray:
    """W(d) for distances in metres."""
    d = np.asarray(distance, dtype=np.float64)
    if decay is Decay.NONE:
        return np.ones_like(d)
    return np.exp(-(d * d) / (2.0 * sigma_m * sigma_m))


@dataclass(frozen=True, slots=True)
class FcaResult:
    """Access per demand point and the supply-to-demand ratio per facility."""

    access: FloatArray  # A_i, one per demand point
    ratio: FloatArray   # R_j, one per facility
    reached_demand: FloatArray  # Σ P_i W(d_ij) per facility


def two_step_fca(network: StreetNetwork, *, demand_nodes: npt.ArrayLike,
                 demand: npt.ArrayLike, supply_nodes: npt.ArrayLike, supply: npt.ArrayLike,
                 radius_m: float, decay: Decay | str = Decay.NONE,
                 sigma_m: float | None = None) -> FcaResult:
    """2SFCA / E2SFCA on the network (formula in the module docstring).

    ``demand_nodes`` / ``supply_nodes`` are node positions (snapped, none −1).
    """
    kind = Decay(decay)
    d_nodes = np.asarray(demand_nodes, dtype=np.int64).ravel()
    p = np.asarray(demand, dtype=np.float64).ravel()
    s_nodes = np.asarray(supply_nodes, dtype=np.int64).ravel()
    s = np.asarray(supply, dtype=np.float64).ravel()
    problems = []
    if d_nodes.shape != p.shape:
        problems.append(Problem("demand", "demand_nodes and demand differ in length"))
    if s_nodes.shape != s.shape:
        problems.append(Problem("supply", "supply_nodes and supply differ in length"))
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0):
        problems.append(Problem("demand", "demand must be finite and ≥ 0"))
    if s.size and (not np.all(np.isfinite(s)) or s.min() < 0):
        problems.append(Problem("supply", "capacity must be finite and ≥ 0",
                                hint="give 0 for unknown capacity or leave the facility out"))
    sigma = radius_m / 2.0 if sigma_m is None else float(sigma_m)
    if kind is Decay.GAUSSIAN and not sigma > 0:
        problems.append(Problem("sigma_m", f"the Gaussian width must be > 0, not {sigma}"))
    if problems:
        raise ValidationError(problems, summary="bad floating-catchment input")
    n = network.node_count
    population = np.bincount(d_nodes, weights=p, minlength=n).astype(np.float64)
    source, node, dist = catchments(network, s_nodes, radius_m=radius_m)
    # the catchments' costs are centimetres: the cap and the width in centimetres too
    result = fca_from_costs(origin=node, dest=source, cost=dist, demand=population, supply=s,
                            max_cost=radius_m * CM_PER_M, decay=kind,
                            sigma=sigma * CM_PER_M)
    return FcaResult(result.access[d_nodes], result.ratio, result.reached_demand)


def fca_from_costs(*, origin: npt.ArrayLike, dest: npt.ArrayLike, cost: npt.ArrayLike,
                   demand: npt.ArrayLike, supply: npt.ArrayLike, max_cost: float,
                   decay: Decay | str = Decay.NONE, sigma: float | None = None) -> FcaResult:
    """2SFCA / E2SFCA from a sparse cost table (the pure core, like PySAL's input).

    ``origin`` indexes ``demand`` and ``dest`` indexes ``supply``; pairs with cost above
    ``max_cost`` are ignored.  Returns A_i for every demand location (0 where no facility
    is in reach) and R_j for every facility (0 where no demand is in reach).  The table is
    read in the dtypes it comes in (int32 from :func:`catchments`, int64 from pandas):
    copying a million-row table to wider types would cost more than both steps.
    """
    kind = Decay(decay)
    o = _column(origin, "origin", integer=True)
    j = _column(dest, "dest", integer=True)
    c = _column(cost, "cost", integer=False)
    p = np.asarray(demand, dtype=np.float64).ravel()
    s = np.asarray(supply, dtype=np.float64).ravel()
    if not (o.shape == j.shape == c.shape):
        raise ValidationError([Problem("costs", "origin, dest and cost differ in length",
                                       hint=f"got {o.size}, {j.size} and {c.size} rows")])
    sigma_m = max_cost / 2.0 if sigma is None else float(sigma)
    scale = 1.0 / (2.0 * sigma_m * sigma_m)
    gaussian = kind is Decay.GAUSSIAN
    cap = float(max_cost)
    reached = np.zeros(s.size)
    bad, within = _reach(o, j, c, p, s.size, cap, gaussian, scale, reached)
    if bad >= 0:
        column, index, size, table = (("origin", o, p.size, "demand")
                                      if not 0 <= o[bad] < p.size else
                                      ("dest", j, s.size, "supply"))
        raise ValidationError([Problem(
            "costs", f"{column} {int(index[bad])} lies outside the {table} table "
            f"(0…{size - 1})", row=bad + 1, column=column,
            hint=f"{column} values are positions into {table}, counted from 0")])
    ratio = np.divide(s, reached, out=np.zeros(s.size), where=reached > 0)
    access = np.zeros(p.size)
    _spread(o, j, c, ratio, cap, gaussian, scale, within, access)
    return FcaResult(access, ratio, reached)


def _column(values: npt.ArrayLike, name: str, *, integer: bool) -> npt.NDArray[np.generic]:
    """One column of the cost table as a flat array, without copying when it is one."""
    array = np.ascontiguousarray(np.asarray(values).ravel())
    if array.size == 0:
        return array.astype(np.int64 if integer else np.float64)
    kinds = "iu" if integer else "iuf"
    if array.dtype.kind not in kinds:
        raise ValidationError([Problem("costs", f"{name} must be "
                                       f"{'whole numbers' if integer else 'numbers'}, "
                                       f"not {array.dtype}")])
    return array


# Pairs ahead whose demand entry is prefetched: the table's origins jump around a
# demand array larger than the L2 cache, so each pair would otherwise wait for memory
# (32 measured fastest of 8, 16, 32, 64 on a 1 M-node grid).
_AHEAD = 32
# Demand tables up to this many entries sit in the L2 cache: no prefetching needed.
_CACHED = 65_536


@njit(cache=True, nogil=True)
def _reach(  # noqa: PLR0917 (numba kernels take positional arrays)
        origin: npt.NDArray[np.generic], dest: npt.NDArray[np.generic],
        cost: npt.NDArray[np.generic], demand: FloatArray, n_supply: int, max_cost: float,
        gaussian: bool, scale: float, reached: FloatArray) -> tuple[int, bool]:
    """Step 1: Σ P_i W(d_ij) per facility, in pair order.

    Returns the first pair whose origin or dest is out of range (or −1), and whether
    every pair is within ``max_cost`` (then step 2 need not read the costs).  Both come
    from this pass because the table is read from memory, and reading it costs more than
    the arithmetic.  A run of pairs of one facility (catchment tables come grouped so)
    is summed in a register and added once: adding to ``reached[f]`` pair by pair would
    wait for the previous store each time.
    """
    n = cost.shape[0]
    n_demand = demand.shape[0]
    far = n_demand > _CACHED
    current = -1
    total = 0.0
    within = True
    for k in range(n):
        if far and k + _AHEAD < n:
            ahead = origin[k + _AHEAD]
            if 0 <= ahead < n_demand:
                prefetch(demand, ahead)
        i = origin[k]
        f = dest[k]
        if i < 0 or i >= n_demand or f < 0 or f >= n_supply:
            return k, within
        if f != current:
            if current >= 0:
                reached[current] += total
            current = f
            total = 0.0
        d = float(cost[k])  # unsigned or narrow integer costs would wrap in d * d
        if d <= max_cost:
            if gaussian:
                total += demand[i] * math.exp(-d * d * scale)
            else:
                total += demand[i]
        else:
            within = False
    if current >= 0:
        reached[current] += total
    return -1, within


@njit(cache=True, nogil=True)
def _spread(  # noqa: PLR0917 (numba kernels take positional arrays)
        origin: npt.NDArray[np.generic], dest: npt.NDArray[np.generic],
        cost: npt.NDArray[np.generic], ratio: FloatArray, max_cost: float, gaussian: bool,
        scale: float, within: bool, access: FloatArray) -> None:
    """Step 2: Σ R_j W(d_ij) per demand point, in pair order (indices checked in step 1).

    The weight is computed again rather than kept from step 1, which would need an array
    the size of the table; without decay and with every pair ``within`` the cap, the
    costs are not read at all.
    """
    n = origin.shape[0]
    far = access.shape[0] > _CACHED
    if within and not gaussian:
        for k in range(n):
            if far and k + _AHEAD < n:
                prefetch(access, origin[k + _AHEAD])
            access[origin[k]] += ratio[dest[k]]
        return
    for k in range(n):
        if far and k + _AHEAD < n:
            prefetch(access, origin[k + _AHEAD])
        d = float(cost[k])  # unsigned or narrow integer costs would wrap in d * d
        if d <= max_cost:
            if gaussian:
                access[origin[k]] += ratio[dest[k]] * math.exp(-d * d * scale)
            else:
                access[origin[k]] += ratio[dest[k]]


def fca_by_type(network: StreetNetwork, *, communities: pl.DataFrame,
                facilities: pl.DataFrame, catalog: Catalog, types: Sequence[str] | None = None,
                radius_m: float | None = None, decay: Decay | str = Decay.NONE,
                sigma_m: float | None = None, max_snap_m: float = 500.0) -> pl.DataFrame:
    """2SFCA / E2SFCA per facility type for communities (their representative points).

    communities  division_code, longitude, latitude and population columns (residents,
                 age_60_plus, age_0_2, age_3_5, age_6_14 …; a missing column counts 0)
    facilities   id, type_code, longitude, latitude, capacity (null → 0)
    The radius of a type is its tier's walking distance unless ``radius_m`` is given; the
    demand is the population group that needs it (:func:`demand_column`).  Returns one row
    per community and type: demand_column, demand, access, facilities_in_reach.
    """
    from shequ.access.lifecircle import snap_facilities

    for name, table, needed in (("communities", communities,
                                 ("division_code", "longitude", "latitude")),
                                ("facilities", facilities,
                                 ("id", "type_code", "longitude", "latitude", "capacity"))):
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise ValidationError([Problem(name, f"missing column(s) {', '.join(missing)}")])
    chosen = list(types) if types is not None else sorted(
        set(facilities["type_code"].to_list()) & set(catalog.facility_types))
    snapped = network.snap(communities["longitude"].cast(pl.Float64).to_numpy(),
                           communities["latitude"].cast(pl.Float64).to_numpy(),
                           max_distance_m=max_snap_m)
    ok = ~snapped.unsnapped
    located = snap_facilities(network, facilities, max_snap_m=max_snap_m, types=chosen)
    capacity = facilities["capacity"].cast(pl.Float64).fill_null(0.0).to_numpy()
    frames = []
    for index, type_code in enumerate(chosen):
        column = demand_column(catalog, type_code)
        people = (communities[column].cast(pl.Float64).fill_null(0.0).to_numpy()
                  if column in communities.columns else np.zeros(communities.height))
        ftype = catalog.facility_type(type_code)
        radius = radius_m if radius_m is not None else (
            catalog.tiers[ftype.tier].distance_m if ftype.tier in catalog.tiers else 1000.0)
        result = two_step_fca(
            network, demand_nodes=snapped.node[ok], demand=people[ok],
            supply_nodes=located.nodes[index], supply=capacity[located.rows[index]],
            radius_m=radius, decay=decay, sigma_m=sigma_m)
        access = np.zeros(communities.height)
        access[ok] = result.access
        frames.append(pl.DataFrame({
            "division_code": communities["division_code"].cast(pl.String),
            "facility_type": [type_code] * communities.height,
            "radius_m": [float(radius)] * communities.height,
            "demand_column": [column] * communities.height,
            "demand": people,
            "access": access,
            "snapped": ok,
        }))
    if not frames:
        return pl.DataFrame(schema={"division_code": pl.String, "facility_type": pl.String,
                                    "radius_m": pl.Float64, "demand_column": pl.String,
                                    "demand": pl.Float64, "access": pl.Float64,
                                    "snapped": pl.Boolean})
    return pl.concat(frames)


__all__ = ["DEMAND_BY_AREA", "DEMAND_BY_TYPE", "Decay", "FcaResult", "decay_weights",
           "demand_column", "fca_by_type", "fca_from_costs", "two_step_fca"]
