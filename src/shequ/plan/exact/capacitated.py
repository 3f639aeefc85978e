"""Capacitated covering: demand is served within the walking distance only by a site
with room (places, beds, seats)."""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import scipy.sparse as sp

from shequ.errors import Problem, ValidationError
from shequ.plan.exact.highs import (
    _INF,
    DEFAULT_TIME_LIMIT_S,
    _check_limits,
    _limit_rows,
    _open,
    _site_bounds,
    _solve_mip,
)
from shequ.plan.problem import (
    SitingProblem,
    SitingSolution,
    site_cost_of,
)


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
