"""Covering models: location set covering (LSCP) and maximal covering (MCLP).

a_ij = 1 when d_ij ≤ r (the tier's walking distance), N_i = {j : a_ij = 1}.  Both
models are reduced before HiGHS sees them (identical demand rows merged, dominated
sites and implied rows dropped) and started from a heuristic cover.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import scipy.sparse as sp

from shequ.errors import Problem, ValidationError
from shequ.plan.exact.highs import (
    _INF,
    COVER_OPTIONS,
    DEFAULT_TIME_LIMIT_S,
    MAX_COVER_OPTIONS,
    PROOF_OPTIONS,
    _check_limits,
    _limit_rows,
    _open,
    _site_bounds,
    _solve_mip,
)
from shequ.plan.heuristic import search_cover
from shequ.plan.problem import (
    FloatArray,
    IntArray,
    SitingProblem,
    SitingSolution,
    covered_weight,
    site_cost_of,
)

# Local-search steps for the set-covering start: on 3,000 × 400 street grids the optimum
# appears within 10,000 steps (0.06 s); the rest is margin.
COVER_SEARCH_STEPS = 20_000


def _drop_dominated_rows(rows: sp.csr_matrix) -> sp.csr_matrix:
    """Covering rows whose site set contains another row's set are implied: drop them."""
    if rows.shape[0] > 20_000 or rows.nnz == 0:
        return rows
    binary = sp.csr_matrix((np.ones(rows.nnz), rows.indices, rows.indptr), shape=rows.shape)
    size = np.diff(binary.indptr)
    inter = (binary @ binary.T).tocoo()
    a, b = inter.row, inter.col
    # row b is implied by row a when set(a) ⊆ set(b); equal sets were merged already
    implied = (a != b) & (inter.data >= size[a]) & (size[a] < size[b])
    keep = np.ones(rows.shape[0], bool)
    keep[b[implied]] = False
    return sp.csr_matrix(rows[keep])


def solve_lscp(
    problem: SitingProblem,
    radius: float,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
    search_steps: int = COVER_SEARCH_STEPS,
) -> SitingSolution:
    """Location set covering: cover every demand point within ``radius`` at least cost.

    min Σ_j c_j x_j  s.t.  Σ_{j∈N_i} x_j ≥ 1 for every i with w_i > 0;  x_j ∈ {0, 1}.
    Reduced first: identical rows merged, rows implied by a smaller row dropped, sites
    whose set is inside a no dearer site's set dropped (:func:`_reduce_cover`).  Then
    the LP bound, and a cover from greedy + row-weighting local search
    (:func:`~shequ.plan.heuristic.search_cover`, ``search_steps`` steps).  When the
    costs are whole multiples of a step (site counts, whole currency units) the LP
    bound rounds up to one; a cover reaching it is optimal.  Otherwise HiGHS is asked
    for a cover at least one step cheaper: "infeasible" proves the search's cover
    optimal.  That question is far easier for HiGHS than the optimisation itself, whose
    time goes mostly into finding the optimum (3,000 × 400 street grid: 30 s → 6 s).
    Other costs: the MIP, warm-started with the search's cover.
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
    rows, _weights, kept = _reduce_cover(problem, cover, by_cost=True)
    rows = _drop_dominated_rows(rows)
    cost = problem.site_cost[kept].astype(np.float64)
    forced = problem.forced_open[kept]
    n_rows, lower, upper = rows.shape[0], forced.astype(np.float64), np.ones(kept.size)
    need_one, no_top = np.ones(n_rows), np.full(n_rows, _INF)
    binary = np.ones(kept.size, bool)
    lp = _solve_mip(cost, rows, need_one, no_top, lower, upper, ~binary, maximise=False,
                    time_limit=time_limit, mip_gap=mip_gap, seed=seed, threads=threads)
    step = _cost_step(cost[~forced & (cost > 0)])
    fixed_cost = float(cost[forced].sum())  # kept sites: a constant, whatever its value
    target = lp.objective
    if step:
        target = float(np.ceil((lp.objective - fixed_cost) / step - 1e-6) * step) + fixed_cost
    guess = search_cover(rows, cost, forced, seed=seed, steps=search_steps, target=target)
    guess_cost = float(cost[guess].sum())
    remaining = max(0.0, time_limit - (time.perf_counter() - start))
    status: Literal["optimal", "time_limit"] = "optimal"
    if guess_cost <= target + 1e-9 * max(1.0, abs(target)):
        chosen, bound = guess, max(target, lp.objective)
    elif step:
        # Costs are multiples of `step`: any cheaper cover costs ≤ guess − step, so ask
        # HiGHS for one; "infeasible" proves the local search's cover optimal.
        free_cost = np.where(forced, 0.0, cost) / step
        result = _solve_mip(cost, sp.vstack([rows, sp.csr_matrix(free_cost[None, :])],
                                            format="csr"),
                            np.append(need_one, -_INF),
                            np.append(no_top, round((guess_cost - fixed_cost) / step) - 1.0),
                            lower, upper,
                            binary, maximise=False, time_limit=remaining, mip_gap=mip_gap,
                            seed=seed, threads=threads, options=PROOF_OPTIONS,
                            allow_none=True)
        status = result.status
        if result.found:
            chosen, bound = result.values > 0.5, result.bound
        else:
            chosen = guess
            bound = guess_cost if status == "optimal" else min(guess_cost, result.bound)
    else:
        result = _solve_mip(cost, rows, need_one, no_top, lower, upper, binary,
                            maximise=False, time_limit=remaining, mip_gap=mip_gap, seed=seed,
                            threads=threads, start=guess.astype(np.float64),
                            options=COVER_OPTIONS)
        chosen, status, bound = result.values > 0.5, result.status, result.bound
    sites = kept[np.flatnonzero(chosen)]
    total = site_cost_of(problem, sites)
    return SitingSolution(
        "lscp", "highs", status, sites, total, min(bound, total),
        time.perf_counter() - start, "min",
        covered_weight=covered_weight(problem, sites, radius),
        total_weight=float(problem.weights.sum()), cost=total,
        details={"demand_rows": float(n_rows), "sites_kept": float(kept.size),
                 "lp_bound": lp.objective, "search_cost": guess_cost})


def _cost_step(costs: FloatArray) -> float:
    """The largest step every cost is a multiple of (their gcd), or 0 if not integers."""
    if costs.size == 0:
        return 1.0
    whole = np.round(costs)
    if np.any(np.abs(costs - whole) > 1e-9 * np.maximum(1.0, costs)) or whole.max() > 2**52:
        return 0.0
    return float(np.gcd.reduce(whole.astype(np.int64)))


def _reduce_cover(problem: SitingProblem, cover: sp.csr_matrix, *, by_cost: bool
                  ) -> tuple[sp.csr_matrix, FloatArray, IntArray]:
    """Shrink a covering model without changing its optimum.

    Demand points with the same set of covering sites become one point with the summed
    weight; a free site whose set is contained in another free site's set (at no lower
    cost when ``by_cost``) is dropped — swapping it for the larger one never loses cover.
    Returns (coverage of kept points × kept sites, their weights, kept site indices).
    """
    keep_rows = (problem.weights > 0) & (np.diff(cover.indptr) > 0)
    rows = sp.csr_matrix(cover[keep_rows])
    rows.sort_indices()
    weights = problem.weights[keep_rows]
    keys: dict[bytes, int] = {}
    group = np.empty(rows.shape[0], np.int64)
    for i in range(rows.shape[0]):
        key = rows.indices[rows.indptr[i]:rows.indptr[i + 1]].tobytes()
        group[i] = keys.setdefault(key, len(keys))
    first = np.unique(group, return_index=True)[1]
    merged = sp.csr_matrix(rows[first])
    merged_weights = np.bincount(group, weights=weights, minlength=first.size).astype(
        np.float64)
    sites = np.arange(problem.n_sites, dtype=np.int64)
    free = ~problem.forced_open
    if problem.n_sites <= 20_000 and merged.nnz:
        binary = sp.csr_matrix((np.ones(merged.nnz), merged.indices, merged.indptr),
                               shape=merged.shape)
        size = np.asarray(binary.sum(axis=0)).ravel()
        inter = (binary.T @ binary).tocoo()
        cost = problem.site_cost
        j, k = inter.row, inter.col
        subset = (j != k) & (inter.data >= size[j]) & free[j] & free[k]
        cheaper = cost[k] <= cost[j] if by_cost else np.ones(j.size, bool)
        # equal sets: drop the later (or dearer) one only
        equal = size[k] == size[j]
        tie_ok = ~equal | (cost[k] < cost[j]) | ((cost[k] == cost[j]) & (k < j)) if by_cost \
            else ~equal | (k < j)
        dominated = np.zeros(problem.n_sites, bool)
        dominated[j[subset & cheaper & tie_ok]] = True
        dominated[free & (size == 0)] = True
        sites = np.flatnonzero(~dominated).astype(np.int64)
    return sp.csr_matrix(merged[:, sites]), merged_weights, sites


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
    warm_start: bool = False,
) -> SitingSolution:
    """Maximal covering: cover the most weight within ``radius`` with p new sites or a budget.

    max Σ_i w_i y_i  s.t.  y_i ≤ Σ_{j∈N_i} x_j,  Σ_{j new} x_j ≤ p,  Σ_j c_j x_j ≤ B,
    0 ≤ y_i ≤ 1,  x_j ∈ {0, 1}  (y is integral at an optimum because w ≥ 0).

    Before HiGHS sees it the model is reduced (:func:`_reduce_cover`: identical demand
    rows merged, dominated sites dropped) and warm-started with the lazy-greedy + swap
    solution, whose value prunes the branch-and-bound tree from the first node.
    """
    start = time.perf_counter()
    _check_limits(problem, p, budget, required=True)
    cover = problem.coverage(radius)
    rows, weights, kept = _reduce_cover(problem, cover, by_cost=budget is not None)
    reduced = SitingProblem(
        sp.csr_matrix((np.zeros(rows.nnz), rows.indices, rows.indptr), shape=rows.shape),
        weights, problem.site_cost[kept], problem.existing[kept], problem.closable[kept])
    m, n_y = kept.size, rows.shape[0]
    limit_rows, limit_upper = _limit_rows(reduced, p, budget)
    blocks = [[-rows, sp.identity(n_y, format="csr")]]
    if limit_rows.shape[0]:
        blocks.append([limit_rows, None])
    matrix = sp.bmat(blocks, format="csr")
    row_lower = np.full(matrix.shape[0], -_INF)
    row_upper = np.concatenate([np.zeros(n_y), np.asarray(limit_upper, np.float64)])
    lower, upper = _site_bounds(reduced)
    initial = None
    if warm_start and not reduced.closable.any():
        from shequ.plan.heuristic import greedy_mclp

        guess = greedy_mclp(reduced, 0.0, p=p, budget=budget, seed=seed,
                            time_limit=min(5.0, time_limit / 4), bound_iterations=1)
        x = np.zeros(m)
        x[guess.open_sites] = 1.0
        y = np.minimum(1.0, rows @ x)
        initial = np.concatenate([x, (y > 0).astype(np.float64)])
    cost = np.concatenate([np.zeros(m), weights])
    result = _solve_mip(cost, matrix, row_lower, row_upper,
                        np.concatenate([lower, np.zeros(n_y)]),
                        np.concatenate([upper, np.ones(n_y)]),
                        np.concatenate([np.ones(m, bool), np.zeros(n_y, bool)]),
                        maximise=True, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
                        threads=threads, start=initial, options=MAX_COVER_OPTIONS)
    sites = kept[_open(result.values, m)]
    covered = covered_weight(problem, sites, radius)
    return SitingSolution(
        "mclp", "highs", result.status, sites, covered, max(result.bound, covered),
        time.perf_counter() - start, "max", covered_weight=covered,
        total_weight=float(problem.weights.sum()), cost=site_cost_of(problem, sites),
        details={"demand_rows": float(n_y), "sites_kept": float(m)})
