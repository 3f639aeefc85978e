"""The heuristic never beats the enumerated optimum, its bound always brackets it, and it
is deterministic; the distance table keeps the shortest of duplicate pairs."""

from __future__ import annotations

import numpy as np
import pytest

from shequ.errors import ValidationError
from shequ.plan.heuristic import greedy_lscp, greedy_mclp, greedy_pmedian
from shequ.plan.problem import SitingProblem, covered_weight

from .instances import best_lscp, best_mclp, best_pmedian, random_problem

SEEDS = range(10)


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_heuristic_is_feasible_and_its_bound_brackets_the_optimum(seed: int) -> None:
    problem = random_problem(seed, n=12, m=8, existing=seed % 2)
    for p in (1, 2, 3):
        solution = greedy_mclp(problem, 400.0, p=p)
        optimum = best_mclp(problem, 400.0, p, None)
        assert solution.objective <= optimum + 1e-9 <= solution.bound + 1e-6
        assert int((~problem.existing[solution.open_sites]).sum()) <= p
        assert solution.objective == covered_weight(problem, solution.open_sites, 400.0)
    for budget in (3.0, 6.0):
        solution = greedy_mclp(problem, 400.0, budget=budget)
        optimum = best_mclp(problem, 400.0, None, budget)
        assert solution.objective <= optimum + 1e-9 <= solution.bound + 1e-6
        assert solution.cost <= budget + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_heuristic_bound_is_below_the_optimum(seed: int) -> None:
    problem = random_problem(seed, n=12, m=8, reach=2000, existing=seed % 2)
    for p in (1, 2, 3):
        solution = greedy_pmedian(problem, p=p)
        optimum = best_pmedian(problem, p, None, None)
        assert solution.bound - 1e-6 <= optimum <= solution.objective + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_heuristic_covers_everyone_and_its_bound_is_below_the_optimum(seed: int) -> None:
    problem = random_problem(seed, n=10, m=8, reach=900)
    optimum = best_lscp(problem, 600.0)
    if not np.isfinite(optimum):
        with pytest.raises(ValidationError):
            greedy_lscp(problem, 600.0)
        return
    solution = greedy_lscp(problem, 600.0)
    assert solution.covered_weight == pytest.approx(problem.weights.sum())
    assert solution.bound - 1e-6 <= optimum <= solution.objective + 1e-6


def test_swaps_repair_the_greedy_trap() -> None:
    # Site 0 covers the middle (weight 6 of 2 + 2 + 2 … greedy takes it first); with p = 2
    # the optimum is sites 1 and 2, which together cover all four groups (weight 10).
    demand = [0, 0, 1, 1, 2, 3]
    site = [0, 1, 0, 2, 1, 2]
    weights = [3, 3, 2, 2]
    problem = SitingProblem.from_table(demand, site, [0] * 6, weights=weights, n_sites=3)
    greedy_only = greedy_mclp(problem, 1.0, p=2, max_swaps=0)
    with_swaps = greedy_mclp(problem, 1.0, p=2)
    assert greedy_only.objective == 8.0  # site 0, then site 1
    assert with_swaps.objective == 10.0
    assert sorted(with_swaps.open_sites.tolist()) == [1, 2]


def test_heuristic_is_deterministic_for_a_seed() -> None:
    problem = random_problem(7, n=200, m=40, reach=300)
    first = greedy_mclp(problem, 250.0, p=6, seed=3)
    again = greedy_mclp(problem, 250.0, p=6, seed=3)
    assert first.open_sites.tolist() == again.open_sites.tolist()
    assert first.bound == again.bound


def test_duplicate_pairs_keep_the_shortest_distance() -> None:
    problem = SitingProblem.from_table([0, 0, 0, 1, 1], [2, 0, 2, 1, 0], [5, 0, 3, 7, 1],
                                       weights=[1, 1], n_sites=3)
    assert problem.distances.toarray().tolist() == [[0, 0, 3], [1, 7, 0]]
    assert problem.distances.nnz == 4  # the explicit zero distance is a reachable pair


def test_bad_tables_report_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        SitingProblem.from_table([0, 5], [0, 1], [-1, 3], weights=[1, -2], n_sites=2,
                                 closable=[True, False])
    text = str(caught.value)
    assert "demand index" in text and "distances" in text and "negative" in text
    assert "closable" in text


def test_public_surface_is_what_all_says() -> None:
    import shequ.plan as plan

    assert sorted(plan.__all__) == sorted(plan._EXPORTS)
    for name in plan.__all__:
        assert getattr(plan, name) is not None
