"""The HiGHS wrapper every exact model shares, and the rows over the site columns.

A model hands HiGHS its standard-form arrays in one call (column-wise, CSC); the answer
comes back with HiGHS's proven dual bound, so a gap is reported even when the time
limit stops the search.  The site columns' bounds (existing sites fixed open unless
closable) and the limit rows Σ_{new j} x_j ≤ p, Σ_j c_j x_j ≤ B are built here once.
"""

from __future__ import annotations

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
