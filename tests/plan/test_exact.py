"""Every exact model returns the optimum found by enumerating all site subsets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from shequ.errors import SolverError, ValidationError
from shequ.plan.exact import (
    ComplexProblem,
    complex_coverage,
    solve_capacitated,
    solve_complex_mclp,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)
from shequ.plan.problem import SitingProblem

from .instances import (
    best_lscp,
    best_mclp,
    best_pmedian,
    capacitated_served,
    feasible,
    random_problem,
    subsets,
)

SEEDS = range(12)
RADIUS = 400.0


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_with_p_matches_enumeration(seed: int) -> None:
    problem = random_problem(seed, existing=seed % 3)
    for p in (1, 2, 3):
        solution = solve_mclp(problem, RADIUS, p=p)
        assert solution.status == "optimal"
        assert solution.objective == pytest.approx(best_mclp(problem, RADIUS, p, None))
        assert solution.gap == pytest.approx(0.0, abs=1e-9)
        assert int((~problem.existing[solution.open_sites]).sum()) <= p


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_with_budget_and_closable_sites_matches_enumeration(seed: int) -> None:
    problem = random_problem(seed, existing=2, closable=1 + seed % 2)
    for budget in (2.0, 4.0, 7.0):
        solution = solve_mclp(problem, RADIUS, budget=budget)
        assert solution.objective == pytest.approx(best_mclp(problem, RADIUS, None, budget))
        assert solution.cost <= budget + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_matches_enumeration(seed: int) -> None:
    problem = random_problem(seed, n=8, m=7, reach=900, existing=seed % 2)
    expected = best_lscp(problem, 600.0)
    if np.isinf(expected):
        with pytest.raises((ValidationError, SolverError)):
            solve_lscp(problem, 600.0)
        return
    solution = solve_lscp(problem, 600.0)
    assert solution.objective == pytest.approx(expected)
    assert solution.covered_weight == pytest.approx(problem.weights.sum())


def test_lscp_names_demand_points_that_no_site_reaches() -> None:
    problem = SitingProblem.from_table([0, 1], [0, 0], [100, 900], weights=[1, 1],
                                       demand_ids=("village-a", "village-b"), n_sites=1)
    with pytest.raises(ValidationError, match="village-b"):
        solve_lscp(problem, 500.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_matches_enumeration(seed: int) -> None:
    problem = random_problem(seed, n=10, m=7, reach=2000, existing=seed % 2)
    for p in (1, 2, 3):
        solution = solve_pmedian(problem, p=p, initial_neighbours=1)
        assert solution.objective == pytest.approx(best_pmedian(problem, p, None, None))
        assert solution.bound <= solution.objective + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_sparse_pmedian_with_unserved_penalty_matches_enumeration(seed: int) -> None:
    problem = random_problem(seed, n=10, m=7, reach=500)
    for budget in (3.0, 6.0):
        solution = solve_pmedian(problem, budget=budget, unserved_distance=1500.0,
                                 initial_neighbours=2)
        assert solution.objective == pytest.approx(
            best_pmedian(problem, None, budget, 1500.0))


def test_pmedian_on_a_line_has_the_closed_form_answer() -> None:
    # Demand 1, 1, 1, 10 at x = 0, 1, 2, 10; sites at every point; p = 1 → the heavy end.
    xs = np.array([0.0, 1.0, 2.0, 10.0])
    i, j = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    problem = SitingProblem.from_table(i.ravel(), j.ravel(), np.abs(xs[i] - xs[j]).ravel(),
                                       weights=[1, 1, 1, 10])
    solution = solve_pmedian(problem, p=1)
    assert solution.open_sites.tolist() == [3]
    assert solution.objective == pytest.approx(10 + 9 + 8)
    two = solve_pmedian(problem, p=2)
    assert sorted(two.open_sites.tolist()) == [1, 3]
    assert two.objective == pytest.approx(2.0)


@pytest.mark.parametrize("seed", range(8))
def test_capacitated_max_cover_matches_enumeration(seed: int) -> None:
    problem = random_problem(seed, n=8, m=5, capacity=True)
    for p in (1, 2):
        expected = max(capacitated_served(problem, s, RADIUS) for s in subsets(problem)
                       if feasible(problem, s, p, None))
        solution = solve_capacitated(problem, RADIUS, p=p)
        assert solution.objective == pytest.approx(expected, rel=1e-7)
        assert solution.objective == pytest.approx(
            capacitated_served(problem, solution.open_sites, RADIUS), rel=1e-7)


@pytest.mark.parametrize("seed", range(8))
def test_capacitated_min_cost_matches_enumeration(seed: int) -> None:
    problem = random_problem(seed, n=7, m=6, reach=900, capacity=True)
    need = problem.weights.sum()
    candidates = [float(problem.site_cost[s].sum()) for s in subsets(problem)
                  if capacitated_served(problem, s, 700.0) >= need - 1e-6]
    if not candidates:
        with pytest.raises((ValidationError, SolverError)):
            solve_capacitated(problem, 700.0, objective="min_cost")
        return
    solution = solve_capacitated(problem, 700.0, objective="min_cost")
    assert solution.objective == pytest.approx(min(candidates))


def test_capacity_is_required_for_the_capacitated_model() -> None:
    with pytest.raises(ValidationError, match="capacity"):
        solve_capacitated(random_problem(0), RADIUS, p=1)


def _complex_instance(seed: int) -> ComplexProblem:
    rng = np.random.default_rng(seed)
    n, m, types = 7, 4, 2
    dxy, sxy = rng.uniform(0, 1000, (n, 2)), rng.uniform(0, 1000, (m, 2))
    dist = np.hypot(*(dxy[:, None, :] - sxy[None, :, :]).transpose(2, 0, 1))
    coverage = tuple(sp.csr_matrix((dist <= r).astype(float)) for r in (350.0, 550.0))
    can_host = rng.random((m, types)) < 0.8
    existing = np.zeros((m, types), bool)
    existing[0, 0] = can_host[0, 0]
    return ComplexProblem(coverage, rng.integers(1, 50, (n, types)).astype(float),
                          rng.integers(2, 6, m).astype(float) * np.where(existing.any(1), 0, 1),
                          rng.integers(1, 3, (m, types)).astype(float) * ~existing,
                          can_host, existing)


@pytest.mark.parametrize("seed", range(8))
def test_service_complex_model_matches_enumeration(seed: int) -> None:
    problem = _complex_instance(seed)
    m, types = problem.can_host.shape
    pairs = [(j, t) for j in range(m) for t in range(types)
             if problem.can_host[j, t] and not problem.existing[j, t]]
    budget = 9.0
    best = -1.0
    for size in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, size):
            host = problem.existing.copy()
            for j, t in combo:
                host[j, t] = True
            opened = host.any(axis=1)
            cost = problem.site_cost[opened].sum() + problem.type_cost[host].sum()
            if cost <= budget:
                best = max(best, complex_coverage(problem, host))
    solution = solve_complex_mclp(problem, budget=budget)
    assert solution.objective == pytest.approx(best)
    assert solution.cost <= budget
