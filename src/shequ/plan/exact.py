"""Exact location models solved as mixed-integer programmes by HiGHS (``highspy``).

Every model takes a :class:`~shequ.plan.problem.SitingProblem`, a time limit and a
relative optimality gap, and returns a :class:`~shequ.plan.problem.SitingSolution` whose
``bound`` is HiGHS's proven dual bound, so the gap is reported even when the time limit
stops the search.  Matrices go to HiGHS in column-wise (CSC) form in one call; nothing is
built row by row in Python.

Notation: demand points i with weight w_i, sites j with cost c_j, x_j = 1 when site j is
open, a_ij = 1 when d_ij ≤ r (the tier's walking distance), N_i = {j : a_ij = 1}.
Existing sites are fixed open (x_j = 1) unless closable; ``p`` limits the number of
*new* sites (existing ones do not count), ``budget`` limits Σ_j c_j x_j.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import scipy.sparse as sp

from shequ.errors import Problem, SolverError, ValidationError
from shequ.plan.problem import (
    BoolArray,
    FloatArray,
    IntArray,
    SitingProblem,
    SitingSolution,
    covered_weight,
    site_cost_of,
    weighted_distance,
)

DEFAULT_TIME_LIMIT_S = 60.0
_INF = highspy.kHighsInf


@dataclass(frozen=True)
class _MipResult:
    values: FloatArray
    objective: float
    bound: float
    status: Literal["optimal", "time_limit"]


def _solve_mip(  # noqa: PLR0917 (the standard-form arrays of one MIP, in textbook order)
    cost: FloatArray,
    matrix: sp.spmatrix,
    row_lower: FloatArray,
    row_upper: FloatArray,
    col_lower: FloatArray,
    col_upper: FloatArray,
    integer: BoolArray,
    *,
    maximise: bool,
    time_limit: float,
    mip_gap: float,
    seed: int,
    threads: int | None,
) -> _MipResult:
    """Solve max/min cᵀx s.t. row_lower ≤ Ax ≤ row_upper, bounds, integrality."""
    csc = sp.csc_matrix(matrix)
    csc.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = int(cost.size)
    lp.num_row_ = int(row_lower.size)
    lp.col_cost_ = np.asarray(cost, np.float64)
    lp.col_lower_ = np.asarray(col_lower, np.float64)
    lp.col_upper_ = np.asarray(col_upper, np.float64)
    lp.row_lower_ = np.asarray(row_lower, np.float64)
    lp.row_upper_ = np.asarray(row_upper, np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(np.float64)
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    has_integers = bool(np.any(integer))
    if has_integers:
        lp.integrality_ = [highspy.HighsVarType.kInteger if flag
                           else highspy.HighsVarType.kContinuous for flag in integer]
    solver = highspy.Highs()  # type: ignore[no-untyped-call]
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", float(time_limit))
    solver.setOptionValue("mip_rel_gap", float(mip_gap))
    solver.setOptionValue("random_seed", int(seed))
    if threads is not None:
        solver.setOptionValue("threads", int(threads))
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    info = solver.getInfo()
    if status == highspy.HighsModelStatus.kOptimal:
        outcome: Literal["optimal", "time_limit"] = "optimal"
    elif status in (highspy.HighsModelStatus.kTimeLimit,
                    highspy.HighsModelStatus.kInterrupt) and info.primal_solution_status == 2:
        outcome = "time_limit"
    elif status in (highspy.HighsModelStatus.kInfeasible,
                    highspy.HighsModelStatus.kUnboundedOrInfeasible):
        raise SolverError("the model is infeasible: no set of sites meets every constraint; "
                          "raise the budget or p, add candidate sites, or allow closures")
    else:
        raise SolverError(f"HiGHS stopped with status {solver.modelStatusToString(status)} "
                          "and no feasible solution; give it more time (time_limit)")
    values = np.asarray(solver.getSolution().col_value, np.float64)
    objective = float(info.objective_function_value)
    bound = float(info.mip_dual_bound) if has_integers else objective
    if not np.isfinite(bound):
        bound = objective
    return _MipResult(values, objective, bound, outcome)


def _check_limits(problem: SitingProblem, p: int | None, budget: float | None,
                  *, required: bool) -> None:
    problems = []
    if required and p is None and budget is None:
        problems.append(Problem("p/budget", "neither p nor a budget was given",
                                hint="say how many new sites (p) or how much money (budget)"))
    if p is not None and p < 0:
        problems.append(Problem("p", f"p = {p} is negative"))
    if budget is not None and (not np.isfinite(budget) or budget < 0):
        problems.append(Problem("budget", f"budget {budget} is not a non-negative number"))
    forced_cost = float(problem.site_cost[problem.forced_open].sum())
    if budget is not None and forced_cost > budget + 1e-9:
        problems.append(Problem("budget", f"existing sites kept open already cost "
                                f"{forced_cost:g}, more than the budget {budget:g}",
                                hint="raise the budget or mark existing sites closable"))
    if problems:
        raise ValidationError(problems, summary="bad model limits")


def _site_bounds(problem: SitingProblem) -> tuple[FloatArray, FloatArray]:
    lower = problem.forced_open.astype(np.float64)
    upper = np.ones(problem.n_sites)
    return lower, upper


def _limit_rows(problem: SitingProblem, p: int | None, budget: float | None
                ) -> tuple[sp.csr_matrix, list[float]]:
    """Rows over the site columns: Σ_{new j} x_j ≤ p and Σ_j c_j x_j ≤ budget."""
    rows: list[FloatArray] = []
    upper: list[float] = []
    if p is not None:
        rows.append((~problem.existing).astype(np.float64))
        upper.append(float(p))
    if budget is not None:
        rows.append(problem.site_cost.astype(np.float64))
        upper.append(float(budget))
    if not rows:
        return sp.csr_matrix((0, problem.n_sites)), upper
    return sp.csr_matrix(np.vstack(rows)), upper


def _open(values: FloatArray, count: int) -> IntArray:
    return np.flatnonzero(values[:count] > 0.5).astype(np.int64)


def solve_lscp(
    problem: SitingProblem,
    radius: float,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
) -> SitingSolution:
    """Location set covering: cover every demand point within ``radius`` at least cost.

    min Σ_j c_j x_j  s.t.  Σ_{j∈N_i} x_j ≥ 1 for every i with w_i > 0;  x_j ∈ {0, 1}.
    """
    start = time.perf_counter()
    cover = problem.coverage(radius)
    need = problem.weights > 0
    reach = np.diff(cover.indptr) > 0
    stranded = np.flatnonzero(need & ~reach)
    if stranded.size:
        names = [problem.demand_ids[i] if problem.demand_ids else str(i) for i in stranded[:10]]
        raise ValidationError([Problem(
            "demand", f"{stranded.size} demand point(s) have no candidate site within "
            f"{radius:g} m, e.g. {', '.join(names)}",
            hint="add candidate sites near them or use the maximal covering model")])
    rows = cover[need]
    lower, upper = _site_bounds(problem)
    result = _solve_mip(problem.site_cost, rows, np.ones(rows.shape[0]),
                        np.full(rows.shape[0], _INF), lower, upper,
                        np.ones(problem.n_sites, bool), maximise=False,
                        time_limit=time_limit, mip_gap=mip_gap, seed=seed, threads=threads)
    sites = _open(result.values, problem.n_sites)
    cost = site_cost_of(problem, sites)
    return SitingSolution(
        "lscp", "highs", result.status, sites, cost, min(result.bound, cost),
        time.perf_counter() - start, "min",
        covered_weight=covered_weight(problem, sites, radius),
        total_weight=float(problem.weights.sum()), cost=cost)


def solve_mclp(
    problem: SitingProblem,
    radius: float,
    *,
    p: int | None = None,
    budget: float | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
) -> SitingSolution:
    """Maximal covering: cover the most weight within ``radius`` with p new sites or a budget.

    max Σ_i w_i y_i  s.t.  y_i ≤ Σ_{j∈N_i} x_j,  Σ_{j new} x_j ≤ p,  Σ_j c_j x_j ≤ B,
    0 ≤ y_i ≤ 1,  x_j ∈ {0, 1}  (y is integral at an optimum because w ≥ 0).
    """
    start = time.perf_counter()
    _check_limits(problem, p, budget, required=True)
    cover = problem.coverage(radius)
    keep = (problem.weights > 0) & (np.diff(cover.indptr) > 0)
    rows = cover[keep]
    n_y = rows.shape[0]
    limit_rows, limit_upper = _limit_rows(problem, p, budget)
    matrix = sp.bmat([[-rows, sp.identity(n_y, format="csr")],
                      [limit_rows, None]], format="csr") if limit_rows.shape[0] else \
        sp.hstack([-rows, sp.identity(n_y, format="csr")], format="csr")
    n_rows = matrix.shape[0]
    row_lower = np.full(n_rows, -_INF)
    row_upper = np.concatenate([np.zeros(n_y), np.asarray(limit_upper, np.float64)])
    lower, upper = _site_bounds(problem)
    cost = np.concatenate([np.zeros(problem.n_sites), problem.weights[keep]])
    result = _solve_mip(cost, matrix, row_lower, row_upper,
                        np.concatenate([lower, np.zeros(n_y)]),
                        np.concatenate([upper, np.ones(n_y)]),
                        np.concatenate([np.ones(problem.n_sites, bool), np.zeros(n_y, bool)]),
                        maximise=True, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
                        threads=threads)
    sites = _open(result.values, problem.n_sites)
    covered = covered_weight(problem, sites, radius)
    return SitingSolution(
        "mclp", "highs", result.status, sites, covered, max(result.bound, covered),
        time.perf_counter() - start, "max", covered_weight=covered,
        total_weight=float(problem.weights.sum()), cost=site_cost_of(problem, sites))


def _sorted_rows(problem: SitingProblem) -> tuple[IntArray, FloatArray, IntArray]:
    """Per demand row, its entries sorted by distance: (indptr, distances, sites)."""
    table = problem.distances
    rows = np.repeat(np.arange(problem.n_demand), np.diff(table.indptr))
    order = np.lexsort((table.indices, table.data, rows))
    return (table.indptr.astype(np.int64), table.data[order],
            table.indices[order].astype(np.int64))


def solve_pmedian(  # noqa: PLR0915 (one neighbourhood-growth loop, clearer whole)
    problem: SitingProblem,
    *,
    p: int | None = None,
    budget: float | None = None,
    unserved_distance: float | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
    initial_neighbours: int = 8,
) -> SitingSolution:
    """p-median: least total population-weighted walking distance with p sites or a budget.

    min Σ_i w_i (Σ_j d_ij z_ij + U u_i)  s.t.  Σ_j z_ij + u_i = 1,  z_ij ≤ x_j,
    Σ_{j new} x_j ≤ p,  Σ_j c_j x_j ≤ B,  x binary,  z, u ≥ 0;  u exists only when an
    ``unserved_distance`` U is given (otherwise every demand point must be served).

    Solved exactly by neighbourhood growth: demand point i first sees only its K_i
    nearest sites and a variable "served farther away" that costs the (K_i+1)-th distance.
    That is a relaxation (it never costs more than the truth), so its optimum is a lower
    bound; when the true cost of its sites equals it, they are optimal.  Otherwise K_i
    doubles for the points that went farther and the model is solved again.
    """
    start = time.perf_counter()
    _check_limits(problem, p, budget, required=True)
    indptr, dist, sites_sorted = _sorted_rows(problem)
    length = np.diff(indptr)
    weights = problem.weights
    active = weights > 0
    if unserved_distance is None:
        stranded = np.flatnonzero(active & (length == 0))
        if stranded.size:
            raise ValidationError([Problem(
                "demand", f"{stranded.size} demand point(s) reach no site",
                hint="give unserved_distance, or add pairs to the distance table")])
    k = np.minimum(length, initial_neighbours)
    lower, upper = _site_bounds(problem)
    limit_rows, limit_upper = _limit_rows(problem, p, budget)
    m = problem.n_sites
    deadline = start + time_limit
    big = unserved_distance
    for _round in range(64):
        demand_idx = np.flatnonzero(active)
        counts = k[demand_idx]
        pair_demand = np.repeat(demand_idx, counts)
        offsets = np.arange(pair_demand.size) - np.repeat(np.cumsum(counts) - counts, counts)
        pair_pos = indptr[pair_demand] + offsets
        pair_site = sites_sorted[pair_pos]
        pair_cost = weights[pair_demand] * dist[pair_pos]
        # "served farther away": the next distance in the row, or U when the row is used up
        more = k[demand_idx] < length[demand_idx]
        far_cost = np.full(demand_idx.size, np.nan)
        far_cost[more] = dist[indptr[demand_idx[more]] + k[demand_idx[more]]]
        if big is not None:
            far_cost[~more] = big
        has_far = ~np.isnan(far_cost)
        far_demand = demand_idx[has_far]
        far_cost_w = weights[far_demand] * far_cost[has_far]
        n_z, n_u, n_d = pair_demand.size, far_demand.size, demand_idx.size
        position = np.full(problem.n_demand, -1, np.int64)
        position[demand_idx] = np.arange(n_d)
        # Columns: x (m) | z (n_z) | u (n_u).  Rows: assignment (n_d) | z ≤ x (n_z) | limits.
        assign = sp.csr_matrix(
            (np.ones(n_z + n_u),
             (np.concatenate([position[pair_demand], position[far_demand]]),
              np.concatenate([m + np.arange(n_z), m + n_z + np.arange(n_u)]))),
            shape=(n_d, m + n_z + n_u))
        link = sp.csr_matrix(
            (np.concatenate([np.ones(n_z), -np.ones(n_z)]),
             (np.concatenate([np.arange(n_z), np.arange(n_z)]),
              np.concatenate([m + np.arange(n_z), pair_site]))),
            shape=(n_z, m + n_z + n_u))
        limits = sp.hstack([limit_rows, sp.csr_matrix((limit_rows.shape[0], n_z + n_u))])
        matrix = sp.vstack([assign, link, limits], format="csr")
        row_lower = np.concatenate([np.ones(n_d), np.full(n_z, -_INF),
                                    np.full(len(limit_upper), -_INF)])
        row_upper = np.concatenate([np.ones(n_d), np.zeros(n_z), limit_upper])
        cost = np.concatenate([np.zeros(m), pair_cost, far_cost_w])
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise SolverError("p-median: the time limit ran out before a solution was found; "
                              "raise time_limit or use the heuristic")
        result = _solve_mip(cost, matrix, row_lower, row_upper,
                            np.concatenate([lower, np.zeros(n_z + n_u)]),
                            np.concatenate([upper, np.ones(n_z + n_u)]),
                            np.concatenate([np.ones(m, bool), np.zeros(n_z + n_u, bool)]),
                            maximise=False, time_limit=remaining, mip_gap=mip_gap,
                            seed=seed, threads=threads)
        chosen = _open(result.values, m)
        true_cost = weighted_distance(problem, chosen, big)
        went_far = np.zeros(problem.n_demand, bool)
        went_far[far_demand] = result.values[m + n_z:] > 1e-6
        grow = went_far & (k < length)
        tolerance = 1e-7 * max(1.0, abs(true_cost))
        if true_cost <= result.objective + tolerance or not grow.any():
            status = result.status
            break
        k[grow] = np.minimum(length[grow], np.maximum(2 * k[grow], k[grow] + 8))
    else:  # pragma: no cover - 64 doublings exceed any table
        status = "time_limit"
    if not np.isfinite(true_cost):
        raise SolverError("p-median: some demand point reaches no open site; give "
                          "unserved_distance or a larger p/budget")
    return SitingSolution(
        "pmedian", "highs", status, chosen, true_cost, min(result.bound, true_cost),
        time.perf_counter() - start, "min", total_weight=float(weights.sum()),
        cost=site_cost_of(problem, chosen), details={"rounds": float(_round + 1)})


def solve_capacitated(
    problem: SitingProblem,
    radius: float,
    *,
    objective: Literal["max_cover", "min_cost"] = "max_cover",
    p: int | None = None,
    budget: float | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
) -> SitingSolution:
    """Capacitated covering: demand is served within ``radius`` only by a site with room.

    z_ij ∈ [0, 1] is the share of demand point i served by site j (d_ij ≤ r);
    Σ_i w_i z_ij ≤ Q_j x_j (places, beds, seats), Σ_j z_ij ≤ 1.
    ``max_cover``: max Σ_ij w_i z_ij with p or a budget (capacitated MCLP).
    ``min_cost``:  min Σ_j c_j x_j with Σ_j z_ij = 1 for every i (capacitated LSCP).
    A demand point's people may be split between sites (no single sourcing).
    """
    start = time.perf_counter()
    if problem.capacity is None:
        raise ValidationError([Problem("capacity", "the capacitated model needs a capacity "
                                       "per site", hint="give capacity= to SitingProblem")])
    _check_limits(problem, p, budget, required=objective == "max_cover")
    cover = problem.coverage(radius).tocoo()
    w = problem.weights
    keep = w[cover.row] > 0
    pair_i, pair_j = cover.row[keep].astype(np.int64), cover.col[keep].astype(np.int64)
    m, n_z = problem.n_sites, pair_i.size
    demand_idx = np.flatnonzero(w > 0)
    position = np.full(problem.n_demand, -1, np.int64)
    position[demand_idx] = np.arange(demand_idx.size)
    n_d = demand_idx.size
    if objective == "min_cost":
        stranded = np.setdiff1d(demand_idx, pair_i)
        if stranded.size:
            raise ValidationError([Problem(
                "demand", f"{stranded.size} demand point(s) have no site within {radius:g} m",
                hint="add candidate sites or use objective='max_cover'")])
    assign = sp.csr_matrix((np.ones(n_z), (position[pair_i], m + np.arange(n_z))),
                           shape=(n_d, m + n_z))
    capacity_rows = sp.csr_matrix(
        (np.concatenate([w[pair_i], -problem.capacity]),
         (np.concatenate([pair_j, np.arange(m)]), np.concatenate([m + np.arange(n_z),
                                                                 np.arange(m)]))),
        shape=(m, m + n_z))
    limit_rows, limit_upper = _limit_rows(problem, p, budget)
    limits = sp.hstack([limit_rows, sp.csr_matrix((limit_rows.shape[0], n_z))])
    matrix = sp.vstack([assign, capacity_rows, limits], format="csr")
    served_lower = np.ones(n_d) if objective == "min_cost" else np.full(n_d, -_INF)
    row_lower = np.concatenate([served_lower, np.full(m + len(limit_upper), -_INF)])
    row_upper = np.concatenate([np.ones(n_d), np.zeros(m), limit_upper])
    lower, upper = _site_bounds(problem)
    if objective == "max_cover":
        cost = np.concatenate([np.zeros(m), w[pair_i]])
    else:
        cost = np.concatenate([problem.site_cost, np.zeros(n_z)])
    result = _solve_mip(cost, matrix, row_lower, row_upper,
                        np.concatenate([lower, np.zeros(n_z)]),
                        np.concatenate([upper, np.ones(n_z)]),
                        np.concatenate([np.ones(m, bool), np.zeros(n_z, bool)]),
                        maximise=objective == "max_cover", time_limit=time_limit,
                        mip_gap=mip_gap, seed=seed, threads=threads)
    sites = _open(result.values, m)
    served = float(np.sum(w[pair_i] * result.values[m:]))
    spent = site_cost_of(problem, sites)
    value = served if objective == "max_cover" else spent
    bound = max(result.bound, value) if objective == "max_cover" else min(result.bound, value)
    return SitingSolution(
        f"capacitated_{objective}", "highs", result.status, sites, value, bound,
        time.perf_counter() - start, "max" if objective == "max_cover" else "min",
        covered_weight=served, total_weight=float(w.sum()), cost=spent)


@dataclass(frozen=True)
class ComplexProblem:
    """Several facility types at once, where one site can host a service complex.

    ``coverage[t]`` is the 0/1 demand × site matrix of type t (its own walking distance);
    ``weights[:, t]`` the people needing type t; opening site j costs ``site_cost[j]``
    once (a new build or reused public space) and hosting type t there ``type_cost[j, t]``.
    """

    coverage: tuple[sp.csr_matrix, ...]
    weights: FloatArray
    site_cost: FloatArray
    type_cost: FloatArray
    can_host: BoolArray
    existing: BoolArray
    type_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComplexSolution:
    """Which types each opened site hosts, the people covered and the proven bound."""

    status: Literal["optimal", "time_limit"]
    hosted: tuple[tuple[int, int], ...]
    open_sites: IntArray
    objective: float
    bound: float
    cost: float
    seconds: float

    @property
    def gap(self) -> float:
        """Relative distance between objective and proven bound."""
        return abs(self.bound - self.objective) / max(abs(self.objective), 1e-9)


def solve_complex_mclp(
    problem: ComplexProblem,
    *,
    budget: float,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
) -> ComplexSolution:
    """Multi-type maximal covering with shared site costs (service complexes).

    max Σ_t Σ_i w_it y_it  s.t.  y_it ≤ Σ_j a^t_ij h_jt,  h_jt ≤ o_j,
    Σ_j f_j o_j + Σ_jt c_jt h_jt ≤ B,  h_jt = 0 where j cannot host t,
    h_jt = o_j = 1 where type t already exists at j;  h, o binary, 0 ≤ y ≤ 1.
    """
    start = time.perf_counter()
    m, n_types = problem.can_host.shape
    if len(problem.coverage) != n_types or problem.weights.shape[1] != n_types:
        raise ValidationError([Problem("coverage/weights", "need one coverage matrix and one "
                                       "weight column per facility type")])
    n = problem.weights.shape[0]
    # Columns: o (m) | h (m·T, index m + j·T + t) | y (n·T, index m + m·T + i·T + t).
    n_cols = m + m * n_types + n * n_types
    rows_i: list[IntArray] = []
    cols_i: list[IntArray] = []
    vals: list[FloatArray] = []
    row = 0
    for t in range(n_types):
        cov = problem.coverage[t].tocoo()
        rows_i.append(row + cov.row.astype(np.int64))
        cols_i.append(m + cov.col.astype(np.int64) * n_types + t)
        vals.append(-np.ones(cov.nnz))
        rows_i.append(row + np.arange(n))
        cols_i.append(m + m * n_types + np.arange(n) * n_types + t)
        vals.append(np.ones(n))
        row += n
    link_rows = row + np.arange(m * n_types)
    rows_i += [link_rows, link_rows]
    cols_i += [m + np.arange(m * n_types), np.repeat(np.arange(m), n_types)]
    vals += [np.ones(m * n_types), -np.ones(m * n_types)]
    row += m * n_types
    rows_i += [np.full(m, row), np.full(m * n_types, row)]
    cols_i += [np.arange(m), m + np.arange(m * n_types)]
    vals += [problem.site_cost.astype(np.float64), problem.type_cost.reshape(-1)]
    row += 1
    matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows_i),
                                                   np.concatenate(cols_i))),
                           shape=(row, n_cols))
    row_upper = np.concatenate([np.zeros(row - 1), [float(budget)]])
    existing_site = problem.existing.any(axis=1)
    col_lower = np.concatenate([existing_site.astype(float), problem.existing.reshape(-1)
                                .astype(float), np.zeros(n * n_types)])
    col_upper = np.concatenate([np.ones(m), (problem.can_host | problem.existing).reshape(-1)
                                .astype(float), np.ones(n * n_types)])
    cost = np.concatenate([np.zeros(m + m * n_types), problem.weights.reshape(-1)])
    integer = np.concatenate([np.ones(m + m * n_types, bool), np.zeros(n * n_types, bool)])
    result = _solve_mip(cost, matrix, np.full(row, -_INF), row_upper, col_lower, col_upper,
                        integer, maximise=True, time_limit=time_limit, mip_gap=mip_gap,
                        seed=seed, threads=threads)
    host = result.values[m:m + m * n_types].reshape(m, n_types) > 0.5
    opened = result.values[:m] > 0.5
    hosted = tuple((int(j), int(t)) for j, t in zip(*np.nonzero(host), strict=True))
    value = complex_coverage(problem, host)
    spent = float(problem.site_cost[opened].sum() + problem.type_cost[host].sum())
    return ComplexSolution(result.status, hosted, np.flatnonzero(opened).astype(np.int64),
                           value, max(result.bound, value), spent,
                           time.perf_counter() - start)


def complex_coverage(problem: ComplexProblem, host: BoolArray) -> float:
    """Σ_t Σ_i w_it · [some site hosting t covers i]: the multi-type objective."""
    total = 0.0
    for t, cov in enumerate(problem.coverage):
        hit = cov @ host[:, t].astype(np.float64)
        total += float(problem.weights[hit > 0, t].sum())
    return total
