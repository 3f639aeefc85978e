"""p-median by chained distance levels (Elloumi 2010), grown lazily from the LP.

See :func:`solve_pmedian` for the formulation and the proof of optimality.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import scipy.sparse as sp

from shequ.errors import Problem, SolverError, ValidationError
from shequ.plan.exact.highs import (
    _INF,
    COVER_OPTIONS,
    DEFAULT_TIME_LIMIT_S,
    _check_limits,
    _highs,
    _limit_rows,
    _MipResult,
    _open,
    _site_bounds,
    _solve_mip,
)
from shequ.plan.problem import (
    BoolArray,
    FloatArray,
    IntArray,
    SitingProblem,
    SitingSolution,
    site_cost_of,
    weighted_distance,
)


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
