"""Reading and writing the import/export files: CSV, XLSX and GeoJSON.

Files are CSV (UTF-8, a BOM is accepted, or GB18030/GBK), XLSX (the first sheet, or the
sheet named after the table) or GeoJSON (a FeatureCollection of Points; properties are
the columns).  Reading gives every cell as text with the row number a person sees in
the file; the column rules (:mod:`shequ.registry.rules`) then parse it.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from shequ.errors import Problem, ValidationError
from shequ.registry.rules import Table, cell_text


class FileFormat(StrEnum):
    """Supported file formats, chosen by the file's suffix."""

    CSV = "csv"
    XLSX = "xlsx"
    GEOJSON = "geojson"

    @classmethod
    def of(cls, path: Path) -> FileFormat:
        suffix = path.suffix.lower().lstrip(".")
        if suffix == "json":
            suffix = "geojson"
        try:
            return cls(suffix)
        except ValueError:
            raise ValidationError([Problem(str(path), f"unknown file type '.{suffix}'",
                                           hint="use .csv, .xlsx or .geojson")]) from None


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row as text, with its row number as a person sees it in the file."""

    number: int
    values: dict[str, str]


def read_rows(path: Path, table: Table) -> tuple[list[str], list[RawRow]]:
    """Header and rows of ``path`` as text; the row number is the file's own (header = 1)."""
    fmt = FileFormat.of(path)
    if not path.is_file():
        raise ValidationError([Problem(str(path), "file not found")])
    if fmt is FileFormat.CSV:
        return _read_csv(path)
    if fmt is FileFormat.XLSX:
        return _read_xlsx(path, table)
    return _read_geojson(path)


def _read_csv(path: Path) -> tuple[list[str], list[RawRow]]:
    reader = csv.reader(io.StringIO(_csv_text(path)))
    header = [h.strip() for h in next(reader, [])]
    rows = [RawRow(i, dict(zip(header, (c.strip() for c in cells), strict=False)))
            for i, cells in enumerate(reader, start=2) if any(c.strip() for c in cells)]
    return header, rows


def _read_xlsx(path: Path, table: Table) -> tuple[list[str], list[RawRow]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationError([Problem(str(path), f"not a readable XLSX workbook ({exc})",
                                       hint="save it again from the spreadsheet as "
                                            ".xlsx, or export CSV (UTF-8)")]) from None
    sheet = book[table.value] if table.value in book.sheetnames else book.worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    book.close()
    if not values:
        return [], []
    header = [cell_text(h).strip() for h in values[0]]
    rows = [RawRow(i, {h: cell_text(c).strip() for h, c in zip(header, cells, strict=False)})
            for i, cells in enumerate(values[1:], start=2)
            if any(cell_text(c).strip() for c in cells)]
    return header, rows


def _read_geojson(path: Path) -> tuple[list[str], list[RawRow]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValidationError([Problem(str(path), "is not UTF-8 text",
                                       hint="GeoJSON is always UTF-8; save it as UTF-8")]
                              ) from None
    except json.JSONDecodeError as exc:
        raise ValidationError([Problem(str(path), f"not valid JSON: {exc.msg}",
                                       row=exc.lineno)]) from None
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise ValidationError([Problem(str(path), "not a GeoJSON FeatureCollection",
                                       hint='the file must have a "features" list')])
    columns: list[str] = []
    features_rows = []
    for index, feature in enumerate(features, start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        geometry = (feature.get("geometry") if isinstance(feature, dict) else None) or {}
        if not isinstance(feature, dict) or not isinstance(properties or {}, dict) \
                or not isinstance(geometry, dict):
            raise ValidationError([Problem(str(path), "is not a GeoJSON Feature with "
                                           "properties", row=index,
                                           hint="each feature is an object with "
                                                '"properties" and "geometry" objects')])
        props = {k: cell_text(v) for k, v in (properties or {}).items()}
        if geometry.get("type") == "Point":
            coordinates = geometry.get("coordinates")
            if isinstance(coordinates, list) and len(coordinates) >= 2:
                props["longitude"], props["latitude"] = (cell_text(coordinates[0]),
                                                         cell_text(coordinates[1]))
        for key in props:
            if key not in columns:
                columns.append(key)
        features_rows.append(RawRow(index, props))
    return columns, features_rows


def _csv_text(path: Path) -> str:
    """A CSV file's text: UTF-8 (with or without a BOM), or GB18030 — what spreadsheets
    on Chinese systems write when told "CSV" without "UTF-8"."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ValidationError([Problem(str(path), "is neither UTF-8 nor GB18030 (GBK) text",
                                       hint="save it as CSV UTF-8")]) from None
