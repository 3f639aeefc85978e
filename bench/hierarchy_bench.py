"""Benchmark: division changes on the national hierarchy, and figures on another hierarchy.

1. Apply 10,000 change events (renames, merges, splits, recodes, re-parents of villages,
   seeded) to the real national hierarchy (668,389 communities and villages) stored in
   SQLite and PostgreSQL, with a year of population and workforce for every unit and
   synthetic facilities, through :func:`shequ.registry.changes.apply_changes` with every
   table the services carry.  Target: under 60 s.  Peer: the same changes as plain SQL
   (close the version, insert the new one, ``UPDATE … SET division_code`` per table; no
   checks, no shares, no links) in the same process.
2. The national indicators of 2024 on the hierarchy of 2024 (no mapping) and on the
   hierarchy after the changes (every predecessor's figures mapped through the links).
   Target: the second within twice the time of the first.

    PYTHONPATH=. python bench/hierarchy_bench.py [--events 10000] [--backends sqlite,postgres]
                                    [--facilities 300000] [--repeat 3] [--peer]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from typing import cast

import numpy as np
import polars as pl
from sqlalchemy import Engine, Table, insert, select, text, update

import shequ.models  # noqa: F401  (every table, so the services' carried tables exist)
from scratch import database
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.engine import MeasureTables, compute_indicators
from shequ.ingest.national import load_national
from shequ.registry.changes import ChangeEvent, NewUnit, apply_changes
from shequ.registry.db import make_engine, session_factory, upgrade
from shequ.registry.models import Division, Facility, Population, Workforce
from shequ.services.hierarchy import carried_tables

SEED = 20250101
PERIOD = 2024
NATIONAL = ["N1", "N2", "N3", "N4", "N5", "N6", "N7"]


def fill(engine: Engine, *, facilities: int, seed: int) -> pl.DataFrame:
    """The national hierarchy, two years of people and workers per unit (2024, and 2025
    when the changes take effect), and facilities."""
    load_national(engine)
    with engine.connect() as connection:
        units = pl.DataFrame(connection.execute(select(
            Division.code, Division.parent_code, Division.longitude, Division.latitude)
            .where(Division.level == 5).order_by(Division.code)).all(),
            schema=["code", "parent_code", "longitude", "latitude"], orient="row")
    rng = np.random.default_rng(seed)
    codes = units["code"].to_list()
    residents = rng.integers(300, 9000, len(codes))
    with engine.begin() as connection:
        for start in range(0, len(codes), 50_000):
            chunk = range(start, min(start + 50_000, len(codes)))
            # the indicators' year, and the year of the changes (which they carry)
            connection.execute(insert(Population), [
                {"division_code": codes[i], "period": period, "residents": int(residents[i]),
                 "households": int(residents[i] // 2.62), "age_0_2": 0, "age_3_5": 0,
                 "age_6_14": 0, "age_60_plus": int(residents[i] // 5),
                 "age_80_plus": int(residents[i] // 40), "disabled": 0,
                 "assisted_households": 0, "synthetic": True, "source": "bench"}
                for i in chunk for period in (PERIOD, PERIOD + 1)])
            connection.execute(insert(Workforce), [
                {"division_code": codes[i], "period": period, "role": "community_worker",
                 "certification": "none", "headcount": int(2 + residents[i] // 1500),
                 "synthetic": True, "source": "bench"}
                for i in chunk for period in (PERIOD, PERIOD + 1)])
        holders = rng.integers(0, len(codes), facilities)
        for start in range(0, facilities, 50_000):
            connection.execute(insert(Facility), [
                {"type_code": "comprehensive_service_facility", "division_code": codes[h],
                 "name": f"设施{start + k}", "status": "in_service", "floor_area_m2": 300.0,
                 "longitude": None, "latitude": None, "space_for_services": False,
                 "synthetic": True, "source": "bench"}
                for k, h in enumerate(holders[start:start + 50_000])])
    if engine.dialect.name == "postgresql":
        # the planner's statistics of the bulk load, as autovacuum would gather them
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    return units


def events(units: pl.DataFrame, n: int, seed: int) -> list[ChangeEvent]:
    """``n`` changes to distinct villages: 40 % renames, 20 % merges of two siblings,
    15 % splits, 15 % recodes, 10 % re-parents to another township of the county."""
    rng = np.random.default_rng(seed)
    by_parent: dict[str, list[str]] = {}
    for code, parent in units.select("code", "parent_code").iter_rows():
        by_parent.setdefault(parent, []).append(code)
    parents = sorted(p for p, kids in by_parent.items() if len(kids) >= 4)
    rng.shuffle(parents)
    townships_of: dict[str, list[str]] = {}
    for parent in by_parent:
        townships_of.setdefault(parent[:6], []).append(parent)
    used: set[str] = set()
    taken = {c[:9]: {int(k[9:]) for k in kids} for c, kids in by_parent.items()}
    out: list[ChangeEvent] = []
    day0 = dt.date(2025, 1, 1)

    def free(prefix: str, number: int) -> str:
        numbers = taken.setdefault(prefix, set())
        low = 1 if number < 200 else 200 if number < 400 else 400
        candidate = next(k for k in range(low, 999) if k not in numbers)
        numbers.add(candidate)
        return f"{prefix}{candidate:03d}"

    kinds = ["rename"] * 8 + ["merge"] * 4 + ["split"] * 3 + ["recode"] * 3 + ["reparent"] * 2
    for i in range(n):
        parent = parents[i % len(parents)]
        kids = [k for k in by_parent[parent] if k not in used]
        kind = kinds[i % len(kinds)]
        if len(kids) < 2:
            kind = "rename"
        if not kids:
            continue
        on = day0 + dt.timedelta(days=int(rng.integers(0, 365)))
        first = kids[0]
        used.add(first)
        if kind == "rename":
            out.append(ChangeEvent("rename", on, old=(first,), new=(NewUnit(None, f"新名{i}"),)))
        elif kind == "merge":
            second = kids[1]
            used.add(second)
            out.append(ChangeEvent("merge", on, old=(first, second),
                                   new=(NewUnit(first, f"合并{i}"),)))
        elif kind == "split":
            out.append(ChangeEvent("split", on, old=(first,), new=(
                NewUnit(first, None, share=0.6),
                NewUnit(free(first[:9], int(first[9:])), f"分设{i}", share=0.4))))
        elif kind == "recode":
            out.append(ChangeEvent("recode", on, old=(first,),
                                   new=(NewUnit(free(first[:9], int(first[9:])), None),)))
        else:
            others = [t for t in townships_of[parent[:6]] if t != parent]
            if not others:
                out.append(ChangeEvent("rename", on, old=(first,),
                                       new=(NewUnit(None, f"新名{i}"),)))
                continue
            target = others[int(rng.integers(0, len(others)))]
            out.append(ChangeEvent("reparent", on, old=(first,), new=(
                NewUnit(free(target[:9], int(first[9:])), None, parent=target),)))
    return out[:n]


def shequ_apply(engine: Engine, batch: list[ChangeEvent]) -> tuple[float, float, dict[str, int]]:
    """Wall and process CPU seconds of applying ``batch``, and the rows it moved."""
    start, start_cpu = time.perf_counter(), time.process_time()
    with session_factory(engine)() as session, session.begin():
        report = apply_changes(session, batch, source="bench", carried=carried_tables())
    return (time.perf_counter() - start, time.process_time() - start_cpu,
            dict(report.moved))


def plain_sql_apply(engine: Engine, batch: list[ChangeEvent]) -> float:
    """The peer: close, insert, re-point each table's code — no checks, shares or links."""
    start = time.perf_counter()
    tables = [cast(Table, m.__table__) for m in (Facility, Population, Workforce)]
    with engine.begin() as connection:
        for event in batch:
            target = event.new[0].code or event.old[0] if event.new else None
            for old in event.old:
                connection.execute(update(Division).where(
                    Division.code == old, Division.valid_to.is_(None)).values(
                    valid_to=event.on))
            for part in event.new:
                code = part.code or event.old[0]
                connection.execute(insert(Division).values(
                    code=code, level=5, parent_code=code[:9] + "000", name=part.name or "x",
                    kind="villagers_committee", valid_from=event.on, code_source="import",
                    source="bench", synthetic_geography=False))
            if target is None:
                continue
            for table in tables:
                for old in event.old:
                    if old != target:
                        connection.execute(update(table).where(
                            table.c.division_code == old).values(division_code=target))
    return time.perf_counter() - start


def bench_changes(backend: str, n: int, facilities: int, *, peer: bool) -> None:
    url, drop = database(backend)
    try:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        units = fill(engine, facilities=facilities, seed=SEED)
        print(f"[{backend}] filled: {len(units):,} communities, {facilities:,} facilities "
              f"in {time.perf_counter() - started:.1f} s")
        batch = events(units, n, SEED)
        kinds = {k: sum(e.kind == k for e in batch) for k in
                 ("rename", "merge", "split", "recode", "reparent")}
        with engine.connect() as connection:
            total_before = sum(r[0] for r in connection.execute(
                select(Population.residents)).all())
        load = os.getloadavg()[0]
        took, cpu, moved = shequ_apply(engine, batch)
        with engine.connect() as connection:
            total_after = sum(r[0] for r in connection.execute(
                select(Population.residents)).all())
        assert total_after == total_before, (total_before, total_after)
        print(f"[{backend}] Shequ: {len(batch):,} events {kinds} in {took:.1f} s wall, "
              f"{cpu:.1f} s CPU at load average {load:.1f} "
              f"({'meets' if took < 60 else 'MISSES'} the 60 s target); rows moved {moved}; "
              f"residents {total_before:,} before and after")
        engine.dispose()
        if not peer:
            return
        url2, drop2 = database(backend)
        try:
            engine2 = make_engine(url2)
            upgrade(engine2)
            fill(engine2, facilities=facilities, seed=SEED)
            peer_took = plain_sql_apply(engine2, batch)
            engine2.dispose()
            print(f"[{backend}] plain SQL peer: {peer_took:.1f} s; Shequ / peer = "
                  f"{took / peer_took:.2f}")
        finally:
            drop2()
    finally:
        drop()


def bench_remap(repeat: int, n: int) -> None:
    """The national seven of 2024 on its own hierarchy and on the one after the changes."""
    from bench.indicators_bench import national_divisions, synthetic_tables

    divisions = national_divisions()
    tables = synthetic_tables(divisions, facilities=1_000_000, seed=SEED)
    units = divisions.filter(pl.col("level") == 5)
    batch = events(units.select("code", "parent_code", pl.lit(None).alias("longitude"),
                                pl.lit(None).alias("latitude")), n, SEED)
    # the later hierarchy and the links, as the registry would hold them after the batch
    on = dt.date(2025, 6, 30)
    closed: set[str] = set()
    opened: list[tuple[str, str, str | None]] = []
    classes = dict(units.select("code", "urban_rural").iter_rows())
    links: list[tuple[str, str, float, dt.date]] = []
    for event in batch:
        if event.kind == "rename":
            continue
        closed.update(event.old)
        for part in event.new:
            code = part.code or event.old[0]
            opened.append((code, part.parent or code[:9] + "000", classes.get(event.old[0])))
            for old in event.old:
                links.append((old, code, part.share or 1.0, on))
    later = pl.concat([
        divisions.with_columns(pl.lit(None, dtype=pl.Date).alias("valid_from"),
                               pl.when(pl.col("code").is_in(list(closed))).then(pl.lit(on))
                               .otherwise(None).alias("valid_to")),
        pl.DataFrame({"code": [c for c, _, _ in opened], "level": 5,
                      "parent_code": [p for _, p, _ in opened],
                      "urban_rural": [u for _, _, u in opened],
                      "kind": "villagers_committee", "valid_from": on, "valid_to": None},
                     schema_overrides={"valid_to": pl.Date}).unique("code")],
        how="diagonal_relaxed")
    link_table = pl.DataFrame(links, schema={"predecessor_code": pl.String,
                                             "successor_code": pl.String,
                                             "share": pl.Float64, "effective_on": pl.Date},
                              orient="row")
    catalog = load_indicator_catalog().subset(NATIONAL)
    same = MeasureTables(divisions=later, facilities=tables.facilities,
                         population=tables.population, workforce=tables.workforce,
                         access=tables.access, inputs=tables.inputs)
    mapped = MeasureTables(divisions=later, facilities=tables.facilities,
                           population=tables.population, workforce=tables.workforce,
                           access=tables.access, inputs=tables.inputs, links=link_table)
    times: dict[str, list[float]] = {"2024 hierarchy": [], "2025 hierarchy": []}
    cpu: dict[str, list[float]] = {"2024 hierarchy": [], "2025 hierarchy": []}
    load = os.getloadavg()[0]
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        current = compute_indicators(same, catalog, as_of=dt.date(2024, 12, 31),
                                     periods=[PERIOD])
        times["2024 hierarchy"].append(time.perf_counter() - start)
        cpu["2024 hierarchy"].append(time.process_time() - start_cpu)
        start, start_cpu = time.perf_counter(), time.process_time()
        moved = compute_indicators(mapped, catalog, as_of=dt.date(2025, 12, 31),
                                   periods=[PERIOD])
        times["2025 hierarchy"].append(time.perf_counter() - start)
        cpu["2025 hierarchy"].append(time.process_time() - start_cpu)
    nation = {r["indicator"]: r["numerator"] for r in
              current.filter(pl.col("level") == 0).iter_rows(named=True)}
    nation_later = {r["indicator"]: r["numerator"] for r in
                    moved.filter(pl.col("level") == 0).iter_rows(named=True)}
    first = statistics.median(times["2024 hierarchy"])
    second = statistics.median(times["2025 hierarchy"])
    print(f"indicators of {PERIOD}, national seven: on the 2024 hierarchy {first:.2f} s, on "
          f"the 2025 hierarchy ({len(links):,} links) {second:.2f} s; ratio "
          f"{second / first:.2f} ({'meets' if second <= 2 * first else 'MISSES'} the 2x "
          f"target); national numerators equal: N4 {nation['N4']:.0f} / "
          f"{nation_later['N4']:.0f}, N7 {nation['N7']:.0f} / {nation_later['N7']:.0f}; "
          f"CPU {statistics.median(cpu['2024 hierarchy']):.1f} / "
          f"{statistics.median(cpu['2025 hierarchy']):.1f} s (all threads) at load average "
          f"{load:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--facilities", type=int, default=300_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-changes", action="store_true")
    parser.add_argument("--skip-indicators", action="store_true")
    parser.add_argument("--peer", action="store_true",
                        help="also time the plain-SQL peer (fills a second database)")
    args = parser.parse_args()
    if not args.skip_changes:
        for backend in args.backends.split(","):
            bench_changes(backend, args.events, args.facilities, peer=args.peer)
    if not args.skip_indicators:
        bench_remap(args.repeat, args.events)


if __name__ == "__main__":
    main()
