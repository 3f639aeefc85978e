"""Completeness, timeliness and sign-off rolled up the hierarchy: a pure core over tables.

For every division at every level above the communities (and the nation, code ``""``)::

    expected  = number of communities and villages under it that the round asks
    reported  = those whose form is submitted or approved
    on_time   = those first submitted on or before the due date
    approved  = those signed off by the last sign-off level
    completeness = reported / expected,  timeliness = on_time / expected

A community's own row has expected 1.  Codes are 12-digit division codes, so the unit's
ancestor at level L is its first ``PREFIX_LENGTH[L]`` digits padded with zeros; one group
by per level serves the whole nation (668,389 units) in well under a second.
"""

from __future__ import annotations

import polars as pl

# Digits of the code that name the ancestor at each level (0 is the nation).
PREFIX_LENGTH = {0: 0, 1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
ROLLUP_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.String(), "level": pl.Int64(), "expected": pl.Int64(),
    "reported": pl.Int64(), "on_time": pl.Int64(), "approved": pl.Int64(),
}
FORM_SCHEMA: dict[str, pl.DataType] = {
    "division_code": pl.String(), "reported": pl.Boolean(), "on_time": pl.Boolean(),
    "approved": pl.Boolean(),
}


def roll_up(units: pl.Series, forms: pl.DataFrame, *, levels: tuple[int, ...] = (0, 1, 2, 3, 4)
            ) -> pl.DataFrame:
    """Counts per division at ``levels`` (see the module docstring).

    ``units`` are the codes of the communities the round asks; ``forms`` has one row per
    unit that has a form (``FORM_SCHEMA``); forms of units not asked are left out.
    """
    table = pl.DataFrame({"division_code": units.cast(pl.String)}).join(
        forms.select(list(FORM_SCHEMA)), on="division_code", how="left").with_columns(
        pl.col("reported", "on_time", "approved").fill_null(value=False).cast(pl.Int64))
    parts = []
    for level in levels:
        digits = PREFIX_LENGTH[level]
        code = (pl.col("division_code").str.slice(0, digits).str.pad_end(12, "0")
                if level else pl.lit(""))
        parts.append(table.group_by(code.alias("code")).agg(
            pl.len().cast(pl.Int64).alias("expected"), pl.col("reported").sum(),
            pl.col("on_time").sum(), pl.col("approved").sum(),
        ).with_columns(pl.lit(level, dtype=pl.Int64).alias("level")))
    if not parts:
        return pl.DataFrame(schema=ROLLUP_SCHEMA)
    return pl.concat([p.select(list(ROLLUP_SCHEMA)) for p in parts]).sort("level", "code")


__all__ = ["FORM_SCHEMA", "PREFIX_LENGTH", "ROLLUP_SCHEMA", "roll_up"]
