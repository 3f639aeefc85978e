"""The chained distance-level p-median: its LP equals the assignment LP, and its optimum
equals enumeration with tied distances, pairs beyond the unserved distance, closable
sites and the heuristic proved optimal by the LP alone."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from shequ.plan.exact import solve_pmedian
from shequ.plan.exact.highs import _limit_rows, _site_bounds
from shequ.plan.exact.pmedian import _level_model, _levels, _solve_levels, _sure_depth
from shequ.plan.problem import SitingProblem

from .instances import best_pmedian, random_problem


def _tied(seed: int, *, step: float = 150.0, existing: int = 0, closable: int = 0
          ) -> SitingProblem:
    """A random instance whose distances are rounded to ``step`` m: many equal distances."""
    base = random_problem(seed, n=10, m=7, reach=2000, existing=existing, closable=closable)
    table = base.distances.tocoo()
    return SitingProblem.from_table(table.row, table.col, np.round(table.data / step) * step,
                                    weights=base.weights, site_cost=base.site_cost,
                                    existing=base.existing, closable=base.closable,
                                    n_sites=base.n_sites)


def _assignment_lp(problem: SitingProblem, p: int | None, budget: float | None,
                   unserved: float | None) -> float:
    """The classic p-median LP (z_ij ≤ x_j, Σ_j z_ij (+ z_iU) = 1) solved by SciPy."""
    table = problem.distances.tocoo()
    n, m, pairs = problem.n_demand, problem.n_sites, table.nnz
    w = problem.weights
    n_u = n if unserved is not None else 0
    n_var = m + pairs + n_u
    cost = np.concatenate([np.zeros(m), w[table.row] * table.data,
                           w * unserved if unserved is not None else np.zeros(0)])
    a_eq = np.zeros((n, n_var))
    a_eq[table.row, m + np.arange(pairs)] = 1.0
    if unserved is not None:
        a_eq[np.arange(n), m + pairs + np.arange(n)] = 1.0
    link = np.zeros((pairs, n_var))
    link[np.arange(pairs), m + np.arange(pairs)] = 1.0
    link[np.arange(pairs), table.col] = -1.0
    rows, upper = [link], [np.zeros(pairs)]
    if p is not None:
        rows.append(np.concatenate([(~problem.existing).astype(float),
                                    np.zeros(pairs + n_u)])[None, :])
        upper.append(np.array([float(p)]))
    if budget is not None:
        rows.append(np.concatenate([problem.site_cost, np.zeros(pairs + n_u)])[None, :])
        upper.append(np.array([budget]))
    lower, top = _site_bounds(problem)
    bounds = [(lo, hi) for lo, hi in zip(lower, top, strict=True)] + [(0, None)] * (pairs + n_u)
    result = linprog(cost, A_ub=np.vstack(rows), b_ub=np.concatenate(upper), A_eq=a_eq,
                     b_eq=np.ones(n), bounds=bounds, method="highs")
    assert result.status == 0
    return float(result.fun)


def _level_lp(problem: SitingProblem, p: int | None, budget: float | None,
              unserved: float | None, *, sure: bool) -> float:
    """The chained level model's LP over every level (or only those that can matter)."""
    levels = _levels(problem, unserved)
    active = (problem.weights > 0) & (levels.count > 0)
    if sure:
        depth, served = _sure_depth(problem, levels, p, budget, unserved)
    else:
        depth, served = levels.count.copy(), np.full(problem.n_demand, unserved is None)
    depth[~active] = 0
    model = _level_model(levels, problem.weights, depth, served, unserved=unserved,
                         n_sites=problem.n_sites)
    lower, upper = _site_bounds(problem)
    result = _solve_levels(model, _limit_rows(problem, p, budget), lower, upper,
                           integer=False, time_limit=30.0, mip_gap=0.0, seed=0, threads=None)
    offset = float(np.sum(problem.weights[active]
                          * levels.dist[levels.start[:-1][active]]))
    if unserved is not None:
        offset += float(problem.weights[levels.count == 0].sum() * unserved)
    return result.objective + offset


@pytest.mark.parametrize("seed", range(10))
def test_chained_level_lp_equals_the_assignment_lp(seed: int) -> None:
    for problem in (random_problem(seed, n=10, m=7, reach=2000, existing=seed % 2),
                    _tied(seed, existing=seed % 3)):
        for p in (1, 2, 3):
            assert _level_lp(problem, p, None, None, sure=False) == pytest.approx(
                _assignment_lp(problem, p, None, None), rel=1e-9)
            # dropping levels that never matter can only tighten the LP, never past the optimum
            tightened = _level_lp(problem, p, None, None, sure=True)
            assert _assignment_lp(problem, p, None, None) - 1e-6 <= tightened
            assert tightened <= best_pmedian(problem, p, None, None) + 1e-6


@pytest.mark.parametrize("seed", range(10))
def test_chained_level_lp_with_budget_and_unserved_equals_the_assignment_lp(seed: int) -> None:
    problem = random_problem(seed, n=10, m=7, reach=700, existing=1, closable=seed % 2)
    for budget, unserved in ((3.0, 900.0), (6.0, 400.0)):
        assert _level_lp(problem, None, budget, unserved, sure=True) == pytest.approx(
            _assignment_lp(problem, None, budget, unserved), rel=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_pmedian_with_tied_distances_matches_enumeration(seed: int) -> None:
    problem = _tied(seed, existing=seed % 2)
    for p in (1, 2, 3):
        expected = best_pmedian(problem, p, None, None)
        assert solve_pmedian(problem, p=p).objective == pytest.approx(expected)
        grown = solve_pmedian(problem, p=p, initial_neighbours=1)
        assert grown.objective == pytest.approx(expected)
        assert grown.status == "optimal"


@pytest.mark.parametrize("seed", range(10))
def test_pmedian_with_closable_sites_and_p_matches_enumeration(seed: int) -> None:
    problem = _tied(seed, step=50.0, existing=3, closable=2)
    for p in (1, 2):
        solution = solve_pmedian(problem, p=p)
        assert solution.objective == pytest.approx(best_pmedian(problem, p, None, None))
        assert int((~problem.existing[solution.open_sites]).sum()) <= p


@pytest.mark.parametrize("seed", range(10))
def test_pmedian_ignores_pairs_beyond_the_unserved_distance(seed: int) -> None:
    # the table reaches 2 km, going unserved costs 300 m: most pairs cannot help
    problem = random_problem(seed, n=10, m=7, reach=2000)
    for p in (1, 3):
        solution = solve_pmedian(problem, p=p, unserved_distance=300.0, initial_neighbours=1)
        assert solution.objective == pytest.approx(best_pmedian(problem, p, None, 300.0))
        assert solution.bound <= solution.objective + 1e-6


def test_sure_depth_stops_at_the_nearest_existing_or_the_last_needed_new_site() -> None:
    # One point; sites at 100 … 500 m, the one at 400 m exists; 4 new sites, p = 2:
    # at most 2 new ones stay closed, so the third nearest new site (300 m) is the last
    # level that can matter; with the existing site at 200 m instead, that one is.
    distances = [100.0, 200.0, 300.0, 400.0, 500.0]
    for existing_at, expected in ((3, 3), (1, 2)):
        existing = np.zeros(5, bool)
        existing[existing_at] = True
        problem = SitingProblem.from_table([0] * 5, range(5), distances, weights=[1.0],
                                           existing=existing, n_sites=5)
        levels = _levels(problem, None)
        depth, served = _sure_depth(problem, levels, 2, None, None)
        assert depth.tolist() == [expected]
        assert served.tolist() == [True]
        # a budget gives no such guarantee
        assert _sure_depth(problem, levels, 2, 10.0, None)[0].tolist() == [5]


def test_levels_group_equal_distances_and_drop_pairs_beyond_unserved() -> None:
    problem = SitingProblem.from_table([0, 0, 0, 0, 1, 1], [0, 1, 2, 3, 0, 3],
                                       [50.0, 20.0, 50.0, 90.0, 70.0, 70.0],
                                       weights=[1.0, 2.0], n_sites=4)
    levels = _levels(problem, 80.0)
    assert levels.dist.tolist() == [20.0, 50.0, 50.0, 70.0, 70.0]
    assert levels.sites.tolist() == [1, 0, 2, 0, 3]
    assert levels.level.tolist() == [0, 1, 1, 0, 0]
    assert levels.count.tolist() == [2, 1]
    assert levels.start.tolist() == [0, 3, 5]


@pytest.mark.parametrize("seed", range(6))
def test_pmedian_proves_the_heuristic_optimal_by_the_lp_bound(seed: int) -> None:
    problem = random_problem(seed, n=10, m=7, reach=2000)
    solution = solve_pmedian(problem, p=2)
    assert solution.objective == pytest.approx(best_pmedian(problem, 2, None, None))
    assert solution.status == "optimal"
    assert solution.details["mip_rounds"] == 0  # no MIP was needed
    assert solution.bound == pytest.approx(solution.objective, rel=1e-7)


@pytest.mark.parametrize("seed", range(8))
def test_deepened_lp_equals_the_lp_built_at_that_depth(seed: int) -> None:
    # levels appended to a solved LP (warm) give the LP a fresh build at the new depth gives
    from shequ.plan.exact.pmedian import _GrowingLp, _level_model

    problem = _tied(seed, step=20.0, existing=seed % 2)
    unserved = None if seed % 3 else 900.0
    p, budget = (2, None) if seed % 2 else (None, 6.0)
    levels = _levels(problem, unserved)
    sure_depth, served = _sure_depth(problem, levels, p, budget, unserved)
    sure_depth[problem.weights <= 0] = 0
    limits = _limit_rows(problem, p, budget)
    bounds = _site_bounds(problem)
    lp = _GrowingLp(levels, problem.weights, np.minimum(sure_depth, 1),
                    sure=(sure_depth, served), unserved=unserved, limits=limits,
                    bounds=bounds, seed=0, threads=None)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        assert lp.solve(30.0) is not None
        lp.deepen(rng.random(problem.n_demand) < 0.5)
    grown = lp.solve(30.0)
    fresh = _level_model(levels, problem.weights, lp.depth, served & (lp.depth == sure_depth),
                         unserved=unserved, n_sites=problem.n_sites)
    expected = _solve_levels(fresh, limits, *bounds, integer=False, time_limit=30.0,
                             mip_gap=0.0, seed=0, threads=None).objective
    assert grown == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert np.array_equal(lp.tail >= 0, fresh.tail >= 0)
    # deepening everything to the sure depth leaves nothing under-charged
    while (lp.depth < sure_depth).any():
        lp.deepen(lp.depth < sure_depth)
    assert lp.solve(30.0) is not None
    assert not lp.cut_short().any()
