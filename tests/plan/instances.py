"""Small seeded siting instances and brute-force oracles that enumerate every site subset."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
from scipy.optimize import linprog

from shequ.plan.problem import SitingProblem, covered_weight, weighted_distance


def random_problem(seed: int, *, n: int = 9, m: int = 6, reach: float = 650.0,
                   existing: int = 0, closable: int = 0, capacity: bool = False
                   ) -> SitingProblem:
    """Points in a 1 km square; pairs farther than ``reach`` are left out of the table."""
    rng = np.random.default_rng(seed)
    demand_xy = rng.uniform(0, 1000, (n, 2))
    site_xy = rng.uniform(0, 1000, (m, 2))
    gap = demand_xy[:, None, :] - site_xy[None, :, :]
    dist = np.round(np.hypot(gap[..., 0], gap[..., 1]))
    i, j = np.nonzero(dist <= reach)
    ex = np.zeros(m, bool)
    ex[:existing] = True
    cl = np.zeros(m, bool)
    cl[:closable] = True
    cost = rng.integers(1, 6, m).astype(float)
    cost[ex] = np.where(cl[ex], cost[ex], 0.0)
    return SitingProblem.from_table(
        i, j, dist[i, j], weights=rng.integers(1, 100, n).astype(float), site_cost=cost,
        existing=ex, closable=cl, n_sites=m,
        capacity=rng.integers(40, 160, m).astype(float) if capacity else None)


def subsets(problem: SitingProblem) -> Iterator[np.ndarray]:
    """Every site set that keeps the forced-open sites open."""
    free = np.flatnonzero(~problem.forced_open)
    forced = np.flatnonzero(problem.forced_open)
    for size in range(free.size + 1):
        for combo in itertools.combinations(free, size):
            yield np.sort(np.concatenate([forced, np.asarray(combo, np.int64)])).astype(
                np.int64)


def feasible(problem: SitingProblem, sites: np.ndarray, p: int | None,
             budget: float | None) -> bool:
    """Does the site set respect p (new sites) and the budget?"""
    new = int((~problem.existing[sites]).sum())
    if p is not None and new > p:
        return False
    return budget is None or problem.site_cost[sites].sum() <= budget + 1e-9


def best_mclp(problem: SitingProblem, radius: float, p: int | None, budget: float | None
              ) -> float:
    """Most covered weight over every feasible subset."""
    return max(covered_weight(problem, s, radius) for s in subsets(problem)
               if feasible(problem, s, p, budget))


def best_lscp(problem: SitingProblem, radius: float) -> float:
    """Least cost of a subset covering every demand point (inf if none)."""
    total = problem.weights[problem.weights > 0].sum()
    best = np.inf
    for s in subsets(problem):
        if covered_weight(problem, s, radius) >= total - 1e-9:
            best = min(best, float(problem.site_cost[s].sum()))
    return best


def best_pmedian(problem: SitingProblem, p: int | None, budget: float | None,
                 unserved: float | None) -> float:
    """Least weighted distance over every feasible subset."""
    return min(weighted_distance(problem, s, unserved) for s in subsets(problem)
               if feasible(problem, s, p, budget))


def capacitated_served(problem: SitingProblem, sites: np.ndarray, radius: float) -> float:
    """Most weight servable by ``sites`` within radius and capacity (an LP, by SciPy)."""
    assert problem.capacity is not None
    cov = problem.coverage(radius).tocoo()
    mask = np.isin(cov.col, sites)
    pi, pj = cov.row[mask], cov.col[mask]
    if pi.size == 0:
        return 0.0
    w = problem.weights
    n, m = problem.n_demand, problem.n_sites
    a = np.zeros((n + m, pi.size))
    a[pi, np.arange(pi.size)] = 1.0
    a[n + pj, np.arange(pi.size)] = w[pi]
    b = np.concatenate([np.ones(n), problem.capacity])
    result = linprog(-w[pi], A_ub=a, b_ub=b, bounds=(0, 1), method="highs")
    return float(-result.fun)
