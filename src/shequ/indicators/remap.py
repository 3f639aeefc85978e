"""Figures on any hierarchy: data of a date D (a year's figures: 31 December) are mapped to
the hierarchy of another date H through the division change links.

Pure core: polars tables in, polars tables out.

When H is later than D, the changes that took effect in (D, H] are replayed in date order:
a rename or recode takes the data 1 → 1, a merge n → 1 (so the successor's value is the
sum of its predecessors'), a split 1 → n by the stored shares.  When H is earlier, the
changes in (H, D] are undone latest first: a split's part goes back to the unit it came
from, a merge's successor to the predecessor whose code it continues (else to its
predecessors in equal parts).  Counted measures (people, workers, inputs) are multiplied
by the weight; a facility is counted whole, in the target with the largest weight.
Facilities are kept on the current codes (a change carries them), so they are mapped
from today back to H, and any left on a code no longer in force go forward to H.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

LINK_SCHEMA: dict[str, pl.DataType] = {
    "predecessor_code": pl.String(), "successor_code": pl.String(), "share": pl.Float64(),
    "effective_on": pl.Date(),
}
MAPPING_SCHEMA: dict[str, pl.DataType] = {
    "division_code": pl.String(), "target": pl.String(), "weight": pl.Float64(),
}
MAX_ROUNDS = 64  # the longest chain of changes followed
STEP_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "dest": pl.String(), "step": pl.Float64(),
    "effective_on": pl.Date(),
}


def _steps(links: pl.DataFrame, *, since: dt.date, as_of: dt.date) -> pl.DataFrame:
    """``source → dest, step`` of the changes between the two dates, in replay order."""
    links = links.cast(LINK_SCHEMA).filter(  # type: ignore[arg-type]
        pl.col("successor_code").is_not_null())
    if since < as_of:
        forward = links.filter((pl.col("effective_on") > since)
                               & (pl.col("effective_on") <= as_of))
        return forward.select(pl.col("predecessor_code").alias("source"),
                              pl.col("successor_code").alias("dest"),
                              pl.col("share").fill_null(1.0).alias("step"),
                              "effective_on").sort("effective_on")
    back = links.filter((pl.col("effective_on") > as_of) & (pl.col("effective_on") <= since))
    event = ["successor_code", "effective_on"]
    back = back.with_columns(
        (pl.col("predecessor_code") == pl.col("successor_code")).any().over(event)
        .alias("continues"), pl.len().over(event).alias("parts"))
    back = back.filter(~pl.col("continues")
                       | (pl.col("predecessor_code") == pl.col("successor_code")))
    return back.select(pl.col("successor_code").alias("source"),
                       pl.col("predecessor_code").alias("dest"),
                       pl.when(pl.col("continues")).then(1.0)
                       .otherwise(1.0 / pl.col("parts")).alias("step"),
                       "effective_on").sort("effective_on", descending=True)


def code_mapping(codes: pl.Series, links: pl.DataFrame, *, since: dt.date, as_of: dt.date
                 ) -> pl.DataFrame:
    """``division_code → target, weight`` for the codes of ``codes`` that the changes
    between ``since`` (the data's date) and ``as_of`` (the hierarchy's) move; the weights
    of one code add up to 1.  Codes no change touches are left out (they stay)."""
    if links.is_empty() or since == as_of:
        return pl.DataFrame(schema=MAPPING_SCHEMA)
    steps = _steps(links, since=since, as_of=as_of).cast(STEP_SCHEMA)  # type: ignore[arg-type]
    if steps.is_empty():
        return pl.DataFrame(schema=MAPPING_SCHEMA)
    # only a code that some step starts from can move (the rest stay as they are)
    forward = since < as_of
    current = (pl.DataFrame({"division_code": codes.cast(pl.String)}).unique()
               .join(steps.select(pl.col("source").alias("division_code")).unique(),
                     on="division_code", how="semi")
               .with_columns(pl.col("division_code").alias("target"),
                             pl.lit(1.0).alias("weight"),
                             pl.lit(since if forward else since + dt.timedelta(days=1))
                             .cast(pl.Date).alias("at")))
    if current.is_empty():
        return pl.DataFrame(schema=MAPPING_SCHEMA)
    # each round takes every row one change further (its next change after the date it
    # arrived on; back in time, its previous one): as many rounds as the longest chain
    for _ in range(MAX_ROUNDS):
        candidates = current.with_row_index("row").join(
            steps, left_on="target", right_on="source", how="inner").filter(
            (pl.col("effective_on") > pl.col("at")) if forward
            else (pl.col("effective_on") < pl.col("at")))
        if candidates.is_empty():
            break
        chosen = (pl.col("effective_on").min() if forward
                  else pl.col("effective_on").max()).over("row")
        candidates = candidates.filter(pl.col("effective_on") == chosen)
        stay = current.with_row_index("row").join(candidates.select("row").unique(),
                                                  on="row", how="anti").drop("row")
        moved = candidates.select("division_code", pl.col("dest").alias("target"),
                                  (pl.col("weight") * pl.col("step")).alias("weight"),
                                  pl.col("effective_on").alias("at"))
        current = pl.concat([stay, moved])
    current = current.group_by("division_code", "target").agg(pl.col("weight").sum())
    changed = current.filter((pl.col("division_code") != pl.col("target"))
                             | (pl.col("weight") != 1.0))
    touched = changed.select("division_code").unique()
    return (current.join(touched, on="division_code", how="semi")
            .cast(MAPPING_SCHEMA)  # type: ignore[arg-type]
            .sort("division_code", "target"))


def remap_counts(table: pl.DataFrame, mapping: pl.DataFrame, columns: list[str]
                 ) -> pl.DataFrame:
    """Rows on a mapped code become one row per target, ``columns`` times the weight (the
    other rows keep their order; the moved ones follow them)."""
    if mapping.is_empty() or table.is_empty():
        return table
    mapped = pl.col("division_code").is_in(mapping["division_code"].unique().implode())
    hit = table.filter(mapped)
    if hit.is_empty():
        return table
    moved = hit.join(mapping, on="division_code", how="inner").with_columns(
        pl.col("target").alias("division_code"),
        *((pl.col(c) * pl.col("weight")).cast(table.schema[c]).alias(c) for c in columns
          if c in table.columns)).select(table.columns)
    return pl.concat([table.filter(~mapped), moved])


def remap_whole(table: pl.DataFrame, mapping: pl.DataFrame) -> pl.DataFrame:
    """Rows on a mapped code move whole to the target of the largest weight."""
    if mapping.is_empty() or table.is_empty():
        return table
    best = (mapping.sort("weight", "target", descending=[True, False])
            .group_by("division_code", maintain_order=True).first())
    return table.with_columns(pl.col("division_code").cast(pl.String).replace(
        best["division_code"], best["target"]))


def to_hierarchy(table: pl.DataFrame, links: pl.DataFrame, *, as_of: dt.date,
                 columns: list[str]) -> pl.DataFrame:
    """A yearly table (``division_code, period`` …) on the hierarchy of ``as_of``: each
    year's rows mapped from that year's 31 December."""
    if links.is_empty() or table.is_empty():
        return table
    parts = []
    for (period,), rows in table.group_by("period", maintain_order=True):
        if period is None:
            parts.append(rows)
            continue
        mapping = code_mapping(rows["division_code"], links,
                               since=dt.date(int(str(period)), 12, 31), as_of=as_of)
        parts.append(remap_counts(rows, mapping, columns))
    return pl.concat(parts)


def facilities_to_hierarchy(table: pl.DataFrame, links: pl.DataFrame, in_force: pl.Series,
                            *, as_of: dt.date) -> pl.DataFrame:
    """Facilities (on today's codes) on the hierarchy of ``as_of``: back from today, then
    any still on a code not in force there forward from the start."""
    if links.is_empty() or table.is_empty():
        return table
    latest = links["effective_on"].max()
    assert isinstance(latest, dt.date)
    if latest > as_of:
        table = remap_whole(table, code_mapping(table["division_code"], links,
                                                since=latest, as_of=as_of))
    stray = table.filter(~pl.col("division_code").is_in(in_force.implode()))
    if stray.height:
        table = remap_whole(table, code_mapping(stray["division_code"], links,
                                                since=dt.date.min, as_of=as_of))
    return table


__all__ = ["LINK_SCHEMA", "MAPPING_SCHEMA", "code_mapping", "facilities_to_hierarchy",
           "remap_counts", "remap_whole", "to_hierarchy"]
