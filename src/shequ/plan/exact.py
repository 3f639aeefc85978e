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
from shequ.plan.heuristic import search_cover
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
# Covering models have tight LP bounds: a small cut pool and no sub-MIP heuristics at the
# root (the greedy warm start is the incumbent) halve HiGHS's time on 2,000 × 300 networks
# without changing the optimum (measured in bench/plan_bench.py).
COVER_OPTIONS: dict[str, bool | int | float | str] = {
    "mip_pool_soft_limit": 500,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
}
# Local-search steps for the set-covering start: on 3,000 × 400 street grids the optimum
# appears within 10,000 steps (0.06 s); the rest is margin.
COVER_SEARCH_STEPS = 20_000
# Maximal covering is closed at the root by cuts: light presolve and no feasibility jump
# (HiGHS's own first incumbent) take a third off (Helsinki 2,000 × 300: 0.75 → 0.51 s).
MAX_COVER_OPTIONS: dict[str, bool | int | float | str] = COVER_OPTIONS | {
    "presolve_mode": 2, "mip_heuristic_run_feasibility_jump": False}
# Proving that no cheaper cover exists gains from an even smaller cut pool (median 3.5 s
# instead of 5.9 s over five seeds on the 3,000 × 400 grid) and the same light start.
PROOF_OPTIONS: dict[str, bool | int | float | str] = MAX_COVER_OPTIONS | {
    "mip_pool_soft_limit": 100}
_INF = highspy.kHighsInf


@dataclass(frozen=True)
class _MipResult:
    """HiGHS's answer; ``found`` is False only when ``allow_none`` let it end without a
    solution: proven infeasible (status optimal) or out of time (status time_limit)."""

    values: FloatArray
    objective: float
    bound: float
    status: Literal["optimal", "time_limit"]
    found: bool = True


def _highs(  # noqa: PLR0917 (the standard-form arrays of one MIP, in textbook order)
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
    options: dict[str, bool | int | float | str] | None = None,
) -> highspy.Highs:
    """A HiGHS instance holding min/max cᵀx s.t. row_lower ≤ Ax ≤ row_upper, bounds,
    integrality, with Shequ's options set (quiet, time limit, gap, seed, threads)."""
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
    if np.any(integer):
        lp.integrality_ = [highspy.HighsVarType.kInteger if flag
                           else highspy.HighsVarType.kContinuous for flag in integer]
    solver = highspy.Highs()  # type: ignore[no-untyped-call]
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", float(time_limit))
    solver.setOptionValue("mip_rel_gap", float(mip_gap))
    solver.setOptionValue("random_seed", int(seed))
    if threads is not None:
        solver.setOptionValue("threads", int(threads))
    for name, value in (options or {}).items():
        solver.setOptionValue(name, value)
    solver.passModel(lp)
    return solver


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
    start: FloatArray | None = None,
    options: dict[str, bool | int | float | str] | None = None,
    allow_none: bool = False,
) -> _MipResult:
    """Solve max/min cᵀx s.t. row_lower ≤ Ax ≤ row_upper, bounds, integrality.

    ``start`` is a feasible point handed to HiGHS as its first incumbent.  With
    ``allow_none`` an infeasible model or a time limit without any solution is an
    answer (``found`` False) rather than an error: proofs of optimality ask for it.
    """
    solver = _highs(cost, matrix, row_lower, row_upper, col_lower, col_upper, integer,
                    maximise=maximise, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
                    threads=threads, options=options)
    has_integers = bool(np.any(integer))
    if start is not None:
        solver.setSolution(int(start.size), np.arange(start.size, dtype=np.int32),
                           np.asarray(start, np.float64))
    solver.run()
    status = solver.getModelStatus()
    info = solver.getInfo()
    if status == highspy.HighsModelStatus.kOptimal:
        outcome: Literal["optimal", "time_limit"] = "optimal"
    elif status in (highspy.HighsModelStatus.kTimeLimit,
                    highspy.HighsModelStatus.kInterrupt) and info.primal_solution_status == 2:
        outcome = "time_limit"
    elif allow_none and status == highspy.HighsModelStatus.kInfeasible:
        return _MipResult(np.zeros(0), _INF, _INF, "optimal", found=False)
    elif allow_none and status in (highspy.HighsModelStatus.kTimeLimit,
                                   highspy.HighsModelStatus.kInterrupt):
        bound = float(info.mip_dual_bound) if has_integers else -_INF
        return _MipResult(np.zeros(0), _INF, bound if np.isfinite(bound) else -_INF,
                          "time_limit", found=False)
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


@dataclass(frozen=True)
class _Levels:
    """Each demand point's reachable sites sorted by distance and grouped into levels.

    A level is one distinct distance: the sites at exactly that distance from the point.
    Per entry (a reachable pair, sorted by point, then distance): its ``row`` (demand
    point), ``dist``, ``sites``, ``level`` (0-based within the row) and ``head`` (first
    entry of its level); ``start`` delimits each point's entries, ``count`` its levels.
    """

    start: IntArray
    row: IntArray
    dist: FloatArray
    sites: IntArray
    level: IntArray
    head: BoolArray
    count: IntArray


def _levels(problem: SitingProblem, unserved: float | None) -> _Levels:
    """Sort every demand row by distance and number its distinct distances 0, 1, …

    Pairs at or beyond ``unserved`` are left out: going unserved costs no more.
    """
    table = problem.distances
    n = problem.n_demand
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(table.indptr))
    data = np.asarray(table.data, np.float64)
    sites = np.asarray(table.indices, np.int64)
    if unserved is not None:
        near = data < unserved
        rows, data, sites = rows[near], data[near], sites[near]
    order = np.lexsort((sites, data, rows))
    rows, data, sites = rows[order], data[order], sites[order]
    start = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=start[1:])
    head = np.ones(data.size, bool)
    head[1:] = (data[1:] != data[:-1]) | (rows[1:] != rows[:-1])
    running = np.cumsum(head) - 1
    filled = start[1:] > start[:-1]
    base = np.zeros(n, np.int64)
    base[filled] = running[start[:-1][filled]]
    level = running - base[rows]
    count = np.zeros(n, np.int64)
    count[filled] = level[start[1:][filled] - 1] + 1
    return _Levels(start, rows, data, sites, level, head, count)


def _served_level(levels: _Levels, open_mask: BoolArray) -> IntArray:
    """Per demand point, the level of its nearest open site (its level count if none)."""
    served = levels.count.copy()
    hit = open_mask[levels.sites]
    np.minimum.at(served, levels.row[hit], levels.level[hit])
    return served


def _sure_depth(problem: SitingProblem, levels: _Levels, p: int | None,
                budget: float | None, unserved: float | None
                ) -> tuple[IntArray, BoolArray]:
    """Per demand point, how many of its levels can matter, and is it surely served there.

    Without ``unserved`` every point must be served, by its last level at the latest.
    With p alone (no budget) some optimum keeps every existing site open and opens
    min(p, new sites) new ones, since opening a site never lengthens a walk.  Then a
    point is served by its nearest existing site or, at the latest, by its
    (new sites − p + 1)-th nearest new site; levels beyond that one never matter.
    """
    depth = levels.count.copy()
    sure = np.full(depth.size, unserved is None)
    if p is None or budget is not None or levels.dist.size == 0:
        return depth, sure
    existing = problem.existing[levels.sites]
    seen: IntArray = np.cumsum(~existing)
    # new sites among the point's entries so far (the running count minus the row's base)
    first = np.minimum(levels.start[:-1], levels.dist.size - 1)
    new_seen = seen - (seen - ~existing)[first][levels.row]
    needed = max(1, int((~problem.existing).sum()) - p + 1)
    certain = existing | (new_seen >= needed)
    np.minimum.at(depth, levels.row[certain], levels.level[certain] + 1)
    sure[levels.row[certain]] = True
    return depth, sure


@dataclass(frozen=True)
class _LevelModel:
    """The chained level model (see :func:`solve_pmedian`) over some levels per point.

    Columns: the sites, then one y per modelled level that may stay unreached.
    ``row_demand``/``row_level`` and ``y_demand``/``y_level`` name each row's and each
    y's level; ``tail[i]`` is the column of point i's deepest y when deeper levels were
    left out (−1 otherwise).
    """

    cost: FloatArray
    matrix: sp.csr_matrix
    row_lower: FloatArray
    row_demand: IntArray
    row_level: IntArray
    y_demand: IntArray
    y_level: IntArray
    tail: IntArray


def _level_model(levels: _Levels, weights: FloatArray, depth: IntArray, closed: BoolArray,
                 *, unserved: float | None, n_sites: int) -> _LevelModel:
    """Rows and columns of the chained level model over the first ``depth[i]`` levels.

    Point i gets ``depth[i]`` level rows (0 leaves it out).  When ``closed[i]`` its
    deepest modelled level must be reached (no y there); otherwise that level's y is
    charged the step to the next distance (or to ``unserved``) and any deeper steps are
    left out, which under-charges only points served deeper than modelled.
    """
    kept = levels.level < depth[levels.row]
    heads = np.flatnonzero(kept & levels.head)
    demand = levels.row[heads]
    level = levels.level[heads]
    deepest = level + 1 == depth[demand]
    has_y = ~(deepest & closed[demand])
    all_heads = np.flatnonzero(levels.head)
    following = all_heads[np.minimum(np.searchsorted(all_heads, heads) + 1,
                                     all_heads.size - 1)]
    at_end = level + 1 >= levels.count[demand]
    beyond = np.inf if unserved is None else float(unserved)
    step = np.where(at_end, beyond, levels.dist[following]) - levels.dist[heads]
    n_y = int(has_y.sum())
    y_column = np.full(heads.size, -1, np.int64)
    y_column[has_y] = n_sites + np.arange(n_y)
    members = np.flatnonzero(kept)
    member_row = (np.cumsum(kept & levels.head) - 1)[members]
    chained = np.flatnonzero(level > 0)  # the previous row is the same point's last level
    matrix = sp.csr_matrix(
        (np.concatenate([np.ones(members.size + n_y), -np.ones(chained.size)]),
         (np.concatenate([member_row, np.flatnonzero(has_y), chained]),
          np.concatenate([levels.sites[members], y_column[has_y], y_column[chained - 1]]))),
        shape=(heads.size, n_sites + n_y))
    tail = np.full(levels.count.size, -1, np.int64)
    cut = has_y & deepest & ~at_end
    tail[demand[cut]] = y_column[cut]
    return _LevelModel(np.concatenate([np.zeros(n_sites), (weights[demand] * step)[has_y]]),
                       matrix, np.where(level == 0, 1.0, 0.0), demand, level, demand[has_y],
                       level[has_y], tail)


def _with_limits(model: _LevelModel, limits: tuple[sp.csr_matrix, list[float]]
                 ) -> tuple[sp.csr_matrix, FloatArray, FloatArray]:
    """The level rows with the p / budget rows below: (matrix, row lower, row upper)."""
    limit_rows, limit_upper = limits
    n_rows, n_y = model.matrix.shape[0], model.matrix.shape[1] - limit_rows.shape[1]
    matrix = sp.vstack([model.matrix,
                        sp.hstack([limit_rows, sp.csr_matrix((limit_rows.shape[0], n_y))])],
                       format="csr")
    return (matrix, np.concatenate([model.row_lower, np.full(len(limit_upper), -_INF)]),
            np.concatenate([np.full(n_rows, _INF), limit_upper]))


def _solve_levels(model: _LevelModel, limits: tuple[sp.csr_matrix, list[float]],
                  lower: FloatArray, upper: FloatArray, *, integer: bool, time_limit: float,
                  mip_gap: float, seed: int, threads: int | None,
                  start: FloatArray | None = None) -> _MipResult:
    """The level model with the p / budget rows, as a MIP or (``integer=False``) its LP.

    y has no upper bound: y ≤ 1 holds at every optimum anyway, and the bound only adds
    degenerate pivots (HiGHS is a third faster without it).
    """
    matrix, row_lower, row_upper = _with_limits(model, limits)
    n_y = matrix.shape[1] - lower.size
    return _solve_mip(model.cost, matrix, row_lower, row_upper,
                      np.concatenate([lower, np.zeros(n_y)]),
                      np.concatenate([upper, np.full(n_y, _INF)]),
                      np.concatenate([np.full(lower.size, integer), np.zeros(n_y, bool)]),
                      maximise=False, time_limit=time_limit, mip_gap=mip_gap, seed=seed,
                      threads=threads, start=start, options=COVER_OPTIONS if integer else None)


class _GrowingLp:
    """The level model's LP, deepened in place: deeper levels are appended as rows and
    columns and HiGHS re-solves from the basis it has (dual simplex, warm)."""

    def __init__(self, levels: _Levels, weights: FloatArray, depth: IntArray, *,
                 sure: tuple[IntArray, BoolArray], unserved: float | None,
                 limits: tuple[sp.csr_matrix, list[float]],
                 bounds: tuple[FloatArray, FloatArray], seed: int,
                 threads: int | None) -> None:
        self.levels, self.weights, self.unserved = levels, weights, unserved
        self.sure_depth, self.surely_served = sure
        self.depth = depth.copy()
        self.n_sites = bounds[0].size
        model = self._model(self.depth)
        matrix, row_lower, row_upper = _with_limits(model, limits)
        n_y = matrix.shape[1] - self.n_sites
        self.solver = _highs(model.cost, matrix, row_lower, row_upper,
                             np.concatenate([bounds[0], np.zeros(n_y)]),
                             np.concatenate([bounds[1], np.full(n_y, _INF)]),
                             np.zeros(matrix.shape[1], bool), maximise=False,
                             time_limit=_INF, mip_gap=0.0, seed=seed, threads=threads)
        self.tail = model.tail.copy()
        self.n_cols = matrix.shape[1]

    def _model(self, depth: IntArray) -> _LevelModel:
        closed = self.surely_served & (depth == self.sure_depth)
        return _level_model(self.levels, self.weights, depth, closed,
                            unserved=self.unserved, n_sites=self.n_sites)

    def solve(self, time_limit: float) -> float | None:
        """The LP optimum (without the constant offset), or None if out of time."""
        self.solver.setOptionValue("time_limit", max(1e-3, float(time_limit)))
        self.solver.run()
        if self.solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(self.solver.getInfo().objective_function_value)

    def cut_short(self) -> BoolArray:
        """Points whose deepest modelled y is positive: the LP under-charges them."""
        values = np.asarray(self.solver.getSolution().col_value, np.float64)
        short = np.zeros(self.depth.size, bool)
        cut = self.tail >= 0
        short[cut] = values[self.tail[cut]] > 1e-6
        return short

    def raise_bound(self, target: float, deadline: float) -> float:
        """Solve, deepen where the LP under-charges and solve again, until its value
        reaches ``target`` or nothing is under-charged; returns the best value (a lower
        bound on the model without the offset), −inf if out of time at once."""
        best = -_INF
        while (value := self.solve(deadline - time.perf_counter())) is not None:
            best = max(best, value)
            short = self.cut_short()
            if value >= target - 1e-7 * max(1.0, abs(target)) or not short.any():
                break
            self.deepen(short)
        return best

    def deepen(self, grow: BoolArray) -> None:
        """Double the levels of the ``grow`` points (at least 8 more, up to their sure depth)."""
        old = self.depth
        new = old.copy()
        new[grow] = np.minimum(self.sure_depth[grow], np.maximum(2 * old[grow], old[grow] + 8))
        part = self._model(np.where(grow, new, 0))  # levels 0 … new − 1 of those points
        keep_rows = part.row_level >= old[part.row_demand]
        keep_y = part.y_level >= old[part.y_demand]
        n_new = int(keep_y.sum())
        y_columns = self.n_sites + np.arange(part.y_level.size)
        column = np.full(part.cost.size, -1, np.int64)
        column[:self.n_sites] = np.arange(self.n_sites)
        column[y_columns[keep_y]] = self.n_cols + np.arange(n_new)
        # the old deepest y now also feeds the first new level's chain row
        before = part.y_level == old[part.y_demand] - 1
        column[y_columns[before]] = self.tail[part.y_demand[before]]
        rows = sp.csr_matrix(part.matrix[np.flatnonzero(keep_rows)])
        self.solver.addCols(n_new, part.cost[y_columns[keep_y]], np.zeros(n_new),
                            np.full(n_new, _INF), 0, np.zeros(n_new, np.int32),
                            np.zeros(0, np.int32), np.zeros(0))
        self.solver.addRows(rows.shape[0], part.row_lower[keep_rows],
                            np.full(rows.shape[0], _INF), rows.nnz,
                            rows.indptr[:-1].astype(np.int32),
                            column[rows.indices].astype(np.int32), rows.data)
        self.n_cols += n_new
        self.tail[grow] = np.where(part.tail[grow] >= 0, column[part.tail[grow]], -1)
        self.depth = new


def solve_pmedian(  # noqa: PLR0915 (one level-growth loop, clearer whole)
    problem: SitingProblem,
    *,
    p: int | None = None,
    budget: float | None = None,
    unserved_distance: float | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    mip_gap: float = 0.0,
    seed: int = 0,
    threads: int | None = None,
    initial_neighbours: int | None = None,
) -> SitingSolution:
    """p-median: least total population-weighted walking distance with p sites or a budget.

    Formulation by distance levels (Elloumi 2010), chained: demand point i's distinct
    distances to the sites it reaches are D_i^0 < D_i^1 < … < D_i^L (then U, the cost of
    going unserved, when ``unserved_distance`` is given); X_ik = Σ_{j: d_ij = D_i^k} x_j
    counts the open sites at level k, and y_ik = 1 when nothing within D_i^k is open:

        min Σ_i w_i (D_i^0 + Σ_k (D_i^{k+1} − D_i^k) y_ik)
        s.t. y_i0 + X_i0 ≥ 1,   y_ik + X_ik ≥ y_i,k−1,   Σ_{j new} x_j ≤ p,  Σ_j c_j x_j ≤ B,
             x binary, y ≥ 0.

    Every step costs more than nothing, so y_ik = max(0, 1 − Σ_{l≤k} X_il) at an optimum
    and the chain has the LP bound of the nested rows y_ik + Σ_{l≤k} X_il ≥ 1 (and of
    the classic assignment model) with one site entry per pair instead of one per pair
    and deeper level.  Without U the last level has no y: the point must be served.
    With p alone, levels past the one where a point is surely served are dropped
    (:func:`_sure_depth`).  Levels are grown lazily: point i first gets K_i levels (by
    default 2 more than the level of the lazy-greedy + swap heuristic's site for it, at
    least 4; ``initial_neighbours`` fixes K_i).  Cutting the sum at K_i under-charges
    only points served beyond D_i^{K_i}, so the optimum is a lower bound.  First the
    LP alone (:class:`_GrowingLp`): K_i doubles (at least 8 more) wherever the deepest
    y_i is positive and HiGHS re-solves from its last basis, until the bound reaches the
    heuristic's cost — then that plan is optimal and no MIP is solved
    (``details["mip_rounds"]`` = 0) — or nothing is under-charged.  Then the MIP over
    those levels, warm-started with the heuristic's plan; when its sites' true cost
    equals its optimum they are optimal, else K_i grows where the deepest y_i is
    positive and it is solved again.
    """
    from shequ.plan.heuristic import greedy_pmedian

    start = time.perf_counter()
    _check_limits(problem, p, budget, required=True)
    big = unserved_distance
    levels = _levels(problem, big)
    weights = problem.weights
    if big is None:
        stranded = np.flatnonzero((weights > 0) & (levels.count == 0))
        if stranded.size:
            raise ValidationError([Problem(
                "demand", f"{stranded.size} demand point(s) reach no site",
                hint="give unserved_distance, or add pairs to the distance table")])
    active = (weights > 0) & (levels.count > 0)
    sure_depth, surely_served = _sure_depth(problem, levels, p, budget, big)
    sure_depth[~active] = 0
    longest = float(problem.distances.data.max(initial=1.0))
    guess = greedy_pmedian(problem, p=p, budget=budget,
                           unserved_distance=big if big is not None else 10.0 * longest + 1.0,
                           seed=seed, time_limit=min(10.0, time_limit / 4),
                           bound_iterations=1)
    guess_open = np.zeros(problem.n_sites, bool)
    guess_open[guess.open_sites] = True
    guess_level = _served_level(levels, guess_open)
    if initial_neighbours is None:
        depth = np.maximum(guess_level + 2, 4)
    else:
        depth = np.full(problem.n_demand, max(1, initial_neighbours), np.int64)
    depth = np.minimum(depth, sure_depth)
    lower, upper = _site_bounds(problem)
    limits = _limit_rows(problem, p, budget)
    m = problem.n_sites
    deadline = start + time_limit
    offset = float(np.sum(weights[active] * levels.dist[levels.start[:-1][active]]))
    if big is not None:
        offset += float(np.sum(weights[(weights > 0) & (levels.count == 0)]) * big)
    guess_cost = weighted_distance(problem, guess.open_sites, big)
    # The heuristic's Lagrangian bound holds (unserved at a penalty is a relaxation) when
    # it may keep every existing site open; closures under a budget can beat it.
    lower_bound = 0.0 if problem.closable.any() else max(0.0, guess.bound)
    if np.isfinite(guess_cost):
        # The LP bound is often already the heuristic's cost (p-median LPs are nearly
        # integral): that proves it optimal at a fraction of the MIP's time.  Until
        # then, levels are deepened where the LP under-charges, warm-started.
        lp = _GrowingLp(levels, weights, depth, sure=(sure_depth, surely_served),
                        unserved=big, limits=limits, bounds=(lower, upper), seed=seed,
                        threads=threads)
        lower_bound = max(lower_bound, lp.raise_bound(guess_cost - offset, deadline) + offset)
        if guess_cost <= lower_bound + 1e-7 * max(1.0, guess_cost):
            return _pmedian_solution(problem, guess.open_sites, guess_cost,
                                     bound=lower_bound, status="optimal", start=start,
                                     details={"mip_rounds": 0.0})
        depth = lp.depth
    best_sites, best_cost = guess.open_sites, guess_cost
    status: Literal["optimal", "time_limit"] = "time_limit"
    mip_rounds = 0
    while time.perf_counter() < deadline and mip_rounds < 64:
        model = _level_model(levels, weights, depth, surely_served & (depth == sure_depth),
                             unserved=big, n_sites=m)
        initial = np.concatenate([guess_open.astype(np.float64),
                                  (guess_level[model.y_demand] > model.y_level)
                                  .astype(np.float64)])
        result = _solve_levels(model, limits, lower, upper, integer=True,
                               time_limit=deadline - time.perf_counter(), mip_gap=mip_gap,
                               seed=seed, threads=threads, start=initial)
        mip_rounds += 1
        chosen = _open(result.values, m)
        true_cost = weighted_distance(problem, chosen, big)
        if true_cost < best_cost:
            best_sites, best_cost = chosen, true_cost
        lower_bound = max(lower_bound, result.bound + offset)
        cut = model.tail >= 0
        grow = np.zeros(problem.n_demand, bool)
        grow[cut] = result.values[model.tail[cut]] > 1e-6
        if true_cost <= result.objective + offset + 1e-7 * max(1.0, abs(true_cost)) \
                or not grow.any():
            status = result.status
            break
        depth[grow] = np.minimum(sure_depth[grow], np.maximum(2 * depth[grow], depth[grow] + 8))
    if not np.isfinite(best_cost):
        raise SolverError("p-median: no solution serving every demand point within the time "
                          "limit; give unserved_distance, a larger p/budget or more time")
    return _pmedian_solution(problem, best_sites, best_cost, bound=lower_bound,
                             status=status, start=start,
                             details={"mip_rounds": float(mip_rounds)})


def _pmedian_solution(problem: SitingProblem, sites: IntArray, cost: float, *, bound: float,
                      status: Literal["optimal", "time_limit"], start: float,
                      details: dict[str, float]) -> SitingSolution:
    """The p-median answer; the bound never claims more than the plan's own cost."""
    return SitingSolution(
        "pmedian", "highs", status, sites, cost, min(bound, cost),
        time.perf_counter() - start, "min", total_weight=float(problem.weights.sum()),
        cost=site_cost_of(problem, sites), details=details)


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
