"""Siting problems over sparse (demand, site, distance) tables, and their solutions.

A :class:`SitingProblem` holds what every location model needs: demand points with the
weight (population) that needs the service, candidate sites with the cost of opening
them (a new build and the reuse of existing public space cost differently), which sites
already exist (kept, optionally closable), optional capacities, and a sparse table of
walking distances between them.  A pair missing from the table is out of reach.

The table is a ``scipy.sparse`` CSR matrix (demand × site) whose *explicit* entries are
the reachable pairs; a distance of 0 is an explicit entry, not a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shequ.errors import Problem, ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SiteKind = Literal["new", "reuse", "existing"]


def _as_float(values: npt.ArrayLike, size: int, name: str, problems: list[Problem]) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size != size:
        problems.append(Problem(name, f"has {array.size} values, expected {size}"))
        return np.zeros(size)
    if not np.all(np.isfinite(array)):
        problems.append(Problem(name, "contains NaN or infinite values",
                                hint="give a finite number for every entry"))
    elif np.any(array < 0):
        problems.append(Problem(name, f"contains {int(np.sum(array < 0))} negative value(s)",
                                hint="weights, costs, capacities and distances are ≥ 0"))
    return array


@dataclass(frozen=True)
class SitingProblem:
    """Demand points, candidate sites and the walking distances between them.

    Attributes
    ----------
    distances
        CSR matrix, shape (demand points, sites); explicit entries are reachable pairs.
    weights
        Population (or another need) at each demand point.
    site_cost
        Cost of having each site open in the plan (0 for an existing site kept as is;
        default 1 per new site, so that set covering counts sites).
    existing
        Sites open today; kept open unless also ``closable``.
    closable
        Existing sites the model may close, saving their ``site_cost``.
    capacity
        Places, beds or seats per site (capacitated models only), in weight units.
    """

    distances: sp.csr_matrix
    weights: FloatArray
    site_cost: FloatArray
    existing: BoolArray
    closable: BoolArray
    capacity: FloatArray | None = None
    demand_ids: tuple[str, ...] = ()
    site_ids: tuple[str, ...] = ()
    site_kind: tuple[str, ...] = ()
    _csc: list[sp.csc_matrix] = field(default_factory=list, repr=False, compare=False)

    @property
    def n_demand(self) -> int:
        """Number of demand points."""
        return int(self.distances.shape[0])

    @property
    def n_sites(self) -> int:
        """Number of candidate (and existing) sites."""
        return int(self.distances.shape[1])

    @property
    def forced_open(self) -> BoolArray:
        """Sites that must stay open: existing and not closable."""
        return self.existing & ~self.closable

    def csc(self) -> sp.csc_matrix:
        """The table by site (cached): column j lists the demand points site j reaches."""
        if not self._csc:
            self._csc.append(self.distances.tocsc())
        return self._csc[0]

    def coverage(self, radius: float) -> sp.csr_matrix:
        """Pairs within ``radius`` (inclusive) as a 0/1 CSR matrix with explicit ones."""
        table = self.distances
        keep = table.data <= radius
        rows = np.repeat(np.arange(self.n_demand), np.diff(table.indptr))[keep]
        cols = table.indices[keep]
        return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=table.shape)

    def within(self, radius: float) -> SitingProblem:
        """The same problem with only the pairs within ``radius`` kept."""
        table = self.distances
        keep = table.data <= radius
        rows = np.repeat(np.arange(self.n_demand), np.diff(table.indptr))[keep]
        matrix = sp.csr_matrix((table.data[keep], (rows, table.indices[keep])),
                               shape=table.shape)
        return SitingProblem(matrix, self.weights, self.site_cost, self.existing,
                             self.closable, self.capacity, self.demand_ids, self.site_ids,
                             self.site_kind)

    @classmethod
    def from_table(
        cls,
        demand: npt.ArrayLike,
        site: npt.ArrayLike,
        distance: npt.ArrayLike,
        *,
        weights: npt.ArrayLike,
        site_cost: npt.ArrayLike | None = None,
        existing: npt.ArrayLike | None = None,
        closable: npt.ArrayLike | None = None,
        capacity: npt.ArrayLike | None = None,
        n_demand: int | None = None,
        n_sites: int | None = None,
        demand_ids: tuple[str, ...] = (),
        site_ids: tuple[str, ...] = (),
        site_kind: tuple[str, ...] = (),
    ) -> SitingProblem:
        """Build a problem from a (demand index, site index, distance) table.

        Duplicate pairs keep their shortest distance.  Every input mistake is reported
        at once as a :class:`~shequ.errors.ValidationError`.
        """
        problems: list[Problem] = []
        rows = np.asarray(demand, dtype=np.int64).reshape(-1)
        cols = np.asarray(site, dtype=np.int64).reshape(-1)
        dist = np.asarray(distance, dtype=np.float64).reshape(-1)
        if not rows.size == cols.size == dist.size:
            raise ValidationError([Problem(
                "distance table", f"columns have different lengths ({rows.size}, "
                f"{cols.size}, {dist.size})", hint="give one demand, site and distance per pair")])
        weight_array = np.asarray(weights, dtype=np.float64).reshape(-1)
        n = int(n_demand if n_demand is not None else weight_array.size)
        if site_cost is not None:
            m_default = np.asarray(site_cost).reshape(-1).size
        else:
            m_default = int(cols.max()) + 1 if cols.size else 0
        m = int(n_sites if n_sites is not None else m_default)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            problems.append(Problem("distance table", f"demand index outside 0…{n - 1}"))
        if cols.size and (cols.min() < 0 or cols.max() >= m):
            problems.append(Problem("distance table", f"site index outside 0…{m - 1}"))
        if not np.all(np.isfinite(dist)) or np.any(dist < 0):
            problems.append(Problem("distance table", "distances must be finite and ≥ 0",
                                    hint="leave unreachable pairs out of the table"))
        w = _as_float(weight_array, n, "weights", problems)
        cap = None if capacity is None else _as_float(capacity, m, "capacity", problems)
        ex = np.zeros(m, bool) if existing is None else np.asarray(existing, bool).reshape(-1)
        cl = np.zeros(m, bool) if closable is None else np.asarray(closable, bool).reshape(-1)
        # Without costs every new site costs 1 (so LSCP minimises the number of new sites).
        default_cost = np.where(ex, 0.0, 1.0) if ex.size == m else np.ones(m)
        cost = _as_float(default_cost if site_cost is None else site_cost, m, "site_cost",
                         problems)
        if ex.size != m or cl.size != m:
            problems.append(Problem("existing/closable", f"need one flag per site ({m})"))
        elif np.any(cl & ~ex):
            problems.append(Problem("closable", "only existing sites can be closed",
                                    hint="mark the site existing or drop the closable flag"))
        for name, ids, size in (("demand_ids", demand_ids, n), ("site_ids", site_ids, m),
                                ("site_kind", site_kind, m)):
            if ids and len(ids) != size:
                problems.append(Problem(name, f"has {len(ids)} entries, expected {size}"))
        if problems:
            raise ValidationError(problems, summary="the siting problem is malformed")
        matrix = _csr_keeping_shortest(rows, cols, dist, n, m)
        return cls(matrix, w, cost, ex, cl, cap, demand_ids, site_ids, site_kind)


def _csr_keeping_shortest(rows: IntArray, cols: IntArray, dist: FloatArray, n: int, m: int
                          ) -> sp.csr_matrix:
    """CSR with sorted columns per row; duplicate pairs keep their least distance.

    Fast path: rows already grouped in order (as generated row by row) → sort columns
    inside each row in C; the general path sorts by (row, col) key.
    """
    if rows.size == 0 or np.all(rows[1:] >= rows[:-1]):
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        # copies: sort_indices permutes the arrays in place
        matrix = sp.csr_matrix((dist.copy(), cols.astype(np.int32), indptr), shape=(n, m))
        matrix.has_sorted_indices = False
        matrix.sort_indices()
        same = np.diff(matrix.indices) == 0
        boundary = np.zeros(max(matrix.indices.size - 1, 0), bool)
        ends = matrix.indptr[1:-1] - 1
        boundary[ends[(ends >= 0) & (ends < boundary.size)]] = True
        if not np.any(same & ~boundary):
            return matrix
    key = rows * max(m, 1) + cols
    order = np.argsort(key, kind="stable")
    key, dist = key[order], dist[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    dist = np.minimum.reduceat(dist, starts)
    key = key[starts]
    rows, cols = key // max(m, 1), key % max(m, 1)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((dist, cols.astype(np.int32), indptr), shape=(n, m))


Status = Literal["optimal", "time_limit", "heuristic", "infeasible"]


@dataclass(frozen=True)
class SitingSolution:
    """The sites a model opens, its objective and how far from proven optimal it is.

    ``bound`` is a proven bound on the optimum (a lower bound when minimising, an upper
    bound when maximising); ``gap`` = |objective − bound| / max(|objective|, 1e-9).
    """

    model: str
    solver: str
    status: Status
    open_sites: IntArray
    objective: float
    bound: float
    seconds: float
    sense: Literal["min", "max"]
    covered_weight: float = 0.0
    total_weight: float = 0.0
    cost: float = 0.0
    assignment: IntArray | None = None
    details: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative distance between objective and proven bound (0 when optimal)."""
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)

    @property
    def new_sites(self) -> IntArray:
        """Alias for ``open_sites`` (kept for readability where only new ones matter)."""
        return self.open_sites


def site_cost_of(problem: SitingProblem, open_sites: IntArray) -> float:
    """Total cost of the open sites."""
    return float(problem.site_cost[open_sites].sum())


def covered_weight(problem: SitingProblem, open_sites: IntArray, radius: float) -> float:
    """Weight of demand points with an open site within ``radius``.

    Formula: Σ_i w_i · [∃ j ∈ S: d_ij ≤ radius].
    """
    mask = np.zeros(problem.n_sites, bool)
    mask[open_sites] = True
    table = problem.distances
    hit = (table.data <= radius) & mask[table.indices]
    rows = np.repeat(np.arange(problem.n_demand), np.diff(table.indptr))
    row_hit = np.bincount(rows[hit], minlength=problem.n_demand)
    return float(problem.weights[row_hit > 0].sum())


def weighted_distance(problem: SitingProblem, open_sites: IntArray,
                      unserved_distance: float | None) -> float:
    """Σ_i w_i · min(unserved, min_{j∈S} d_ij): the p-median objective of a site set.

    A demand point reaching no open site costs ``unserved_distance`` (infinite when None).
    """
    mask = np.zeros(problem.n_sites, bool)
    mask[open_sites] = True
    table = problem.distances
    big = np.inf if unserved_distance is None else float(unserved_distance)
    values = np.where(mask[table.indices], table.data, big)
    best = np.full(problem.n_demand, big)
    rows = np.repeat(np.arange(problem.n_demand), np.diff(table.indptr))
    np.minimum.at(best, rows, values)
    return float(np.sum(problem.weights * best))
