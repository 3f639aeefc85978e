"""Set covering: the local search returns covers (the optimum on small instances), and
every path of the exact model — LP bound reached, HiGHS proving no cheaper cover, HiGHS
finding a cheaper one, costs that are not whole numbers — returns the enumerated optimum."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shequ.plan.exact import solve_lscp
from shequ.plan.exact.covering import _cost_step
from shequ.plan.heuristic import search_cover
from shequ.plan.problem import SitingProblem

from .instances import best_lscp, random_problem


def _with_costs(problem: SitingProblem, cost: np.ndarray) -> SitingProblem:
    table = problem.distances.tocoo()
    return SitingProblem.from_table(table.row, table.col, table.data, weights=problem.weights,
                                    site_cost=cost, existing=problem.existing,
                                    closable=problem.closable, n_sites=problem.n_sites)


def _random_cover(seed: int, n: int = 14, m: int = 10) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.random((n, m)) < 0.3
    dense[np.arange(n), rng.integers(0, m, n)] = True  # every row has a column
    return sp.csr_matrix(dense.astype(np.float64))


def _cheapest_cover(cover: sp.csr_matrix, cost: np.ndarray, fixed: np.ndarray) -> float:
    dense = cover.toarray() > 0
    m = cost.size
    best = np.inf
    for mask in range(1 << m):
        chosen = np.array([(mask >> j) & 1 for j in range(m)], bool)
        if np.all(chosen[fixed]) and np.all(dense[:, chosen].any(axis=1)):
            best = min(best, float(cost[chosen].sum()))
    return best


@pytest.mark.parametrize("seed", range(10))
def test_search_cover_finds_the_cheapest_cover_on_small_instances(seed: int) -> None:
    cover = _random_cover(seed)
    rng = np.random.default_rng(100 + seed)
    cost = rng.integers(1, 5, cover.shape[1]).astype(float)
    fixed = np.zeros(cover.shape[1], bool)
    fixed[seed % cover.shape[1]] = True
    chosen = search_cover(cover, cost, fixed, seed=seed)
    assert np.all((cover @ chosen.astype(float)) >= 1)
    assert chosen[fixed].all()
    assert float(cost[chosen].sum()) == pytest.approx(_cheapest_cover(cover, cost, fixed))
    # the same seed gives the same cover
    assert np.array_equal(chosen, search_cover(cover, cost, fixed, seed=seed))


def test_search_cover_stops_at_the_target_and_keeps_free_sites_open() -> None:
    # rows {0,1}, {1,2}, {2,3}: the greedy cover {1, 2} (cost 2) already meets target 2;
    # column 3 costs nothing and stays open.
    cover = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], float))
    chosen = search_cover(cover, np.array([1.0, 1.0, 1.0, 0.0]), np.zeros(4, bool),
                          target=2.0)
    assert chosen.tolist() == [False, True, False, True]
    assert search_cover(cover, np.ones(4), np.zeros(4, bool), steps=0).sum() == 2


def test_cost_step_is_the_gcd_of_whole_costs() -> None:
    assert _cost_step(np.array([4.0, 6.0, 10.0])) == 2.0
    assert _cost_step(np.array([1.0, 3.0])) == 1.0
    assert _cost_step(np.array([1.5, 3.0])) == 0.0
    assert _cost_step(np.zeros(0)) == 1.0


@pytest.mark.parametrize("seed", range(12))
def test_lscp_finds_a_cheaper_cover_than_the_greedy_one(seed: int) -> None:
    # without local search the greedy cover is HiGHS's question: is there a cheaper one?
    problem = random_problem(seed, n=12, m=9, reach=900, existing=seed % 2)
    expected = best_lscp(problem, 500.0)
    if np.isinf(expected):
        return
    for steps in (0, 20_000):
        solution = solve_lscp(problem, 500.0, search_steps=steps)
        assert solution.objective == pytest.approx(expected)
        assert solution.status == "optimal"
        assert solution.bound == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(12))
def test_lscp_with_costs_that_are_not_whole_numbers_matches_enumeration(seed: int) -> None:
    base = random_problem(seed, n=10, m=8, reach=900)
    problem = _with_costs(base, base.site_cost * 1.37 + 0.05)
    expected = best_lscp(problem, 500.0)
    if np.isinf(expected):
        return
    solution = solve_lscp(problem, 500.0, search_steps=seed % 2 * 5_000)
    assert solution.objective == pytest.approx(expected)


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_lscp_proves_the_search_cover_optimal_above_the_lp_bound(scale: float) -> None:
    # this instance's LP bound (8) is below its optimum (9): the search finds a cover of
    # 9 and HiGHS must prove that none costs 8; scaled costs take steps of 20
    base = random_problem(206, n=12, m=9, reach=900)
    problem = _with_costs(base, base.site_cost * scale)
    solution = solve_lscp(problem, 450.0)
    assert solution.details["lp_bound"] == pytest.approx(8.0 * scale)
    assert solution.details["search_cost"] == pytest.approx(9.0 * scale)
    assert solution.objective == pytest.approx(best_lscp(problem, 450.0))
    assert solution.objective == pytest.approx(9.0 * scale)
    assert solution.status == "optimal"
    assert solution.bound == pytest.approx(9.0 * scale)


@pytest.mark.parametrize("seed", [48, 78, 80, 96])
def test_lscp_finds_the_cover_greedy_misses(seed: int) -> None:
    # on these instances greedy alone is one site short of the optimum, so HiGHS is
    # asked for a cheaper cover and finds it
    problem = random_problem(seed, n=14, m=10, reach=900, existing=seed % 2)
    expected = best_lscp(problem, 450.0)
    greedy_only = solve_lscp(problem, 450.0, search_steps=0)
    assert greedy_only.details["search_cost"] == pytest.approx(expected + 1.0)
    assert greedy_only.objective == pytest.approx(expected)
    assert greedy_only.status == "optimal"
    assert greedy_only.bound == pytest.approx(expected)
    assert solve_lscp(problem, 450.0).details["search_cost"] == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(8))
def test_lscp_with_kept_sites_of_odd_cost_matches_enumeration(seed: int) -> None:
    # kept existing sites cost 0.5 each, new sites whole numbers: the step still applies
    # to what the plan can change
    base = random_problem(seed, n=12, m=9, reach=900, existing=2)
    cost = base.site_cost.copy()
    cost[base.existing] = 0.5
    problem = _with_costs(base, cost)
    expected = best_lscp(problem, 450.0)
    if np.isinf(expected):
        return
    for steps in (0, 20_000):
        solution = solve_lscp(problem, 450.0, search_steps=steps)
        assert solution.objective == pytest.approx(expected)
        assert solution.bound == pytest.approx(expected)
        assert solution.status == "optimal"
