# ruff: noqa: PLR0917  (Numba kernels and their drivers take the CSR/CSC arrays positionally)
"""Lazy-greedy construction, swap (interchange) local search and Lagrangian bounds.

For instances too large for the exact MIP (a million demand points, ten thousand
candidate sites), the models are solved in one framework: minimise the weighted
service cost

    F(S) = Σ_i w_i · min(U_i, min_{j∈S} d_ij)

over site sets S within p new sites or a budget.  Maximal covering is the case d_ij = 0
for pairs within the radius and U_i = 1 (F is the uncovered weight); p-median is the case
d_ij = walking distance and U_i = the cost of going unserved.  F is supermodular-
decreasing, so marginal gains only shrink as sites open: the greedy re-evaluates a site's
gain only when it reaches the top of the heap ("lazy greedy", Minoux 1978).  The swap
phase (Teitz–Bart interchange with the Whitaker/Resende–Werneck decomposition) closes
one site and opens another while that lowers F; every pass costs O(nnz + p·m).

The bound is Lagrangian: relaxing Σ_j z_ij + u_i = 1 with multipliers λ gives

    L(λ) = Σ_i λ_i + Σ_i min(0, w_i U_i − λ_i) + min_{S feasible} Σ_{j∈S} ρ_j,
    ρ_j  = Σ_i min(0, w_i d_ij − λ_i),

a lower bound on min F for every λ (the inner minimum is taken over the LP relaxation
of the p or budget constraint).  Starting from λ_i = w_i·cost_i(S_greedy) it equals the
classic submodular bound; subgradient steps then tighten it.  Set covering uses its own
Lagrangian L(u) = Σ_i u_i + Σ_j min(0, c_j − Σ_{i∈N_j} u_i).

All kernels are Numba-compiled and parallel over sites or demand points; each writes
only its own slot, so results do not depend on the thread schedule.
"""

from __future__ import annotations

import heapq
import time

import numba
import numpy as np
import scipy.sparse as sp

from shequ.errors import Problem, SolverError, ValidationError
from shequ.plan.problem import (
    BoolArray,
    FloatArray,
    SitingProblem,
    SitingSolution,
    covered_weight,
    site_cost_of,
)

_EPS = 1e-9

# ---------------------------------------------------------------------------- kernels


@numba.njit(parallel=True, cache=True)
def _gains(c_ptr, c_dem, c_d, w, d1, candidate):  # type: ignore[no-untyped-def]  # pragma: no cover
    """gain_k = Σ_{i∈col k} w_i · max(0, d1_i − d_ik) for every candidate k."""
    m = c_ptr.size - 1
    out = np.zeros(m)
    for k in numba.prange(m):
        if not candidate[k]:
            continue
        total = 0.0
        for e in range(c_ptr[k], c_ptr[k + 1]):
            diff = d1[c_dem[e]] - c_d[e]
            if diff > 0.0:
                total += w[c_dem[e]] * diff
        out[k] = total
    return out


@numba.njit(cache=True)
def _gain_one(k, c_ptr, c_dem, c_d, w, d1):  # type: ignore[no-untyped-def]  # pragma: no cover
    total = 0.0
    for e in range(c_ptr[k], c_ptr[k + 1]):
        diff = d1[c_dem[e]] - c_d[e]
        if diff > 0.0:
            total += w[c_dem[e]] * diff
    return total


@numba.njit(cache=True)
def _open_site(k, c_ptr, c_dem, c_d, d1):  # type: ignore[no-untyped-def]  # pragma: no cover
    for e in range(c_ptr[k], c_ptr[k + 1]):
        d1[c_dem[e]] = min(d1[c_dem[e]], c_d[e])


@numba.njit(parallel=True, cache=True)
def _nearest_two(r_ptr, r_site, r_d, pen, is_open):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Per demand point: nearest open cost d1 (or U), its site s1 (−1), second cost d2."""
    n = r_ptr.size - 1
    d1 = np.empty(n)
    d2 = np.empty(n)
    s1 = np.empty(n, np.int64)
    for i in numba.prange(n):
        best, second, site = pen[i], pen[i], -1
        for e in range(r_ptr[i], r_ptr[i + 1]):
            j = r_site[e]
            if is_open[j]:
                d = r_d[e]
                if d < best:
                    second = best
                    best = d
                    site = j
                elif d < second:
                    second = d
        d1[i], d2[i], s1[i] = best, second, site
    return d1, d2, s1


@numba.njit(parallel=True, cache=True)
def _best_swaps(  # type: ignore[no-untyped-def]  # pragma: no cover
    open_list, a_ptr, a_dem, r_ptr, r_site, r_d, w, d1, d2, gains, closed_ok, cost, slack
):
    """For each open site j, the closed site k whose swap lowers F most, and by how much.

    Δ(j→k) = gain_k − loss_j + extra_jk with loss_j = Σ_{i: s1_i=j} w_i (d2_i − d1_i) and
    extra_jk = Σ_{i: s1_i=j} w_i [max(0, d2_i − d_ik) − max(0, d1_i − d_ik)].
    """
    q_count = open_list.size
    m = gains.size
    best_delta = np.full(q_count, -np.inf)
    best_k = np.full(q_count, -1, np.int64)
    for q in numba.prange(q_count):
        j = open_list[q]
        extra = np.zeros(m)
        loss = 0.0
        for a in range(a_ptr[j], a_ptr[j + 1]):
            i = a_dem[a]
            loss += w[i] * (d2[i] - d1[i])
            for e in range(r_ptr[i], r_ptr[i + 1]):
                k = r_site[e]
                d = r_d[e]
                add = d2[i] - d
                if add > 0.0:
                    sub = d1[i] - d
                    extra[k] += w[i] * (add - (sub if sub > 0.0 else 0.0))
        limit = slack + cost[j]
        top, top_k = -np.inf, -1
        for k in range(m):
            if closed_ok[k] and cost[k] <= limit + 1e-9:
                delta = gains[k] - loss + extra[k]
                if delta > top:
                    top, top_k = delta, k
        best_delta[q], best_k[q] = top, top_k
    return best_delta, best_k


@numba.njit(parallel=True, cache=True)
def _rho(c_ptr, c_dem, c_d, w, lam):  # type: ignore[no-untyped-def]  # pragma: no cover
    """ρ_j = Σ_{i∈col j} min(0, w_i d_ij − λ_i)."""
    m = c_ptr.size - 1
    out = np.zeros(m)
    for k in numba.prange(m):
        total = 0.0
        for e in range(c_ptr[k], c_ptr[k + 1]):
            v = w[c_dem[e]] * c_d[e] - lam[c_dem[e]]
            if v < 0.0:
                total += v
        out[k] = total
    return out


@numba.njit(parallel=True, cache=True)
def _subgradient(r_ptr, r_site, r_d, w, pen, lam, x):  # type: ignore[no-untyped-def]  # pragma: no cover
    """s_i = 1 − [w_i U_i < λ_i] − Σ_j x_j [w_i d_ij < λ_i]."""
    n = r_ptr.size - 1
    s = np.empty(n)
    for i in numba.prange(n):
        value = 1.0
        if w[i] * pen[i] < lam[i]:
            value -= 1.0
        for e in range(r_ptr[i], r_ptr[i + 1]):
            xj = x[r_site[e]]
            if xj > 0.0 and w[i] * r_d[e] < lam[i]:
                value -= xj
        s[i] = value
    return s


@numba.njit(parallel=True, cache=True)
def _cover_counts(r_ptr, r_site, is_open):  # type: ignore[no-untyped-def]  # pragma: no cover
    n = r_ptr.size - 1
    out = np.zeros(n, np.int64)
    for i in numba.prange(n):
        c = 0
        for e in range(r_ptr[i], r_ptr[i + 1]):
            if is_open[r_site[e]]:
                c += 1
        out[i] = c
    return out


@numba.njit(parallel=True, cache=True)
def _column_sums(c_ptr, c_dem, u):  # type: ignore[no-untyped-def]  # pragma: no cover
    m = c_ptr.size - 1
    out = np.zeros(m)
    for k in numba.prange(m):
        total = 0.0
        for e in range(c_ptr[k], c_ptr[k + 1]):
            total += u[c_dem[e]]
        out[k] = total
    return out


@numba.njit(parallel=True, cache=True)
def _row_hits(r_ptr, r_site, x):  # type: ignore[no-untyped-def]  # pragma: no cover
    n = r_ptr.size - 1
    out = np.zeros(n)
    for i in numba.prange(n):
        total = 0.0
        for e in range(r_ptr[i], r_ptr[i + 1]):
            total += x[r_site[e]]
        out[i] = total
    return out


@numba.njit(cache=True)
def _pick_removal(in_cover, fixed, score, cost, stamp, tabu):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The open site whose closing loses the least weight per unit cost (oldest on ties),
    other than ``tabu`` unless that is the only one; −1 when nothing may close."""
    best, best_k = -np.inf, -1
    for k in range(in_cover.size):
        if in_cover[k] and not fixed[k] and k != tabu:
            value = score[k] / cost[k]
            if value > best or (value == best and stamp[k] < stamp[best_k]):
                best, best_k = value, k
    if best_k < 0 and tabu >= 0 and in_cover[tabu] and not fixed[tabu]:
        return tabu
    return best_k


@numba.njit(cache=True)
def _pick_opening(r, r_ptr, r_col, score, cost, stamp, free_again):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The site of row r newly covering most weight per unit cost, oldest on ties;
    only sites whose rows changed since they closed, unless there are none."""
    best, best_k, fallback, fallback_k = -np.inf, -1, -np.inf, -1
    for f in range(r_ptr[r], r_ptr[r + 1]):
        j = r_col[f]
        value = score[j] / cost[j]
        if value > fallback or (value == fallback and stamp[j] < stamp[fallback_k]):
            fallback, fallback_k = value, j
        if free_again[j] and (value > best or (value == best and stamp[j] < stamp[best_k])):
            best, best_k = value, j
    return best_k if best_k >= 0 else fallback_k


@numba.njit(cache=True)
def _cover_open(k, state, uncovered, slot, n_uncovered, r_ptr, r_col, c_ptr, c_row):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Open site k; keeps counts, scores and the uncovered list.  Returns #uncovered.

    ``state`` = (in_cover, count, weight, score, free_again); score[k] is the weight a
    closed site would newly cover, or minus the weight only an open site covers.
    """
    in_cover, count, weight, score, free_again = state
    in_cover[k] = True
    for e in range(c_ptr[k], c_ptr[k + 1]):
        r = c_row[e]
        count[r] += 1
        if count[r] == 1:  # newly covered: no closed site gains it any more
            for f in range(r_ptr[r], r_ptr[r + 1]):
                score[r_col[f]] -= weight[r]
                free_again[r_col[f]] = True
            last = uncovered[n_uncovered - 1]
            uncovered[slot[r]] = last
            slot[last] = slot[r]
            n_uncovered -= 1
        elif count[r] == 2:  # its former sole cover no longer holds it alone
            for f in range(r_ptr[r], r_ptr[r + 1]):
                j = r_col[f]
                if in_cover[j] and j != k:
                    score[j] += weight[r]
    total = 0.0
    for e in range(c_ptr[k], c_ptr[k + 1]):
        if count[c_row[e]] == 1:
            total -= weight[c_row[e]]
    score[k] = total
    return n_uncovered


@numba.njit(cache=True)
def _cover_close(k, state, uncovered, slot, n_uncovered, r_ptr, r_col, c_ptr, c_row):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Close site k (the counterpart of :func:`_cover_open`).  Returns #uncovered."""
    in_cover, count, weight, score, free_again = state
    in_cover[k] = False
    for e in range(c_ptr[k], c_ptr[k + 1]):
        r = c_row[e]
        count[r] -= 1
        if count[r] == 0:  # uncovered: every site in the row would gain it
            for f in range(r_ptr[r], r_ptr[r + 1]):
                score[r_col[f]] += weight[r]
                free_again[r_col[f]] = True
            uncovered[n_uncovered] = r
            slot[r] = n_uncovered
            n_uncovered += 1
        elif count[r] == 1:  # the one left covering it now holds it alone
            for f in range(r_ptr[r], r_ptr[r + 1]):
                if in_cover[r_col[f]]:
                    score[r_col[f]] -= weight[r]
    total = 0.0
    for e in range(c_ptr[k], c_ptr[k + 1]):
        if count[c_row[e]] == 0:
            total += weight[c_row[e]]
    score[k] = total
    free_again[k] = False
    return n_uncovered


@numba.njit(cache=True)
def _cover_walk(r_ptr, r_col, c_ptr, c_row, cost, fixed, seed, max_steps, target):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Greedy cover, then row-weighting local search (after Gao et al. 2015).

    Each step closes the open sites losing least until a cheaper cover than the best is
    within reach, opens the best site of a random uncovered row and adds 1 to the
    weight of every row still uncovered, so rows that stay uncovered pull harder.
    Whenever every row is covered the cover is kept if cheapest so far and its least
    useful site closed.  Stops after ``max_steps`` or at
    a cover costing ≤ ``target`` (a proven lower bound).  Deterministic for a seed.
    """
    np.random.seed(seed)
    n, m = r_ptr.size - 1, c_ptr.size - 1
    in_cover = np.zeros(m, np.bool_)
    weight = np.ones(n)
    score = (c_ptr[1:] - c_ptr[:-1]).astype(np.float64)
    state = (in_cover, np.zeros(n, np.int64), weight, score, np.ones(m, np.bool_))
    stamp = np.zeros(m, np.int64)
    uncovered, slot, n_uncovered = np.arange(n), np.arange(n), n
    graph = (r_ptr, r_col, c_ptr, c_row)
    for j in np.flatnonzero(fixed):
        n_uncovered = _cover_open(j, state, uncovered, slot, n_uncovered, *graph)
    while n_uncovered > 0:  # greedy: most new rows per unit cost
        k = np.argmax(np.where(in_cover, -1.0, score / cost))
        n_uncovered = _cover_open(k, state, uncovered, slot, n_uncovered, *graph)
    current = float(cost[in_cover].sum())
    cheapest = np.min(np.where(fixed, np.inf, cost))  # the least a free site adds
    best_cover, best_cost, tabu = in_cover.copy(), np.inf, -1
    for step in range(1, max_steps + 1):
        while n_uncovered == 0:
            keep = tabu  # a cover no cheaper than the best: do not just undo the last step
            if current < best_cost - 1e-9:
                best_cost, keep = current, -1
                best_cover[:] = in_cover
                if best_cost <= target + 1e-9:
                    return best_cover
            k = _pick_removal(in_cover, fixed, score, cost, stamp, keep)
            if k < 0:
                return best_cover
            n_uncovered = _cover_close(k, state, uncovered, slot, n_uncovered, *graph)
            stamp[k], current = step, current - cost[k]
        while current + cheapest >= best_cost - 1e-9:  # make room for a cheaper cover
            k = _pick_removal(in_cover, fixed, score, cost, stamp, tabu)
            if k < 0:
                break
            n_uncovered = _cover_close(k, state, uncovered, slot, n_uncovered, *graph)
            stamp[k], current = step, current - cost[k]
        r = uncovered[np.random.randint(n_uncovered)]
        k = _pick_opening(r, r_ptr, r_col, score, cost, stamp, state[4])
        n_uncovered = _cover_open(k, state, uncovered, slot, n_uncovered, *graph)
        stamp[k], current, tabu = step, current + cost[k], k
        _weigh_uncovered(uncovered[:n_uncovered], weight, score, r_ptr, r_col)
    return best_cover


@numba.njit(cache=True)
def _weigh_uncovered(rows, weight, score, r_ptr, r_col):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Add 1 to the weight of each given (uncovered) row and so to its sites' scores."""
    for r in rows:
        weight[r] += 1.0
        for f in range(r_ptr[r], r_ptr[r + 1]):
            score[r_col[f]] += 1.0

# ---------------------------------------------------------------------- the framework


class _Instance:
    """The weighted-service-cost instance: both orientations of the table, w, U, costs."""

    def __init__(self, rows: sp.csr_matrix, weights: FloatArray, pen: FloatArray,
                 problem: SitingProblem) -> None:
        rows = sp.csr_matrix(rows)
        cols = rows.tocsc()
        self.r_ptr = rows.indptr.astype(np.int64)
        self.r_site = rows.indices.astype(np.int64)
        self.r_d = rows.data.astype(np.float64)
        self.c_ptr = cols.indptr.astype(np.int64)
        self.c_dem = cols.indices.astype(np.int64)
        self.c_d = cols.data.astype(np.float64)
        self.w = weights.astype(np.float64)
        self.pen = pen.astype(np.float64)
        self.cost = problem.site_cost.astype(np.float64)
        self.new = ~problem.existing
        # The heuristic keeps every existing site open (closures need the exact model).
        self.fixed = problem.existing.copy()
        self.m = problem.n_sites
        self.n = problem.n_demand

    def objective(self, is_open: BoolArray) -> float:
        d1, _, _ = _nearest_two(self.r_ptr, self.r_site, self.r_d, self.pen, is_open)
        return float(np.dot(self.w, d1))


def _limits_ok(inst: _Instance, p: int | None, budget: float | None) -> None:
    problems = []
    if p is None and budget is None:
        problems.append(Problem("p/budget", "neither p nor a budget was given",
                                hint="say how many new sites (p) or how much money (budget)"))
    if p is not None and p < 0:
        problems.append(Problem("p", f"p = {p} is negative"))
    if budget is not None and budget < 0:
        problems.append(Problem("budget", f"budget {budget} is negative"))
    if problems:
        raise ValidationError(problems, summary="bad model limits")


def _lazy_greedy(inst: _Instance, is_open: BoolArray, d1: FloatArray, p: int | None,
                 budget: float | None, seed: int) -> tuple[int, float, float]:
    """Open sites greedily (gain, or gain per cost under a budget).

    Returns (count, spent, online bound).  With p sites the online bound (Minoux 1978;
    Leskovec et al. 2007) holds at every step i: F(OPT) ≥ F(S_i) − Σ top-p gain bounds,
    because each stale heap key is ≥ the site's true gain; the best over all steps is
    returned (−inf under a budget).
    """
    count = int((is_open & inst.new).sum())
    spent = float(inst.cost[is_open].sum())
    candidate = inst.new & ~is_open
    gains = _gains(inst.c_ptr, inst.c_dem, inst.c_d, inst.w, d1, candidate)
    tiebreak = np.random.default_rng(seed).permutation(inst.m)
    by_ratio = budget is not None

    def key(k: int, gain: float) -> float:
        if not by_ratio:
            return gain
        return gain / inst.cost[k] if inst.cost[k] > 0 else np.inf

    heap = [(-key(int(k), float(gains[k])), int(tiebreak[k]), int(k))
            for k in np.flatnonzero(candidate & (gains > 0))]
    heapq.heapify(heap)
    value = float(np.dot(inst.w, d1))
    upper = np.where(candidate, gains, 0.0)

    def step_bound() -> float:
        if p is None or budget is not None or p <= 0:
            return -np.inf
        top = upper if upper.size <= p else np.partition(upper, upper.size - p)[-p:]
        return value - float(top.sum())

    online = step_bound()
    while heap and (p is None or count < p):
        _neg, tie, k = heapq.heappop(heap)
        if budget is not None and spent + inst.cost[k] > budget + 1e-9:
            continue  # never fits later either: the remaining budget only shrinks
        gain = float(_gain_one(k, inst.c_ptr, inst.c_dem, inst.c_d, inst.w, d1))
        upper[k] = gain
        if gain <= _EPS:
            continue
        fresh = key(k, gain)
        if heap and fresh < -heap[0][0] - 1e-12 * max(1.0, abs(fresh)):
            heapq.heappush(heap, (-fresh, tie, k))
            continue
        is_open[k] = True
        _open_site(k, inst.c_ptr, inst.c_dem, inst.c_d, d1)
        count += 1
        spent += float(inst.cost[k])
        value -= gain
        upper[k] = 0.0
        online = max(online, step_bound())
    return count, spent, online


def _local_search(inst: _Instance, is_open: BoolArray, p: int | None, budget: float | None,
                  deadline: float, max_swaps: int) -> int:
    """Best-improvement swaps until none lowers F, the deadline passes or max_swaps."""
    swaps = 0
    while swaps < max_swaps and time.perf_counter() < deadline:
        d1, d2, s1 = _nearest_two(inst.r_ptr, inst.r_site, inst.r_d, inst.pen, is_open)
        closed_ok = inst.new & ~is_open
        gains = _gains(inst.c_ptr, inst.c_dem, inst.c_d, inst.w, d1, closed_ok)
        open_list = np.flatnonzero(is_open & ~inst.fixed).astype(np.int64)
        if open_list.size == 0:
            break
        assigned = s1 >= 0
        order = np.argsort(s1[assigned], kind="stable")
        a_dem = np.flatnonzero(assigned)[order].astype(np.int64)
        a_ptr = np.zeros(inst.m + 1, np.int64)
        np.cumsum(np.bincount(s1[assigned], minlength=inst.m), out=a_ptr[1:])
        slack = np.inf if budget is None else budget - float(inst.cost[is_open].sum())
        delta, best_k = _best_swaps(open_list, a_ptr, a_dem, inst.r_ptr, inst.r_site,
                                    inst.r_d, inst.w, d1, d2, gains, closed_ok, inst.cost,
                                    slack)
        q = int(np.argmax(delta))
        current = float(np.dot(inst.w, d1))
        if delta[q] <= 1e-9 * max(1.0, current) or best_k[q] < 0:
            break
        is_open[open_list[q]] = False
        is_open[best_k[q]] = True
        swaps += 1
    return swaps


def _lagrangian_bound(inst: _Instance, start_lam: FloatArray, upper: float, p: int | None,
                      budget: float | None, iterations: int) -> float:
    """Best L(λ) found by subgradient steps from ``start_lam`` (a lower bound on min F)."""
    cap = inst.w * inst.pen
    lam = np.minimum(np.maximum(start_lam, 0.0), cap)
    best = -np.inf
    theta, stall = 1.0, 0
    free = inst.new & ~inst.fixed
    fixed_cost = float(inst.cost[inst.fixed].sum())
    for _ in range(max(1, iterations)):
        rho = _rho(inst.c_ptr, inst.c_dem, inst.c_d, inst.w, lam)
        base = float(lam.sum() + np.minimum(0.0, cap - lam).sum())
        x = np.zeros(inst.m)
        x[inst.fixed] = 1.0
        value = base + float(rho[inst.fixed].sum())
        candidates = np.flatnonzero(free & (rho < 0))
        if p is not None:
            take = candidates[np.argsort(rho[candidates], kind="stable")[:p]]
            x[take] = 1.0
        if budget is not None:
            room = budget - fixed_cost
            if p is None:
                zero = candidates[inst.cost[candidates] <= 0]
                x[zero] = 1.0
                paid = candidates[inst.cost[candidates] > 0]
                order = paid[np.argsort(rho[paid] / inst.cost[paid], kind="stable")]
                for k in order:
                    if room <= 0:
                        break
                    share = min(1.0, room / inst.cost[k])
                    x[k] = share
                    room -= share * inst.cost[k]
            else:
                # both limits: the p best within the budget's LP is still a relaxation
                # of p alone, so the p-only choice above is a valid (weaker) bound.
                pass
        value += float(np.dot(rho, np.where(inst.fixed, 0.0, x)))
        if not np.isfinite(best) or value > best + 1e-12 * max(1.0, abs(best)):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 4:
                theta, stall = theta / 2, 0
        s = _subgradient(inst.r_ptr, inst.r_site, inst.r_d, inst.w, inst.pen, lam, x)
        norm = float(np.dot(s, s))
        if norm < 1e-12 or upper - value <= 1e-9 * max(1.0, abs(upper)):
            break
        lam = np.minimum(np.maximum(lam + theta * (upper - value) / norm * s, 0.0), cap)
    return best


def _run(inst: _Instance, *, p: int | None, budget: float | None, seed: int,
         time_limit: float, max_swaps: int, bound_iterations: int
         ) -> tuple[BoolArray, float, float, dict[str, float]]:
    """Greedy, swaps and bound; returns (open mask, F, lower bound on min F, details)."""
    start = time.perf_counter()
    is_open = inst.fixed.copy()
    d1 = inst.pen.copy()
    for k in np.flatnonzero(is_open):
        _open_site(int(k), inst.c_ptr, inst.c_dem, inst.c_d, d1)
    base_d1 = d1.copy()
    _count, _spent, online = _lazy_greedy(inst, is_open, d1, p, budget, seed)
    greedy_value = float(np.dot(inst.w, d1))
    if budget is not None:
        # The best single affordable site can beat ratio-greedy (Khuller et al. 1999).
        affordable = inst.new & ~inst.fixed & (inst.cost + inst.cost[inst.fixed].sum()
                                              <= budget + 1e-9)
        gains = _gains(inst.c_ptr, inst.c_dem, inst.c_d, inst.w, base_d1, affordable)
        single = int(np.argmax(gains)) if affordable.any() else -1
        if single >= 0 and float(np.dot(inst.w, base_d1)) - gains[single] < greedy_value - 1e-9:
            is_open = inst.fixed.copy()
            is_open[single] = True
    construct_s = time.perf_counter() - start
    swaps = _local_search(inst, is_open, p, budget, start + time_limit, max_swaps)
    if budget is not None:
        d1, _, _ = _nearest_two(inst.r_ptr, inst.r_site, inst.r_d, inst.pen, is_open)
        _lazy_greedy(inst, is_open, d1, p, budget, seed)
    search_s = time.perf_counter() - start - construct_s
    d1, _, _ = _nearest_two(inst.r_ptr, inst.r_site, inst.r_d, inst.pen, is_open)
    value = float(np.dot(inst.w, d1))
    bound = max(online, _lagrangian_bound(inst, inst.w * d1, value, p, budget,
                                          bound_iterations))
    details = {"greedy_objective": greedy_value, "swaps": float(swaps),
               "construct_seconds": construct_s, "search_seconds": search_s,
               "bound_seconds": time.perf_counter() - start - construct_s - search_s,
               "online_bound": online}
    return is_open, value, min(bound, value), details


def greedy_mclp(
    problem: SitingProblem,
    radius: float,
    *,
    p: int | None = None,
    budget: float | None = None,
    seed: int = 0,
    time_limit: float = 30.0,
    max_swaps: int = 10_000,
    bound_iterations: int = 30,
) -> SitingSolution:
    """Maximal covering by lazy greedy + swaps, with a Lagrangian upper bound.

    Objective: Σ_i w_i [∃ j ∈ S: d_ij ≤ r]; ``bound`` ≥ the true optimum.
    """
    start = time.perf_counter()
    cover = problem.coverage(radius)
    cover.data[:] = 0.0
    inst = _Instance(cover, problem.weights, np.ones(problem.n_demand), problem)
    _limits_ok(inst, p, budget)
    is_open, uncovered, lower, details = _run(
        inst, p=p, budget=budget, seed=seed, time_limit=time_limit, max_swaps=max_swaps,
        bound_iterations=bound_iterations)
    total = float(problem.weights.sum())
    sites = np.flatnonzero(is_open).astype(np.int64)
    covered = covered_weight(problem, sites, radius)
    return SitingSolution(
        "mclp", "lazy-greedy+swap", "heuristic", sites, covered,
        max(total - lower, covered), time.perf_counter() - start, "max",
        covered_weight=covered, total_weight=total, cost=site_cost_of(problem, sites),
        details=details | {"uncovered": uncovered})


def greedy_pmedian(
    problem: SitingProblem,
    *,
    p: int | None = None,
    budget: float | None = None,
    unserved_distance: float | None = None,
    seed: int = 0,
    time_limit: float = 30.0,
    max_swaps: int = 10_000,
    bound_iterations: int = 30,
) -> SitingSolution:
    """p-median by lazy greedy + swaps, with a Lagrangian lower bound.

    Objective: Σ_i w_i · min(U, min_{j∈S} d_ij).  Without ``unserved_distance`` every
    demand point must reach an open site (an internal penalty of 10× the longest
    distance steers the search; a result leaving anyone unserved raises SolverError).
    """
    start = time.perf_counter()
    table = problem.distances
    longest = float(table.data.max()) if table.nnz else 1.0
    penalty = unserved_distance if unserved_distance is not None else 10.0 * longest + 1.0
    inst = _Instance(table, problem.weights, np.full(problem.n_demand, penalty), problem)
    _limits_ok(inst, p, budget)
    is_open, value, lower, details = _run(
        inst, p=p, budget=budget, seed=seed, time_limit=time_limit, max_swaps=max_swaps,
        bound_iterations=bound_iterations)
    sites = np.flatnonzero(is_open).astype(np.int64)
    if unserved_distance is None:
        d1, _, _ = _nearest_two(inst.r_ptr, inst.r_site, inst.r_d, inst.pen, is_open)
        if np.any((d1 >= penalty) & (inst.w > 0)):
            raise SolverError("p-median heuristic: some demand points reach no open site; "
                              "give unserved_distance or a larger p/budget")
    return SitingSolution(
        "pmedian", "lazy-greedy+swap", "heuristic", sites, value, lower,
        time.perf_counter() - start, "min", total_weight=float(problem.weights.sum()),
        cost=site_cost_of(problem, sites), details=details)


def greedy_lscp(
    problem: SitingProblem,
    radius: float,
    *,
    seed: int = 0,
    bound_iterations: int = 50,
) -> SitingSolution:
    """Set covering by lazy cost-effectiveness greedy, redundancy removal, Lagrangian bound.

    Greedy picks the site with the least cost per newly covered demand point (Chvátal
    1979), then drops open sites whose points are all covered twice, dearest first.
    """
    start = time.perf_counter()
    cover = problem.coverage(radius)
    need = problem.weights > 0
    if np.any(need & (np.diff(cover.indptr) == 0)):
        count = int(np.sum(need & (np.diff(cover.indptr) == 0)))
        raise ValidationError([Problem("demand", f"{count} demand point(s) have no candidate "
                                       f"site within {radius:g} m",
                                       hint="add candidate sites or use maximal covering")])
    cover.data[:] = 0.0
    unit = need.astype(np.float64)
    inst = _Instance(cover, unit, np.ones(problem.n_demand), problem)
    is_open = inst.fixed.copy()
    d1 = inst.pen.copy()
    for k in np.flatnonzero(is_open):
        _open_site(int(k), inst.c_ptr, inst.c_dem, inst.c_d, d1)
    _lazy_greedy(inst, is_open, d1, None, np.inf, seed)
    counts = _cover_counts(inst.r_ptr, inst.r_site, is_open)
    for k in sorted(np.flatnonzero(is_open & ~inst.fixed), key=lambda j: (-inst.cost[j], j)):
        col = inst.c_dem[inst.c_ptr[k]:inst.c_ptr[k + 1]]
        col = col[need[col]]
        if col.size == 0 or np.all(counts[col] >= 2):
            is_open[k] = False
            counts[col] -= 1
    sites = np.flatnonzero(is_open).astype(np.int64)
    cost = site_cost_of(problem, sites)
    # Lagrangian bound on points not already covered by kept existing sites.
    fixed_hit = _cover_counts(inst.r_ptr, inst.r_site, inst.fixed) > 0
    rest = need & ~fixed_hit
    free = ~inst.fixed
    col_size = _column_sums(inst.c_ptr, inst.c_dem, rest.astype(np.float64))
    ratio = np.where(free & (col_size > 0), inst.cost / np.maximum(col_size, 1), np.inf)
    u = np.zeros(inst.n)
    for i in np.flatnonzero(rest):
        row = inst.r_site[inst.r_ptr[i]:inst.r_ptr[i + 1]]
        u[i] = float(ratio[row].min())
    u[~np.isfinite(u)] = 0.0
    fixed_cost = float(inst.cost[inst.fixed].sum())
    best, theta, stall = -np.inf, 1.0, 0
    for _ in range(bound_iterations):
        reduced = np.where(free, inst.cost - _column_sums(inst.c_ptr, inst.c_dem, u), 0.0)
        x = (reduced < 0).astype(np.float64)
        value = fixed_cost + float(u.sum() + np.minimum(0.0, reduced).sum())
        if value > best + 1e-12:
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 4:
                theta, stall = theta / 2, 0
        s = np.where(rest, 1.0 - _row_hits(inst.r_ptr, inst.r_site, x), 0.0)
        norm = float(np.dot(s, s))
        if norm < 1e-12 or cost - value <= 1e-9 * max(1.0, cost):
            break
        u = np.maximum(u + theta * (cost - value) / norm * s, 0.0)
    return SitingSolution(
        "lscp", "lazy-greedy", "heuristic", sites, cost, min(best, cost),
        time.perf_counter() - start, "min",
        covered_weight=covered_weight(problem, sites, radius),
        total_weight=float(problem.weights.sum()), cost=cost)


def search_cover(cover: sp.csr_matrix, cost: FloatArray, fixed: BoolArray, *, seed: int = 0,
                 steps: int = 20_000, target: float = -np.inf) -> BoolArray:
    """A cheap set of columns covering every row of the 0/1 matrix ``cover``.

    Greedy, then row-weighting local search (:func:`_cover_walk`) for ``steps`` steps or
    until the cover costs ≤ ``target``.  ``fixed`` columns stay open; so do free
    columns costing nothing (they never hurt).  Every row must have a column.  The
    result depends only on the inputs and ``seed``.
    """
    if cost.size == 0:
        return np.zeros(0, bool)
    rows = sp.csr_matrix(cover, dtype=np.float64)
    rows.sort_indices()
    cols = rows.tocsc()
    cols.sort_indices()
    keep_open = np.asarray(fixed, bool) | (cost <= 0)
    unit = np.where(cost > 0, cost, 1.0).astype(np.float64)
    chosen = _cover_walk(rows.indptr.astype(np.int64), rows.indices.astype(np.int64),
                         cols.indptr.astype(np.int64), cols.indices.astype(np.int64), unit,
                         keep_open, int(seed), int(steps), float(target))
    return np.asarray(chosen, bool)
