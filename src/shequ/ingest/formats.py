"""Reading and writing the import/export files: CSV, XLSX and GeoJSON.

Files are CSV (UTF-8, a BOM is accepted, or GB18030/GBK), XLSX (the first sheet, or the
sheet named after the table) or GeoJSON (a FeatureCollection of Points; properties are
the columns).  Reading gives every cell as text with the row number a person sees in
the file; the column rules (:mod:`shequ.registry.rules`) then parse it.

Files come from anyone, so reading is bounded: an XLSX is read by the rows it really
has, within caps on its unpacked size, declared and real rows and columns, and a time
budget; a GeoJSON nested too deep to parse is named, not a crash.  Exports are safe to
open in a spreadsheet: a text cell that a spreadsheet would run as a formula (starting
with ``=``, ``+``, ``-``, ``@``, tab or CR) is written as text — in CSV behind a ``'``,
as OWASP advises, which the CSV import takes off again, so a round trip is exact.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import charset_normalizer

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
                                           hint="use .csv, .xlsx or .geojson",
                                           code="upkeep.unknown_file_type",
                                           params={"value": f".{suffix}"})]) from None


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row as text, with its row number as a person sees it in the file."""

    number: int
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class XlsxLimits:
    """How much of a workbook is read before it is refused.

    Every table has fewer than 30 columns and a county's facilities or population run
    to some thousands of rows; the caps leave wide margins over that and keep one
    upload's parsing to seconds.
    """

    unpacked_bytes: int = 200 * 2**20
    rows: int = 200_000
    columns: int = 256
    seconds: float = 60.0


XLSX_LIMITS = XlsxLimits()

# What a spreadsheet reads as the start of a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"


def _runs_as_formula(text: str) -> bool:
    """Whether a CSV export neutralises ``text``: it starts, after any ``'``, with a
    formula character.  Counting the ``'`` makes export and import exact inverses: a
    value that itself starts with ``'=`` gets a second one."""
    rest = text.lstrip(NEUTRALISER)
    return rest.startswith(FORMULA_STARTS)


def neutralise(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as the text it is (numbers pass unchanged)."""
    if isinstance(value, str) and _runs_as_formula(value):
        return NEUTRALISER + value
    return value


def restore(text: str) -> str:
    """The CSV cell's value before :func:`neutralise` (only a ``'`` it added is taken)."""
    if text.startswith(NEUTRALISER) and _runs_as_formula(text[1:]):
        return text[1:]
    return text


def read_rows(path: Path, table: Table, *, limits: XlsxLimits = XLSX_LIMITS
              ) -> tuple[list[str], list[RawRow]]:
    """Header and rows of ``path`` as text; the row number is the file's own (header = 1)."""
    fmt = FileFormat.of(path)
    if not path.is_file():
        raise ValidationError([Problem(str(path), "file not found", code="upkeep.file_not_found")])
    if fmt is FileFormat.CSV:
        return _read_csv(path)
    if fmt is FileFormat.XLSX:
        return _read_xlsx(path, table, limits)
    return _read_geojson(path)


def _read_csv(path: Path) -> tuple[list[str], list[RawRow]]:
    reader = csv.reader(io.StringIO(_csv_text(path)))
    try:
        header = [h.strip() for h in next(reader, [])]
        rows = [RawRow(i, dict(zip(header, (restore(c.strip()) for c in cells),
                                   strict=False)))
                for i, cells in enumerate(reader, start=2) if any(c.strip() for c in cells)]
    except csv.Error as exc:
        raise ValidationError([Problem(str(path), f"not readable as CSV ({exc})",
                                       row=reader.line_num,
                                       hint="save it again from the spreadsheet as CSV "
                                            "UTF-8", code="upkeep.unreadable_csv")]) from None
    return header, rows


def _unreadable_xlsx(path: Path, reason: str, *, row: int | None = None,
                     column: str | None = None, hint: str) -> ValidationError:
    return ValidationError([Problem(str(path), reason, row=row, column=column, hint=hint,
                                    code="upkeep.unreadable_xlsx")],
                           summary=f"{path.name}: refused; nothing was written")


def _read_xlsx(path: Path, table: Table, limits: XlsxLimits) -> tuple[list[str], list[RawRow]]:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    shrink = "delete the empty rows and columns around the data, or save it as CSV UTF-8"
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > limits.unpacked_bytes:
            raise _unreadable_xlsx(path, f"unpacks to {unpacked / 2**20:.0f} MiB, more than "
                                   f"the {limits.unpacked_bytes / 2**20:.0f} MiB read",
                                   hint="split it into smaller files, or save it as CSV")
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _unreadable_xlsx(path, f"not a readable XLSX workbook ({exc})",
                               hint="save it again from the spreadsheet as .xlsx, or "
                                    "export CSV (UTF-8)") from None
    try:
        sheet = book[table.value] if table.value in book.sheetnames else book.worksheets[0]
        # The declared size (<dimension ref=…>) is checked, then ignored: openpyxl would
        # pad every row to it, so a small file declaring A1:XFD10000 costs minutes.
        declared_rows, declared_columns = sheet.max_row or 0, sheet.max_column or 0
        if declared_rows > limits.rows or declared_columns > limits.columns:
            raise _unreadable_xlsx(
                path, f"sheet '{sheet.title}' declares {declared_rows} rows × "
                f"{declared_columns} columns (up to column "
                f"{get_column_letter(max(1, declared_columns))}); at most {limits.rows} rows "
                f"× {limits.columns} columns are read", hint=shrink)
        sheet.reset_dimensions()
        values = _bounded_rows(path, sheet.iter_rows(values_only=True), limits, shrink)
    finally:
        book.close()
    if not values:
        return [], []
    header = [cell_text(h).strip() for h in values[0]]
    rows = [RawRow(i, {h: cell_text(c).strip() for h, c in zip(header, cells, strict=False)})
            for i, cells in enumerate(values[1:], start=2)
            if any(cell_text(c).strip() for c in cells)]
    return header, rows


def _bounded_rows(path: Path, rows: Iterable[Sequence[object]], limits: XlsxLimits,
                  hint: str) -> list[Sequence[object]]:
    """The sheet's rows, refused past the row or column cap or the time budget."""
    from openpyxl.utils import get_column_letter

    deadline = time.monotonic() + limits.seconds
    kept: list[Sequence[object]] = []
    for number, cells in enumerate(rows, start=1):
        if number > limits.rows:
            raise _unreadable_xlsx(path, f"has more than {limits.rows} rows", row=number,
                                   hint=hint)
        if len(cells) > limits.columns:
            raise _unreadable_xlsx(path, f"row {number} reaches column "
                                   f"{get_column_letter(len(cells))}; at most "
                                   f"{limits.columns} columns are read", row=number,
                                   column=get_column_letter(len(cells)), hint=hint)
        if time.monotonic() > deadline:
            raise _unreadable_xlsx(path, f"took more than {limits.seconds:g} s to read "
                                   f"(stopped at row {number})", row=number,
                                   hint="split it into smaller files, or save it as CSV")
        kept.append(cells)
    return kept


def _read_geojson(path: Path) -> tuple[list[str], list[RawRow]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValidationError([Problem(str(path), "is not UTF-8 text",
                                       hint="GeoJSON is always UTF-8; save it as UTF-8",
                                       code="upkeep.not_utf8")]
                              ) from None
    except json.JSONDecodeError as exc:
        raise ValidationError([Problem(str(path), f"not valid JSON: {exc.msg}",
                                       row=exc.lineno, code="upkeep.unreadable_json")]) from None
    except RecursionError:
        raise ValidationError([Problem(str(path), "is nested too deeply to read",
                                       hint="a FeatureCollection needs a few levels: "
                                            "features, properties and point coordinates; "
                                            "export it again from the GIS",
                                       code="upkeep.nested_too_deep")]) from None
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise ValidationError([Problem(str(path), "not a GeoJSON FeatureCollection",
                                       hint='the file must have a "features" list',
                                       code="upkeep.not_feature_collection")])
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
                                                '"properties" and "geometry" objects',
                                           code="upkeep.not_a_feature")])
        try:
            props = {k: cell_text(v) for k, v in (properties or {}).items()}
        except RecursionError:
            raise ValidationError([Problem(str(path), "a property is nested too deeply to "
                                           "read", row=index,
                                           hint="properties are plain values: text, "
                                                "numbers, true/false",
                                           code="upkeep.nested_too_deep")]) from None
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
    on Chinese systems write when told "CSV" without "UTF-8" (GBK is a subset).

    charset-normalizer picks between the two by which decodes cleanly and reads as
    text, rather than by trying one and falling back.
    """
    data = path.read_bytes()
    kind = binary_kind(data)
    if kind is not None:
        raise ValidationError([Problem(str(path), f"is not a CSV table: it is {kind.english}",
                                       hint="open the table in a spreadsheet and save it as "
                                            "CSV UTF-8 or XLSX",
                                       code=f"upkeep.not_a_csv_table.{kind.key}",
                                       params={"file": path.name})])
    best = charset_normalizer.from_bytes(data, cp_isolation=["utf_8", "gb18030"]).best()
    if best is None:
        raise ValidationError([Problem(str(path), "is neither UTF-8 nor GB18030 (GBK) text",
                                       hint="save it as CSV UTF-8 or XLSX",
                                       code="upkeep.unknown_encoding",
                                       params={"file": path.name})])
    return str(best)


@dataclass(frozen=True, slots=True)
class BinaryKind:
    """A kind of file that is not text, known by its first bytes (its "magic")."""

    key: str  # its message: ``problems.upkeep.not_a_csv_table.<key>``
    english: str


_IMAGE = BinaryKind("image", "an image (PNG, JPEG or GIF)")
_ARCHIVE = BinaryKind("archive", "a compressed archive (gzip, RAR or 7-Zip)")
# The files people upload by mistake under a ".csv" name: pictures, documents, archives
# and workbooks saved under the wrong suffix.  (UTF-16 text is not among them: it starts
# with its byte-order mark and is told as an encoding that is not read.)
_MAGIC: tuple[tuple[bytes, BinaryKind], ...] = (
    (b"\x89PNG\r\n\x1a\n", _IMAGE),
    (b"\xff\xd8\xff", _IMAGE),
    (b"GIF87a", _IMAGE),
    (b"GIF89a", _IMAGE),
    (b"%PDF-", BinaryKind("pdf", "a PDF document")),
    (b"PK\x03\x04", BinaryKind("zip", "an XLSX workbook, a Word document or a ZIP archive")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
     BinaryKind("ole", "an old Excel (.xls) or Word (.doc) file")),
    (b"\x1f\x8b", _ARCHIVE),
    (b"Rar!\x1a\x07", _ARCHIVE),
    (b"7z\xbc\xaf\x27\x1c", _ARCHIVE),
)
_BINARY = BinaryKind("binary", "not text (it holds NUL bytes)")
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def binary_kind(data: bytes) -> BinaryKind | None:
    """The kind of a file that is not text, or None for text: a known first few bytes, or
    NUL bytes making at least one in a hundred of the first 8 KiB.  Text in UTF-8 or
    GB18030 has none; a stray NUL in a cell of a real table is left to the column rules,
    which name its row and column."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    head = data[:8192]
    if not head.startswith(_UTF16_MARKS) and head.count(b"\x00") * 100 >= max(len(head), 1):
        return _BINARY
    return None


def export_cell(value: Any) -> Any:
    """A stored value as an export cell: booleans and dates as the import reads them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def write_rows(path: Path, sheet: str, names: Sequence[str],
               rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` (values by column name) to ``path``, the format from its suffix, the
    columns ``names``; a GeoJSON feature's point is its longitude and latitude.  Returns
    the number of rows."""
    fmt = FileFormat.of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    if fmt is FileFormat.CSV:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for row in rows:
                writer.writerow([neutralise(export_cell(row[n])) for n in names])
                count += 1
    elif fmt is FileFormat.XLSX:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        book = Workbook(write_only=True)
        worksheet = book.create_sheet(sheet)
        worksheet.append(list(names))
        for row in rows:
            cells = []
            for name in names:
                # Codes stay text so that spreadsheets keep their leading digits exact;
                # text is typed as text, so "=…" is never stored as a formula.
                cell = WriteOnlyCell(worksheet, value=export_cell(row[name]))
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                cells.append(cell)
            worksheet.append(cells)
            count += 1
        book.save(path)
    else:
        features = []
        for row in rows:
            lon, lat = row.get("longitude"), row.get("latitude")
            props = {n: export_cell(row[n]) for n in names if n not in ("longitude",
                                                                         "latitude")}
            geometry = ({"type": "Point", "coordinates": [lon, lat]}
                        if lon is not None and lat is not None else None)
            features.append({"type": "Feature", "geometry": geometry, "properties": props})
            count += 1
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                                   ensure_ascii=False), encoding="utf-8")
    return count
