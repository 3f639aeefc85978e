"""Service complexes: several facility types sited at once, one site hosting many."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from shequ.errors import Problem, ValidationError
from shequ.plan.exact.highs import (
    _INF,
    DEFAULT_TIME_LIMIT_S,
    _solve_mip,
)
from shequ.plan.problem import (
    BoolArray,
    FloatArray,
    IntArray,
)


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
