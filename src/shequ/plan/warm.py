"""Compile every Numba kernel once, into the install's cache, so no user waits for it.

The access kernels (street searches, floating catchments) and the planning heuristics are
``@njit(cache=True)``: compiled on their first call with a given set of argument types
and written to Numba's cache (``__pycache__`` beside the sources, or ``NUMBA_CACHE_DIR``
when set).  A fresh install has an empty cache, so the first life-circle run or
``shequ plan solve`` compiled for 15–60 s.  :func:`warm` runs each kernel through the
same public functions the services call, on small seeded inputs, so the argument types
are the ones production uses; ``make install`` and ``shequ demo`` call it (``shequ warm``).

A process that loads a kernel from the cache reports it in the dispatcher's
``stats.cache_hits``; :func:`kernel_stats` sums those over every kernel, which is how the
tests check that a process after warming compiles nothing.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# The modules whose ``@njit`` kernels are warmed (and counted by kernel_stats).
KERNEL_MODULES = ("shequ.access.kernels", "shequ.access.fca", "shequ.plan.heuristic")


@dataclass(frozen=True, slots=True)
class WarmReport:
    """What a warm-up did: seconds per part, and the kernels' cache figures after it."""

    seconds: dict[str, float]
    compiled: int  # signatures compiled in this process (cache misses)
    loaded: int  # signatures loaded from the cache (cache hits)

    @property
    def total_seconds(self) -> float:
        """Seconds for the whole warm-up."""
        return float(sum(self.seconds.values()))


def _dispatchers() -> list[Any]:
    from numba.core.registry import CPUDispatcher

    found: list[Any] = []
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        found.extend(value for value in vars(module).values()
                     if isinstance(value, CPUDispatcher))
    return found


def kernel_stats() -> tuple[int, int]:
    """(signatures compiled, signatures loaded from the cache) in this process so far."""
    compiled = loaded = 0
    for dispatcher in _dispatchers():
        stats = dispatcher.stats
        compiled += int(sum(stats.cache_misses.values()))
        loaded += int(sum(stats.cache_hits.values()))
    return compiled, loaded


def warm_access() -> None:
    """The street-search and floating-catchment kernels, as the life circles call them."""
    from shequ.access.fca import two_step_fca
    from shequ.access.kernels import catchments, nearest_distances, single_source
    from shequ.access.network import grid_network

    net = grid_network(12, 12, seed=1)
    rng = np.random.default_rng(1)
    sources = [np.sort(rng.choice(net.node_count, 5, replace=False)) for _ in range(3)]
    nearest_distances(net, sources, cap_m=500.0)
    nearest_distances(net, sources, cap_m=500.0,
                      offsets_by_type=[np.full(s.size, 3.5) for s in sources])
    catchments(net, sources[0], radius_m=400.0, chunks=1)
    single_source(net, int(sources[0][0]), radius_m=300.0)
    demand_nodes = np.arange(net.node_count)
    demand = np.ones(net.node_count)
    for decay in ("none", "gaussian"):
        two_step_fca(net, demand_nodes=demand_nodes, demand=demand, supply_nodes=sources[1],
                     supply=np.full(sources[1].size, 10.0), radius_m=400.0, decay=decay)


def warm_plan() -> None:
    """The planning heuristics, through every model's solver on a small seeded instance."""
    from shequ.plan.exact import solve_capacitated, solve_lscp, solve_mclp, solve_pmedian
    from shequ.plan.heuristic import greedy_lscp, greedy_mclp, greedy_pmedian
    from shequ.plan.problem import SitingProblem

    rng = np.random.default_rng(2)
    n, m = 60, 12
    demand_xy = rng.uniform(0, 2000, (n, 2))
    site_xy = rng.uniform(0, 2000, (m, 2))
    dist = np.linalg.norm(demand_xy[:, None, :] - site_xy[None, :, :], axis=2)
    i, j = np.nonzero(dist <= 1200)
    problem = SitingProblem.from_table(
        i, j, dist[i, j], weights=rng.integers(1, 50, n).astype(float), n_sites=m,
        site_cost=rng.uniform(1, 3, m), existing=np.arange(m) < 2,
        capacity=np.full(m, 400.0))
    greedy_mclp(problem, 600.0, p=4)
    greedy_mclp(problem, 600.0, budget=6.0)
    greedy_pmedian(problem, p=4, unserved_distance=1500.0)
    greedy_lscp(problem, 1200.0)
    solve_mclp(problem, 600.0, p=4, time_limit=30.0)
    solve_mclp(problem, 600.0, budget=6.0, time_limit=30.0)
    solve_lscp(problem, 1200.0, time_limit=30.0)
    solve_pmedian(problem, p=4, unserved_distance=1500.0, time_limit=30.0)
    solve_capacitated(problem, 900.0, p=6, time_limit=30.0)


PARTS: dict[str, Callable[[], None]] = {"access": warm_access, "plan": warm_plan}


def warm() -> WarmReport:
    """Compile (or load) every kernel; returns the seconds each part took."""
    seconds = {}
    for name, part in PARTS.items():
        started = time.perf_counter()
        part()
        seconds[name] = time.perf_counter() - started
    compiled, loaded = kernel_stats()
    return WarmReport(seconds, compiled, loaded)


__all__ = ["KERNEL_MODULES", "PARTS", "WarmReport", "kernel_stats", "warm", "warm_access",
           "warm_plan"]
