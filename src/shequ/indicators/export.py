"""Reports: CSV and XLSX (one sheet per level), and DHIS2 ``dataValueSets`` JSON.

A report says what it shows: the first XLSX sheet records the run (hierarchy date,
periods, inputs' time stamp, catalog digest) so that the figures can be reproduced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Font

from shequ.indicators.definitions import IndicatorCatalog

LEVEL_NAMES = {0: ("全国", "nation"), 1: ("省级", "province"), 2: ("地级", "prefecture"),
               3: ("县级", "county"), 4: ("乡级", "township"), 5: ("村级", "community")}


def level_sheets(values: pl.DataFrame, catalog: IndicatorCatalog, *, divisions: pl.DataFrame,
                 period: int, lang: str = "zh-CN") -> dict[str, pl.DataFrame]:
    """One wide table per level: division code and name, then one column per indicator."""
    rows = values.filter(pl.col("period") == period)
    names = divisions.select(pl.col("code").alias("division_code"), "name")
    sheets: dict[str, pl.DataFrame] = {}
    for level in sorted(set(rows["level"].to_list())):
        part = rows.filter(pl.col("level") == level)
        wide = part.pivot(on="indicator", index="division_code", values="value")
        ordered = [code for code in catalog.indicators if code in wide.columns]
        wide = wide.join(names, on="division_code", how="left").select(
            "division_code", "name", *ordered).sort("division_code")
        headers = {code: f"{code} {catalog.indicator(code).name(lang)} "
                         f"({catalog.indicator(code).unit})" for code in ordered}
        label = LEVEL_NAMES.get(int(level), (str(level), str(level)))
        sheets[label[0] if lang.startswith("zh") else label[1]] = wide.rename(headers)
    return sheets


def write_xlsx(path: Path, sheets: Mapping[str, pl.DataFrame], *,
               about: Sequence[tuple[str, str]] = ()) -> Path:
    """Write ``sheets`` (name → table) to an XLSX file, after an "about" sheet if given."""
    book = Workbook()
    first = book.active
    if about:
        first.title = "about"
        for key, value in about:
            first.append([key, value])
    else:
        book.remove(first)
    for name, frame in sheets.items():
        sheet = book.create_sheet(title=name[:31])
        sheet.append(list(frame.columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in frame.iter_rows():
            sheet.append([_cell(v) for v in row])
        sheet.freeze_panes = "C2"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):  # NaN has no XLSX form
        return None
    return value


def write_csv(path: Path, frame: pl.DataFrame) -> Path:
    """Write a table as UTF-8 CSV with a byte-order mark (spreadsheet programs need it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + frame.write_csv().encode("utf-8"))
    return path


def format_value(value: float) -> str:
    """A DHIS2 value string: integers without a decimal point, others to 6 places."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def data_value_sets(values: pl.DataFrame) -> dict[str, list[dict[str, str]]]:
    """DHIS2 ``dataValueSets`` JSON: one data value per (indicator, division, period).

    ``dataElement`` is the indicator code, ``orgUnit`` the 12-digit division code,
    ``period`` the year and ``value`` a string; rows without a value are left out.
    """
    rows = values.filter(pl.col("value").is_not_null()).sort(
        "indicator", "division_code", "period")
    return {"dataValues": [
        {"dataElement": row["indicator"], "period": str(row["period"]),
         "orgUnit": row["division_code"], "value": format_value(row["value"])}
        for row in rows.iter_rows(named=True)]}


__all__ = ["LEVEL_NAMES", "data_value_sets", "format_value", "level_sheets", "write_csv",
           "write_xlsx"]
