"""Short boards (补短板): the units that fail a target, ranked by gap × people affected.

For each indicator with a target, a division fails when its value does not reach the
effective target.  ``gap`` is the distance to the target in the indicator's unit,
``people`` the indicator's affected group in the division (residents by default,
aged 60+ for elderly indicators …), and the ranking key ``gap × people``.  ``need`` is
what would close the gap in the numerator's terms::

    need = target × denominator / factor − numerator      (direction ≥; ≤ mirrored)

so a village without a facility needs one facility, a street short of floor area needs
so many m².  The list feeds the short-board project and the planners' siting scenarios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from shequ.indicators.definitions import Indicator, IndicatorCatalog

SHORT_BOARD_SCHEMA: dict[str, pl.DataType] = {
    "indicator": pl.String(), "division_code": pl.String(), "name": pl.String(),
    "level": pl.Int8(), "period": pl.Int32(), "value": pl.Float64(),
    "target": pl.Float64(), "target_jurisdiction": pl.String(), "gap": pl.Float64(),
    "people": pl.Float64(), "score": pl.Float64(), "need": pl.Float64(),
    "action": pl.String(), "rank": pl.Int32(),
}


def _need(indicator: Indicator, numerator: float, denominator: float | None,
          target: float) -> float:
    factor = indicator.definition.factor
    required = target * (denominator if denominator is not None else 1.0) / factor
    if indicator.direction == "<=":
        return max(0.0, numerator - required)
    return abs(required - numerator) if indicator.direction == "=" else max(
        0.0, required - numerator)


def _action(indicator: Indicator, *, code: str, name: str, level: int, numerator: float,
            need: float, people: float, lang: str) -> str:
    zh = lang.startswith("zh")
    people_text = f"{people:,.0f}"
    affected = {"residents": ("名居民", "residents"), "age_60_plus": ("名60岁以上老人",
                "residents aged 60+"), "age_0_2": ("名0–2岁婴幼儿", "children aged 0–2"),
                "age_6_14": ("名6–14岁儿童", "children aged 6–14")}.get(
        indicator.affected, ("人", "people"))
    gap_text = indicator.gap(lang)
    if (level == 5 and gap_text and numerator == 0
            and indicator.definition.numerator_dimension == "units"):
        if zh:
            return f"{name}（{code}）{gap_text}；{people_text}{affected[0]}"
        return f"{name} ({code}) {gap_text}; {people_text} {affected[1]}"
    amount = f"{math.ceil(need):,}" if need >= 1 else f"{need:,.2f}"
    verb = ("减少" if indicator.direction == "<=" else "增加") if zh else (
        "fewer" if indicator.direction == "<=" else "more")
    if zh:
        return f"{name}（{code}）需{verb}{amount}{indicator.numerator_unit(lang)}；" \
               f"{people_text}{affected[0]}"
    return f"{name} ({code}) needs {amount} {verb} {indicator.numerator_unit(lang)}; " \
           f"{people_text} {affected[1]}"


def short_boards(status: pl.DataFrame, catalog: IndicatorCatalog, *, divisions: pl.DataFrame,
                 people: pl.DataFrame, lang: str = "zh-CN", levels: Sequence[int] = (5,),
                 indicators: Sequence[str] | None = None, prefix: str = "",
                 limit: int | None = None) -> pl.DataFrame:
    """Failing divisions per indicator, ranked by ``gap × people`` (rank 1 = worst).

    ``status`` comes from :func:`shequ.indicators.targets.with_status`; ``divisions`` has
    ``code, name``; ``people`` has ``division_code`` and the person measures (see
    :func:`shequ.indicators.engine.people_by_division`).
    """
    chosen = set(indicators) if indicators else set(catalog.indicators)
    table = status.filter(pl.col("indicator").is_in(list(chosen)),
                          pl.col("level").is_in(list(levels)),
                          pl.col("division_code").str.starts_with(prefix),
                          pl.col("value").is_not_null(), pl.col("target").is_not_null())
    tol = catalog.status_rules.equal_tolerance
    v, t, d = pl.col("value"), pl.col("target"), pl.col("direction")
    gap = (pl.when(d == ">=").then(t - v).when(d == "<=").then(v - t)
           .otherwise((v - t).abs()))
    table = table.with_columns(gap.alias("gap")).filter(pl.col("gap") > tol)
    names = divisions.select(pl.col("code").alias("division_code"), "name")
    table = table.join(names, on="division_code", how="left").join(
        people.drop("level", strict=False), on="division_code", how="left")
    rows = []
    for row in table.iter_rows(named=True):
        indicator = catalog.indicator(row["indicator"])
        crowd = float(row.get(indicator.affected) or 0.0)
        need = _need(indicator, row["numerator"], row["denominator"], row["target"])
        rows.append({
            "indicator": row["indicator"], "division_code": row["division_code"],
            "name": row["name"] or row["division_code"], "level": row["level"],
            "period": row["period"], "value": row["value"], "target": row["target"],
            "target_jurisdiction": row["target_jurisdiction"], "gap": row["gap"],
            "people": crowd, "score": row["gap"] * crowd, "need": need,
            "action": _action(indicator, code=row["division_code"],
                              name=row["name"] or row["division_code"], level=row["level"],
                              numerator=row["numerator"], need=need, people=crowd, lang=lang),
            "rank": 0,
        })
    if not rows:
        return pl.DataFrame(schema=SHORT_BOARD_SCHEMA)
    frame = pl.DataFrame(rows, schema=SHORT_BOARD_SCHEMA)
    frame = frame.sort(["indicator", "score", "division_code"],
                       descending=[False, True, False]).with_columns(
        pl.col("score").rank("ordinal", descending=True).over("indicator").cast(pl.Int32)
        .alias("rank"))
    if limit is not None:
        frame = frame.filter(pl.col("rank") <= limit)
    return frame


__all__ = ["SHORT_BOARD_SCHEMA", "short_boards"]
