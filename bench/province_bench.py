"""Province-sized life circles: seeded counties of the demo's size, on a Dask LocalCluster
and in one process.

Each county is the demo generator's county (``shequ demo``: real division names,
synthetic streets, people and facilities — labelled synthetic) with its own seed, so the
counties differ in layout, population and facilities.  Every county's life circles are
evaluated by :func:`shequ.access.lifecircle.evaluate_life_circles` on its own street
network: first one county after the other in this process, then as one task per county
on a ``distributed.LocalCluster`` (one thread per worker process; the Numba kernels are
loaded from the cache on each worker before the clock starts, as ``shequ warm`` leaves
them).  The two runs must give equal tables for every county.  Printed: the generation
time, both runs' wall-clock and per-county times, their ratio, and the extrapolation to
the nation's 2,854 counties.

    .venv/bin/python bench/province_bench.py                 # 100 counties, 2 workers
    .venv/bin/python bench/province_bench.py --counties 10   # quicker, while developing
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from typing import Any

import numpy as np
import polars as pl

from shequ.access.lifecircle import evaluate_life_circles
from shequ.access.network import StreetNetwork
from shequ.catalog import Catalog, load_catalog
from shequ.ingest import demo as demo_county

NATION_COUNTIES = 2854
YEAR = 2025

# The county's names come from the national hierarchy, read once (20 s) for all seeds.
demo_county.county_records = functools.lru_cache(demo_county.county_records)


def county_inputs(code: str, seed: int, catalog: Catalog) -> dict[str, Any]:
    """One generated county as the evaluator's inputs (network, communities, facilities)."""
    generated = demo_county.generate(code, seed=seed, catalog=catalog)
    streets = generated.streets
    network = StreetNetwork.from_edges(
        node_ids=streets.node_ids, lon=streets.lon, lat=streets.lat, edge_u=streets.edge_u,
        edge_v=streets.edge_v, length_m=streets.length_m, synthetic=True,
        source=generated.source)
    people = {row["division_code"]: row for row in generated.population
              if row["period"] == YEAR}
    units = [u for u in generated.units if u.level == 5 and u.code in generated.positions]
    communities = pl.DataFrame({
        "division_code": [u.code for u in units],
        "longitude": [generated.positions[u.code][0] for u in units],
        "latitude": [generated.positions[u.code][1] for u in units],
        "urban_rural": [u.urban_rural for u in units],
        **{name: [int(people.get(u.code, {}).get(name, 0)) for u in units]
           for name in ("residents", "households", "age_60_plus", "age_0_2", "age_3_5",
                        "age_6_14")},
    })
    serving = [f for f in generated.facilities if f["status"] == "in_service"]
    facilities = pl.DataFrame({
        "id": list(range(1, len(serving) + 1)),
        "type_code": [f["type_code"] for f in serving],
        "longitude": [f["longitude"] for f in serving],
        "latitude": [f["latitude"] for f in serving],
    })
    return {"seed": seed, "network": network, "communities": communities,
            "facilities": facilities}


def evaluate(county: dict[str, Any], catalog: Catalog) -> pl.DataFrame:
    """The life circles of one county: its per-community, per-tier table."""
    result = evaluate_life_circles(county["network"], communities=county["communities"],
                                   facilities=county["facilities"], catalog=catalog)
    communities: pl.DataFrame = result.communities
    return communities


def _load_kernels(county: dict[str, Any], catalog: Catalog) -> int:
    """Run on each worker before timing: the kernels come from the cache (or compile
    once), and one county's evaluation imports what the evaluator needs."""
    from shequ.plan.warm import warm_access

    warm_access()
    evaluate(county, catalog)
    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counties", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--county", default=demo_county.DEFAULT_COUNTY)
    parser.add_argument("--seed", type=int, default=demo_county.DEFAULT_SEED)
    args = parser.parse_args()
    catalog = load_catalog()

    started = time.perf_counter()
    counties = [county_inputs(args.county, args.seed + k, catalog)
                for k in range(args.counties)]
    generated_s = time.perf_counter() - started
    nodes = [c["network"].node_count for c in counties]
    communities = [c["communities"].height for c in counties]
    facilities = [c["facilities"].height for c in counties]
    print(f"{args.counties} synthetic counties of the demo's size (county {args.county}, "
          f"seeds {args.seed}…{args.seed + args.counties - 1}), generated in "
          f"{generated_s:.1f} s")
    print(f"  per county: {statistics.median(nodes):,.0f} street nodes, "
          f"{statistics.median(communities):,.0f} communities, "
          f"{statistics.median(facilities):,.0f} facilities in service (medians); "
          f"{sum(communities):,} communities in all")

    _load_kernels(counties[0], catalog)  # imports and the first call outside the clock
    per_county = []
    started = time.perf_counter()
    local_results = []
    for county in counties:
        one = time.perf_counter()
        local_results.append(evaluate(county, catalog))
        per_county.append(time.perf_counter() - one)
    local_s = time.perf_counter() - started

    from distributed import Client, LocalCluster

    # one thread per worker for Polars and Numba too: the workers share the cores
    single = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with LocalCluster(n_workers=args.workers, threads_per_worker=1,  # type: ignore[no-untyped-call]
                      processes=True, dashboard_address=None, env=single) as cluster, \
            Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.run(_load_kernels, counties[0], catalog)
        started = time.perf_counter()
        futures = [client.submit(evaluate, county, catalog, pure=False) for county in counties]
        dask_results = client.gather(futures)
        dask_s = time.perf_counter() - started

    same = all(a.equals(b) for a, b in zip(local_results, dask_results, strict=True))
    mean = local_s / args.counties
    print(f"\n== life circles, {args.counties} counties ==")
    print(f"  one process          {local_s:8.2f} s   {mean * 1000:8.1f} ms per county "
          f"(median {statistics.median(per_county) * 1000:.1f}, "
          f"p90 {np.percentile(per_county, 90) * 1000:.1f})")
    print(f"  LocalCluster, {args.workers} workers {dask_s:6.2f} s   "
          f"{dask_s / args.counties * 1000:8.1f} ms per county (wall clock; inputs shipped "
          f"to the workers)   {'equal tables' if same else 'TABLES DIFFER'}")
    print(f"  ratio one process / cluster: {local_s / dask_s:.2f}×")
    print(f"\n  extrapolated to the nation's {NATION_COUNTIES:,} counties: "
          f"{NATION_COUNTIES * mean / 60:.1f} min in one process, "
          f"{NATION_COUNTIES * dask_s / args.counties / 60:.1f} min on {args.workers} workers")
    print(f"  (load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    if not same:
        raise SystemExit("the cluster's tables differ from the one-process tables")


if __name__ == "__main__":
    main()
