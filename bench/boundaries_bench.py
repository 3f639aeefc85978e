"""Assign points to the division boundaries that hold them, on SQLite and PostgreSQL/PostGIS.

Data (seeded): ``--polygons`` Voronoi cells of uniform random seeds over a 2° × 2° box
(the size of a prefecture; about 200 m across each at 100,000 cells), stored as level-5
division boundaries through Shequ's own writer; ``--points`` uniform random points in a
box 2% larger (so some fall outside every cell).

Timed (median of ``--repeats``):

* **core** — :func:`shequ.registry.boundaries.assign_points` on the shapes in memory
  (STRtree built inside the timing);
* **SQLite** — :func:`shequ.registry.boundaries.locate_points` on a migrated SQLite file:
  read the boundaries' WKB, parse, index, assign;
* **PostGIS** — the same function on PostgreSQL: the boundaries meeting the points' box
  selected through the GiST index, read, parsed and assigned in process (a million points
  all in PostGIS, joined through a GiST index, took about ten times as long);
* **peer** — ``geopandas.sjoin(points, cells, predicate="within")`` from GeoDataFrames
  already built (its parse and index inside the timing, like ours).

Every back-end's answer is checked against the core's (0 mismatches expected; a point
exactly on a shared edge may go either way in the peer, which keeps both matches).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from sqlalchemy import insert, text

from scratch import database
from shequ.registry.boundaries import OUTSIDE, assign_points, locate_points, store_boundaries
from shequ.registry.db import make_engine, session_factory, upgrade
from shequ.registry.models import Division

TARGET_S = 10.0
ON = dt.date(2020, 1, 1)
BOX = (114.0, 37.0, 116.0, 39.0)


def seeded_cells(n: int, seed: int) -> np.ndarray:
    """``n`` Voronoi cells tiling BOX, in the order of their seeds."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOX
    seeds = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    frame = shapely.box(*BOX)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                       extend_to=frame, ordered=True))
    return np.asarray(shapely.intersection(cells, frame))


def seeded_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    x0, y0, x1, y1 = BOX
    pad = 0.01 * (x1 - x0)
    return rng.uniform(x0 - pad, x1 + pad, n), rng.uniform(y0 - pad, y1 + pad, n)


def codes_for(n: int) -> list[str]:
    """12-digit level-5 codes in ascending order (so the lowest index is the lowest code)."""
    return [f"1301{1 + i // 10000:02d}{1 + (i // 100) % 100:03d}{1 + i % 100:03d}"
            for i in range(n)]


def load(url: str, cells: np.ndarray, codes: list[str]) -> float:
    """Migrate ``url`` and store the cells as boundaries; the seconds it took."""
    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.execute(insert(Division), [
            {"code": c, "level": 5, "parent_code": c[:9] + "000", "name": f"cell {i}",
             "kind": "villagers_committee", "valid_from": ON, "code_source": "derived",
             "source": "bench", "synthetic_geography": True} for i, c in enumerate(codes)])
        units = session.query(Division).order_by(Division.code).all()
        store_boundaries(session, [(u, shapely.MultiPolygon([cell]))
                                   for u, cell in zip(units, cells, strict=True)],
                         source="bench: seeded Voronoi cells", synthetic=True)
    engine.dispose()
    return time.perf_counter() - started


def timed(work: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall seconds of ``work`` and its last result; the median CPU seconds of this
    process are printed beside it (the machine is shared: CPU time shows the work when
    other jobs stretch the wall clock; PostgreSQL's own CPU is not in it)."""
    times, cpu, result = [], [], None
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = work()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    print(f"    (process CPU {statistics.median(cpu):.2f} s)")
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polygons", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()

    cells = seeded_cells(args.polygons, args.seed)
    xs, ys = seeded_points(args.points, args.seed)
    codes = codes_for(len(cells))
    print(f"{len(cells):,} seeded Voronoi cells, {args.points:,} points, "
          f"median of {args.repeats}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")

    core_s, core = timed(lambda: assign_points(xs, ys, cells), args.repeats)
    expected = np.asarray([codes[i] if i != OUTSIDE else None for i in core], dtype=object)
    print(f"core assign_points            {core_s:7.2f} s  "
          f"({int(np.count_nonzero(core == OUTSIDE)):,} outside every cell)")

    import geopandas as gpd  # type: ignore[import-untyped]

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=4326)
    polygons = gpd.GeoDataFrame({"code": codes}, geometry=cells, crs=4326)
    peer_s, joined = timed(lambda: gpd.sjoin(points, polygons, predicate="within",
                                             how="left"), args.repeats)
    print(f"peer geopandas.sjoin          {peer_s:7.2f} s  (core / peer "
          f"{core_s / peer_s:.2f})")
    first = joined[~joined.index.duplicated(keep="first")]
    peer_codes = first["code"].to_numpy(dtype=object)
    peer_codes = np.where(first["code"].isna().to_numpy(), None, peer_codes)
    print(f"  peer disagrees on {int(np.count_nonzero(peer_codes != expected)):,} points "
          "(on shared edges the peer keeps every match)")

    results: dict[str, float] = {}
    for backend in args.backends.split(","):
        url, drop = database(backend)
        try:
            results[backend] = run_backend(url, cells, codes, xs, ys, expected,
                                           args.repeats, peer_s)
        finally:
            drop()
    verdict = ", ".join(f"{b} {s:.2f} s ({'under' if s < TARGET_S else 'OVER'} "
                        f"{TARGET_S:.0f} s)" for b, s in results.items())
    print(f"target: {verdict}")


def run_backend(url: str, cells: np.ndarray, codes: list[str], xs: np.ndarray,
                ys: np.ndarray, expected: np.ndarray, repeats: int, peer_s: float) -> float:
    backend = url.split(":", maxsplit=1)[0].split("+", maxsplit=1)[0]
    load_s = load(url, cells, codes)
    engine = make_engine(url)
    if backend == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("ANALYZE division_boundary"))
            connection.execute(text("ANALYZE division"))
            connection.commit()

    def locate() -> list[str | None]:
        with engine.connect() as connection:
            return locate_points(connection, xs, ys, level=5, as_of=ON)

    seconds, found = timed(locate, repeats)
    engine.dispose()
    mismatches = int((np.asarray(found, dtype=object) != expected).sum())
    print(f"{backend:10} locate_points       {seconds:7.2f} s  (/ peer {seconds / peer_s:.2f}; "
          f"{mismatches} mismatches; loading the boundaries took {load_s:.1f} s)")
    return seconds


if __name__ == "__main__":
    main()
