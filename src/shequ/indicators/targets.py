"""Targets cascaded down the hierarchy, projections to the target year, and status.

Effective target of (indicator, division): the rule of the *deepest* jurisdiction whose
code prefix covers the division (a county's rule beats its province's, which beats the
nation's).  A province's target therefore holds for its prefectures, counties, streets
and communities unless a lower jurisdiction sets its own, and for no one else.

Projection: the least-squares line through the (period, value) history,
``value(y) = a + b·y`` with ``b = (nΣxy − ΣxΣy) / (nΣx² − (Σx)²)``, evaluated at the
target year; with a single period the projection is the current value (no trend).

Status, for direction ``>=`` (``<=`` mirrored; ``=`` uses the distance to the target):

* ``met``       the latest value reaches the target;
* ``on_track``  not yet, but the projection reaches it by the target year;
* ``at_risk``   the projection closes at least ``at_risk_share`` of the remaining gap;
* ``behind``    it closes less (or the trend points away);
* ``no_target`` / ``no_data`` when there is nothing to compare.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import polars as pl

from shequ.indicators.definitions import NATION_CODE, IndicatorCatalog
from shequ.registry.codes import LEVEL_DIGITS, level_of


class Status(StrEnum):
    """Where an indicator stands against its target."""

    MET = "met"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BEHIND = "behind"
    NO_TARGET = "no_target"
    NO_DATA = "no_data"


TARGET_SCHEMA: dict[str, pl.DataType] = {
    "indicator": pl.String(), "division_code": pl.String(), "target": pl.Float64(),
    "target_year": pl.Int32(), "target_jurisdiction": pl.String(),
    "attribute": pl.String(),
}


def _prefix(jurisdiction: str) -> str:
    return "" if jurisdiction == NATION_CODE else jurisdiction[:LEVEL_DIGITS[level_of(
        jurisdiction)]]


def effective_targets(catalog: IndicatorCatalog, division_codes: pl.Series) -> pl.DataFrame:
    """Each (indicator, division) with its effective target and the jurisdiction that set it.

    Divisions outside an indicator's scope get no row; divisions no rule covers get a row
    with null target.
    """
    codes = division_codes.unique()
    frames = []
    for indicator in catalog.indicators.values():
        in_scope = codes.filter(codes.str.starts_with(_prefix(indicator.scope))
                                & ((codes != NATION_CODE) | (indicator.scope == NATION_CODE)))
        n = len(in_scope)
        target = np.full(n, np.nan)
        year = np.full(n, indicator.target_year, dtype=np.int32)
        who = np.full(n, None, dtype=object)
        attribute = np.full(n, indicator.attribute, dtype=object)
        for rule in sorted(catalog.rules_for(indicator.code), key=lambda r: r.depth):
            prefix = _prefix(rule.jurisdiction)
            mask = in_scope.str.starts_with(prefix).to_numpy()
            if rule.jurisdiction != NATION_CODE:
                mask &= (in_scope != NATION_CODE).to_numpy()
            target[mask] = rule.target
            year[mask] = rule.target_year
            who[mask] = rule.jurisdiction
            attribute[mask] = rule.attribute or indicator.attribute
        frames.append(pl.DataFrame({
            "indicator": pl.Series([indicator.code] * n, dtype=pl.String),
            "division_code": in_scope,
            "target": pl.Series(target).fill_nan(None),
            "target_year": pl.Series(year, dtype=pl.Int32),
            "target_jurisdiction": pl.Series(who.tolist(), dtype=pl.String),
            "attribute": pl.Series(attribute.tolist(), dtype=pl.String),
        }))
    if not frames:
        return pl.DataFrame(schema=TARGET_SCHEMA)
    return pl.concat(frames)


def project(history: pl.DataFrame) -> pl.DataFrame:
    """Linear-trend coefficients per (indicator, division) from rows with a value.

    ``history`` has ``indicator, division_code, period, value``; the result has
    ``indicator, division_code, periods, intercept, slope`` (slope 0 with one period).
    """
    x = pl.col("period").cast(pl.Float64)
    y = pl.col("value")
    grouped = (history.filter(pl.col("value").is_not_null())
               .group_by("indicator", "division_code")
               .agg(pl.len().alias("periods"), x.sum().alias("sx"), y.sum().alias("sy"),
                    (x * y).sum().alias("sxy"), (x * x).sum().alias("sxx")))
    n = pl.col("periods").cast(pl.Float64)
    det = n * pl.col("sxx") - pl.col("sx") ** 2
    slope = pl.when(det.abs() > 1e-12).then(
        (n * pl.col("sxy") - pl.col("sx") * pl.col("sy")) / det).otherwise(0.0)
    return grouped.with_columns(slope.alias("slope")).with_columns(
        ((pl.col("sy") - pl.col("slope") * pl.col("sx")) / n).alias("intercept"),
    ).select("indicator", "division_code", "periods", "intercept", "slope")


def with_status(results: pl.DataFrame, catalog: IndicatorCatalog, *,
                history: pl.DataFrame | None = None) -> pl.DataFrame:
    """The latest period of each (indicator, division) with target, projection and status.

    ``results`` are engine rows; ``history`` (same columns, e.g. earlier stored runs) is
    added to the trend but never overrides a value of ``results``.
    """
    rows = results.select("indicator", "division_code", "level", "period", "numerator",
                          "denominator", "value")
    past = rows
    if history is not None and len(history):
        older = history.select(rows.columns).cast(dict(rows.schema))  # type: ignore[arg-type]
        older = older.join(rows.select("indicator", "division_code", "period"),
                           on=["indicator", "division_code", "period"], how="anti")
        past = pl.concat([rows, older])
    latest = rows.sort("period").group_by("indicator", "division_code").last()
    targets = effective_targets(catalog, latest["division_code"])
    trend = project(past.select("indicator", "division_code", "period", "value"))
    table = (latest.join(targets, on=["indicator", "division_code"], how="left")
             .join(trend, on=["indicator", "division_code"], how="left"))
    table = table.with_columns(
        (pl.col("intercept") + pl.col("slope") * pl.col("target_year").cast(pl.Float64))
        .alias("projected"))
    directions = {code: ind.direction for code, ind in catalog.indicators.items()}
    table = table.with_columns(
        pl.col("indicator").replace_strict(directions, default=">=").alias("direction"))
    share = catalog.status_rules.at_risk_share
    tol = catalog.status_rules.equal_tolerance
    v, t, p = pl.col("value"), pl.col("target"), pl.col("projected")
    up, down, equal = (pl.col("direction") == ">="), (pl.col("direction") == "<="), (
        pl.col("direction") == "=")
    met = (up & (v >= t - tol)) | (down & (v <= t + tol)) | (equal & ((v - t).abs() <= tol))
    on_track = (up & (p >= t - tol)) | (down & (p <= t + tol)) | (
        equal & ((p - t).abs() <= tol))
    closes = ((up & (p - v >= share * (t - v))) | (down & (v - p >= share * (v - t)))
              | (equal & ((p - t).abs() <= (1 - share) * (v - t).abs())))
    status = (pl.when(t.is_null()).then(pl.lit(Status.NO_TARGET.value))
              .when(v.is_null()).then(pl.lit(Status.NO_DATA.value))
              .when(met).then(pl.lit(Status.MET.value))
              .when(on_track).then(pl.lit(Status.ON_TRACK.value))
              .when(closes).then(pl.lit(Status.AT_RISK.value))
              .otherwise(pl.lit(Status.BEHIND.value)))
    return table.with_columns(status.alias("status")).select(
        "indicator", "division_code", "level", "period", "numerator", "denominator", "value",
        "target", "target_year", "target_jurisdiction", "attribute", "direction",
        "projected", "periods", "status").sort("indicator", "division_code")


def progress(value: float | None, target: float | None, direction: str) -> float | None:
    """How far toward the target, 0–1.

    value/target for ≥, target/value for ≤, 1 − |value − target|/|target| for =.
    """
    if value is None or target is None:
        return None
    if direction == ">=":
        return 1.0 if value >= target else max(0.0, value / target) if target > 0 else 0.0
    if direction == "<=":
        return 1.0 if value <= target else (target / value if value > 0 else 0.0)
    if target == 0:
        return 1.0 if value == 0 else 0.0
    return max(0.0, 1.0 - abs(value - target) / abs(target))


__all__ = ["Status", "effective_targets", "progress", "project", "with_status"]
