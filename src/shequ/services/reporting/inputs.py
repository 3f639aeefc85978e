"""Indicator inputs from a file: the import path beside the forms and the API.

A CSV or XLSX table with the columns ``division_code``, ``period``, ``measure`` and
``value`` (one row per unit, year and measure) is checked whole — every measure declared
by the indicator catalog (N3's ``residential_floor_area`` and
``commercial_service_floor_area``, a province's own), every code a division in force,
every value a figure of 0 or more — and written with
:func:`shequ.indicators.store.put_inputs`; one bad row and nothing is written.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.errors import Problem, ValidationError
from shequ.indicators.definitions import IndicatorCatalog
from shequ.indicators.store import put_inputs
from shequ.registry import queries
from shequ.registry.models import MAX_PERIOD, MIN_PERIOD, Division

COLUMNS = ("division_code", "period", "measure", "value")
MAX_PROBLEMS = 50


def read_inputs(path: Path) -> pl.DataFrame:
    """The file's rows as text columns (CSV or XLSX)."""
    if path.suffix.lower() == ".xlsx":
        table = pl.read_excel(path, infer_schema_length=0)
    else:
        table = pl.read_csv(path, infer_schema_length=0)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValidationError([Problem(path.name, f"missing column(s) {', '.join(missing)}",
                                       hint=f"the columns are {', '.join(COLUMNS)}",
                                       code="reporting.missing_columns",
                                       params={"value": ", ".join(missing)})])
    return table.select(pl.col(c).cast(pl.String) for c in COLUMNS)


def import_inputs(session: Session, indicators: IndicatorCatalog, table: pl.DataFrame, *,
                  source: str) -> int:
    """Check every row, then write them all; the number of values written."""
    known = set(session.scalars(select(Division.code).where(
        queries.valid_on(queries.today()))))
    problems: list[Problem] = []
    rows: list[tuple[str, int, str, float]] = []
    for number, (code, period, measure, value) in enumerate(table.iter_rows(), start=2):
        found: list[Problem] = []
        if (code or "").strip() not in known:
            found.append(Problem(source, f"no division {code!r} in force", row=number,
                                 column="division_code", code="reporting.unknown_division",
                                 params={"value": code or ""}))
        if (measure or "").strip() not in indicators.inputs:
            found.append(Problem(source, f"{measure!r} is no input of the indicators",
                                 row=number, column="measure", code="reporting.unknown_measure",
                                 params={"value": measure or "",
                                         "known": ", ".join(sorted(indicators.inputs))}))
        try:
            year = int((period or "").strip())
            if not MIN_PERIOD <= year <= MAX_PERIOD:
                raise ValueError(year)
        except ValueError:
            found.append(Problem(source, f"{period!r} is not a year", row=number,
                                 column="period", code="not_a_number",
                                 params={"value": period or ""}))
            year = 0
        try:
            figure = float((value or "").strip())
            if not math.isfinite(figure) or figure < 0:
                raise ValueError(figure)
        except ValueError:
            found.append(Problem(source, f"{value!r} is not a figure of 0 or more", row=number,
                                 column="value", code="reporting.not_a_figure",
                                 params={"value": value or ""}))
            figure = 0.0
        problems += found
        if not found:
            rows.append(((code or "").strip(), year, (measure or "").strip(), figure))
    if problems:
        raise ValidationError(problems[:MAX_PROBLEMS], summary=(
            f"{source}: {len(problems)} problem(s); nothing was written"))
    return put_inputs(session, rows, source=source)


__all__ = ["COLUMNS", "import_inputs", "read_inputs"]
