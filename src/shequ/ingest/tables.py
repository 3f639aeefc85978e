"""Import and export of divisions, facilities, workforce and population.

Files are CSV (UTF-8, a BOM is accepted), XLSX (the first sheet, or the sheet named after
the table) or GeoJSON (a FeatureCollection of Points; properties are the columns).  The
same columns go out as come in, so an export imports back without loss.

An import is validated completely before anything is written: every bad row is reported
with file, row, column and reason, and one bad row means nothing is written.  Rows are
matched to what is stored by their natural key (division code; facility external_id;
division + year (+ role + certification) for population and workforce) and update it;
a division whose name, parent or kind changes gets a new version instead, so its
history is kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import opening_hours
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.catalog import Catalog
from shequ.errors import Problem, ValidationError
from shequ.registry.codes import level_of, normalise_code, parent_of
from shequ.registry.models import (
    Certification,
    Division,
    DivisionKind,
    Facility,
    FacilityStatus,
    FundingSource,
    OperatorKind,
    Population,
    Workforce,
    WorkforceRole,
)
from shequ.registry.queries import today, valid_on


class Table(StrEnum):
    """The registry tables that can be imported and exported."""

    DIVISIONS = "divisions"
    FACILITIES = "facilities"
    WORKFORCE = "workforce"
    POPULATION = "population"


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


Parser = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an import file: its parser and whether it must be filled."""

    name: str
    parse: Parser
    required: bool = False


def _text(value: str) -> str:
    return value.strip()


def _int(value: str) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def _non_negative_int(value: str) -> int:
    number = _int(value)
    if number < 0:
        raise ValueError(f"{number} is negative")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if math.isnan(number) or number < 0:
        raise ValueError(f"{value!r} is negative or not a number")
    return number


def _float(value: str) -> float:
    number = float(value)
    if math.isnan(number):
        raise ValueError("not a number")
    return number


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "y", "是", "t"):
        return True
    if lowered in ("0", "false", "no", "n", "否", "f"):
        return False
    raise ValueError(f"{value!r} is not true/false")


def _code(value: str) -> str:
    text = value.strip()
    if text.endswith(".0"):  # spreadsheets turn long codes into floats
        text = text[:-2]
    if not text.isdigit() or len(text) not in (2, 4, 6, 9, 12):
        raise ValueError(f"{value!r} is not a division code (12 digits, or a 2/4/6/9-digit "
                         "prefix)")
    return normalise_code(text)


def _enum(enum: type[StrEnum]) -> Parser:
    allowed = [m.value for m in enum]

    def parse(value: str) -> str:
        text = value.strip()
        if text not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return text

    return parse


def _urban_rural(value: str) -> str:
    text = value.strip()
    if text not in ("111", "112", "121", "122", "123", "210", "220"):
        raise ValueError(f"{text!r} is not an urban–rural class code (111, 112, 121, 122, "
                         "123, 210, 220)")
    return text


def _opening_hours(value: str) -> str:
    text = value.strip()
    try:
        opening_hours.OpeningHours(text)
    except opening_hours.ParserError as exc:  # type: ignore[attr-defined]
        first = str(exc).splitlines()[0]
        raise ValueError(f"{text!r} is not OpenStreetMap opening_hours syntax ({first}); "
                         "e.g. 'Mo-Fr 08:30-17:30; Sa 09:00-12:00'") from None
    return text


COLUMNS: dict[Table, tuple[Column, ...]] = {
    Table.DIVISIONS: (
        Column("code", _code, True), Column("name", _text, True),
        Column("kind", _enum(DivisionKind), True), Column("parent_code", _code),
        Column("urban_rural", _urban_rural), Column("valid_from", _date),
        Column("longitude", _float), Column("latitude", _float),
        Column("area_km2", _non_negative_float), Column("synthetic_geography", _bool),
        Column("code_source", _text), Column("source", _text),
    ),
    Table.FACILITIES: (
        Column("external_id", _text, True), Column("type_code", _text, True),
        Column("division_code", _code, True), Column("name", _text, True),
        Column("address", _text), Column("longitude", _float), Column("latitude", _float),
        Column("floor_area_m2", _non_negative_float),
        Column("activity_area_m2", _non_negative_float),
        Column("capacity", _non_negative_int), Column("opening_hours", _opening_hours),
        Column("status", _enum(FacilityStatus)), Column("planned_on", _date),
        Column("construction_started_on", _date), Column("accepted_on", _date),
        Column("opened_on", _date), Column("closed_on", _date),
        Column("investment_cny", _non_negative_float),
        Column("funding_source", _enum(FundingSource)),
        Column("operator_kind", _enum(OperatorKind)), Column("operator_name", _text),
        Column("space_for_services", _bool), Column("parent_external_id", _text),
        Column("phone", _text), Column("synthetic", _bool), Column("source", _text),
    ),
    Table.WORKFORCE: (
        Column("division_code", _code, True), Column("period", _int, True),
        Column("role", _enum(WorkforceRole), True),
        Column("certification", _enum(Certification)),
        Column("headcount", _non_negative_int, True), Column("synthetic", _bool),
        Column("source", _text),
    ),
    Table.POPULATION: (
        Column("division_code", _code, True), Column("period", _int, True),
        Column("residents", _non_negative_int, True),
        Column("households", _non_negative_int, True),
        *(Column(name, _non_negative_int) for name in (
            "age_0_2", "age_3_5", "age_6_14", "age_60_plus", "age_80_plus", "disabled",
            "assisted_households")),
        Column("synthetic", _bool), Column("source", _text),
    ),
}

# Coordinates are given in WGS84, or in GCJ-02 (Chinese map services) and converted.
CoordinateSystem = str
WGS84 = "wgs84"
GCJ02 = "gcj02"


# ---------------------------------------------------------------- reading files


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row as text, with its row number as a person sees it in the file."""

    number: int
    values: dict[str, str]


def cell_text(value: object) -> str:
    """A cell or a field value as the text the column parsers read."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


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


# ---------------------------------------------------------------- validation


@cache
def province_boxes() -> dict[str, tuple[float, float, float, float]]:
    """(min lon, min lat, max lon, max lat) per province code prefix.

    Built from the published seat coordinates of every prefecture and county in the
    province, padded by 1.5° so that units far from any seat are still inside.
    """
    from shequ.ingest.national import read_published_codes

    points: dict[str, list[tuple[float, float]]] = {}
    for item in read_published_codes():
        if item.longitude is not None and item.latitude is not None:
            points.setdefault(item.code[:2], []).append((item.longitude, item.latitude))
    pad = 1.5
    return {p: (min(x for x, _ in pts) - pad, min(y for _, y in pts) - pad,
                max(x for x, _ in pts) + pad, max(y for _, y in pts) + pad)
            for p, pts in points.items()}


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 coordinate (Chinese map services) to WGS84.

    GCJ-02 adds a published, deterministic offset to WGS84 (Krasovsky ellipsoid
    parameters); the inverse has no closed form, so the forward offset is applied
    iteratively until the round trip agrees to about a millimetre.
    """
    wlon, wlat = lon, lat
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        dlon, dlat = glon - lon, glat - lat
        wlon, wlat = wlon - dlon, wlat - dlat
        if abs(dlon) < 1e-9 and abs(dlat) < 1e-9:
            break
    return wlon, wlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 offset applied to a WGS84 coordinate inside China (identity outside)."""
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
            + 0.2 * math.sqrt(abs(x)))
    dlat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    dlon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    dlon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    radlat = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (a / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


@dataclass(slots=True)
class ParsedRow:
    """A row whose cells parsed; ``values`` holds typed values of the filled columns."""

    number: int
    values: dict[str, Any]


def _parse(path: Path, table: Table, header: Sequence[str], rows: Sequence[RawRow]
           ) -> tuple[list[ParsedRow], list[Problem]]:
    columns = COLUMNS[table]
    known = {c.name for c in columns}
    problems: list[Problem] = []
    source = str(path)
    missing = [c.name for c in columns if c.required and c.name not in header]
    if missing:
        problems.append(Problem(source, f"missing required column(s) {', '.join(missing)}",
                                row=1, hint=f"the {table.value} columns are "
                                f"{', '.join(c.name for c in columns)}"))
    unknown = [h for h in header if h and h not in known]
    if unknown:
        problems.append(Problem(source, f"unknown column(s) {', '.join(unknown)}", row=1,
                                hint=f"the {table.value} columns are "
                                f"{', '.join(c.name for c in columns)}"))
    if problems:
        return [], problems
    parsed = []
    for raw in rows:
        values, found = parse_cells(table, raw.values, source=source, row=raw.number)
        problems += found
        parsed.append(ParsedRow(raw.number, values))
    return parsed, problems


def parse_cells(table: Table, cells: Mapping[str, str], *, source: str, row: int | None,
                partial: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    """The typed values of one record's filled cells, by the table's column rules.

    Files and HTTP edits both go through here, so a value is accepted or refused the
    same way wherever it comes from.  With ``partial`` (an edit of some fields) an absent
    required column is not a problem; an empty one still is.
    """
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for column in COLUMNS[table]:
        if partial and column.name not in cells:
            continue
        text = cells.get(column.name, "")
        if text == "":
            if column.required:
                problems.append(Problem(source, "is empty but required", row=row,
                                        column=column.name))
            continue
        try:
            values[column.name] = column.parse(text)
        except ValueError as exc:
            problems.append(Problem(source, str(exc), row=row, column=column.name))
    return values, problems


def _check_coordinates(source: str, row: ParsedRow, code: str, problems: list[Problem]
                       ) -> None:
    problems += coordinate_problems(row.values, code, source=source, row=row.number)


def coordinate_problems(values: Mapping[str, Any], code: str, *, source: str,
                        row: int | None) -> list[Problem]:
    """Longitude and latitude given together and inside the province of ``code``."""
    problems: list[Problem] = []
    lon, lat = values.get("longitude"), values.get("latitude")
    if (lon is None) != (lat is None):
        problems.append(Problem(source, "longitude and latitude must be given together",
                                row=row, column="latitude" if lat is None else
                                "longitude"))
        return problems
    if lon is None or lat is None:
        return problems
    box = province_boxes().get(code[:2])
    if box is None:
        return problems
    if not (box[0] <= lon <= box[2] and box[1] <= lat <= box[3]):
        problems.append(Problem(
            source, f"({lon}, {lat}) lies outside province {code[:2]} (lon {box[0]:.1f}–"
            f"{box[2]:.1f}, lat {box[1]:.1f}–{box[3]:.1f})", row=row, column="longitude",
            hint="check the order (longitude first), the sign, and whether the source uses "
                 "GCJ-02 (then convert it to WGS84, or import with --crs gcj02)"))
    return problems


def _stored_divisions(session: Session, codes: Iterable[str], as_of: dt.date
                      ) -> dict[str, Division]:
    wanted = sorted(set(codes))
    found: dict[str, Division] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start: start + 900]
        for unit in session.scalars(select(Division).where(valid_on(as_of),
                                                           Division.code.in_(chunk))):
            found[unit.code] = unit
    return found


def _validate_divisions(session: Session, source: str, rows: list[ParsedRow],
                        problems: list[Problem], as_of: dt.date) -> None:
    in_file = {r.values["code"]: r for r in rows if "code" in r.values}
    parents = {r.values.get("parent_code") or parent_of(r.values["code"],
                                                       level_of(r.values["code"]))
               for r in rows if "code" in r.values}
    stored = _stored_divisions(session, [p for p in parents if p], as_of)
    seen: dict[str, int] = {}
    for row in rows:
        code = row.values.get("code")
        if code is None:
            continue
        if code in seen:
            problems.append(Problem(source, f"code {code} appears twice (first in row "
                                    f"{seen[code]})", row=row.number, column="code"))
        seen[code] = row.number
        level = level_of(code)
        implied = parent_of(code, level)
        parent = row.values.get("parent_code") or implied
        row.values["parent_code"] = parent
        if parent != implied:
            problems.append(Problem(source, f"parent {parent} does not own code {code}",
                                    row=row.number, column="parent_code",
                                    hint=f"a level-{level} code's parent is {implied}"))
        elif parent is not None and parent not in stored and parent not in in_file:
            problems.append(Problem(source, f"unknown parent {parent}", row=row.number,
                                    column="parent_code",
                                    hint="import the parent first or in the same file"))
        kind = row.values.get("kind")
        if kind is not None:
            from shequ.registry.codes import expected_level

            if expected_level(DivisionKind(kind)) != level:
                problems.append(Problem(source, f"kind {kind} is not a level-{level} kind "
                                        f"(code {code} is level {level})", row=row.number,
                                        column="kind"))
        _check_coordinates(source, row, code, problems)


def _validate_facilities(session: Session, catalog: Catalog, source: str,
                         rows: list[ParsedRow], problems: list[Problem], *,
                         as_of: dt.date) -> None:
    stored = _stored_divisions(session, (r.values["division_code"] for r in rows
                                         if "division_code" in r.values), as_of)
    ids_in_file: dict[str, int] = {}
    for row in rows:
        external = row.values.get("external_id")
        if external is not None:
            if external in ids_in_file:
                problems.append(Problem(source, f"external_id {external!r} appears twice "
                                        f"(first in row {ids_in_file[external]})",
                                        row=row.number, column="external_id"))
            ids_in_file[external] = row.number
    stored_ids = set(stored_facilities(session, [r.values["parent_external_id"] for r in rows
                                                 if "parent_external_id" in r.values]))
    for row in rows:
        values = row.values
        code = values.get("division_code")
        problems += facility_problems(catalog, values,
                                      stored.get(code) if code is not None else None,
                                      source=source, row=row.number, as_of=as_of)
        parent = values.get("parent_external_id")
        if parent is not None and parent not in ids_in_file and parent not in stored_ids:
            problems.append(Problem(source, f"unknown parent facility {parent!r}",
                                    row=row.number, column="parent_external_id"))
        if parent is not None and parent == values.get("external_id"):
            problems.append(Problem(source, "a facility cannot be its own parent",
                                    row=row.number, column="parent_external_id"))


def facility_problems(catalog: Catalog, values: Mapping[str, Any], division: Division | None,
                      *, source: str, row: int | None, as_of: dt.date) -> list[Problem]:
    """What is wrong with one facility's typed values (``division``: the stored division
    its ``division_code`` names, None when there is none), by the registry's rules."""
    problems: list[Problem] = []
    type_code = values.get("type_code")
    if type_code is not None and type_code not in catalog.facility_types:
        problems.append(Problem(source, f"unknown facility type {type_code!r}",
                                row=row, column="type_code",
                                hint="see `shequ catalog` or /api/v1/facility-types"))
    code = values.get("division_code")
    if code is not None:
        if division is None:
            problems.append(Problem(source, f"no division {code} in force on "
                                    f"{as_of.isoformat()}", row=row, column="division_code",
                                    hint="import the division first"))
        problems += coordinate_problems(values, code, source=source, row=row)
    floor, activity = values.get("floor_area_m2"), values.get("activity_area_m2")
    if floor is not None and activity is not None and activity > floor:
        problems.append(Problem(source, f"activity area {activity:g} m² exceeds the floor "
                                f"area {floor:g} m²", row=row, column="activity_area_m2",
                                hint="the activity area is the part of the floor area "
                                     "residents use"))
    opened, closed = values.get("opened_on"), values.get("closed_on")
    if opened and closed and closed < opened:
        problems.append(Problem(source, f"closed_on {closed} is before opened_on {opened}",
                                row=row, column="closed_on"))
    return problems


def _validate_counts(session: Session, table: Table, source: str, rows: list[ParsedRow],
                     problems: list[Problem], *, as_of: dt.date) -> None:
    stored = _stored_divisions(session, (r.values["division_code"] for r in rows
                                         if "division_code" in r.values), as_of)
    seen: dict[tuple[Any, ...], int] = {}
    for row in rows:
        values = row.values
        code = values.get("division_code")
        if code is None:
            continue
        if code not in stored:
            problems.append(Problem(source, f"no division {code} in force on "
                                    f"{as_of.isoformat()}", row=row.number,
                                    column="division_code", hint="import the division first"))
        if table is Table.POPULATION:
            key: tuple[Any, ...] = (code, values.get("period"))
            problems += population_problems(values, stored.get(code), source=source,
                                            row=row.number)
        else:
            values.setdefault("certification", Certification.NONE.value)
            key = (code, values.get("period"), values.get("role"), values["certification"])
        if key in seen:
            problems.append(Problem(source, f"{key} appears twice (first in row {seen[key]})",
                                    row=row.number))
        seen[key] = row.number


def population_problems(values: Mapping[str, Any], division: Division | None, *,
                        source: str, row: int | None) -> list[Problem]:
    """What is wrong with one year's population figures of ``division`` (the stored unit,
    None when unknown: the caller reports that)."""
    problems: list[Problem] = []
    if division is not None and division.level != 5:
        problems.append(Problem(source, f"{division.code} is a level-{division.level} unit; "
                                "population is recorded per community or village",
                                row=row, column="division_code"))
    residents = values.get("residents")
    for name in ("age_0_2", "age_3_5", "age_6_14", "age_60_plus", "disabled"):
        if residents is not None and values.get(name, 0) > residents:
            problems.append(Problem(source, f"{name} ({values[name]}) exceeds residents "
                                    f"({residents})", row=row, column=name))
    if values.get("age_80_plus", 0) > values.get("age_60_plus", 0):
        problems.append(Problem(source, "age_80_plus exceeds age_60_plus",
                                row=row, column="age_80_plus"))
    households = values.get("households")
    if residents is not None and households is not None and households > residents:
        problems.append(Problem(source, f"households ({households}) exceed residents "
                                f"({residents})", row=row, column="households",
                                hint="a household has at least one resident"))
    return problems


# ---------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import wrote."""

    table: Table
    rows: int
    inserted: int
    updated: int
    versioned: int


def import_file(session: Session, catalog: Catalog, path: Path, table: Table, *,
                crs: CoordinateSystem = WGS84, as_of: dt.date | None = None,
                source: str | None = None,
                before_write: Callable[[Sequence[ParsedRow]], None] | None = None
                ) -> ImportReport:
    """Validate ``path`` completely, then write it in the caller's transaction.

    Raises ValidationError listing every problem when any row is bad; then nothing is
    written.  ``as_of`` is the date divisions are looked up on and the date a changed
    division's new version starts (default today).  ``before_write`` sees the valid rows
    and may refuse them by raising (an upload outside the uploader's jurisdiction).
    """
    when = as_of or today()
    header, raw_rows = read_rows(path, table)
    rows, problems = _parse(path, table, header, raw_rows)
    label = source or f"import: {path.name}"
    if crs not in (WGS84, GCJ02):
        raise ValidationError([Problem("crs", f"unknown coordinate system {crs!r}",
                                       hint="use wgs84 or gcj02")])
    if crs == GCJ02:
        for row in rows:
            if "longitude" in row.values and "latitude" in row.values:
                row.values["longitude"], row.values["latitude"] = (
                    round(v, 7) for v in gcj02_to_wgs84(row.values["longitude"],
                                                        row.values["latitude"]))
    # Cross-row checks run on whatever parsed, so one pass reports every problem.
    if rows:
        source_name = str(path)
        if table is Table.DIVISIONS:
            _validate_divisions(session, source_name, rows, problems, when)
        elif table is Table.FACILITIES:
            _validate_facilities(session, catalog, source_name, rows, problems, as_of=when)
        else:
            _validate_counts(session, table, source_name, rows, problems, as_of=when)
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise ValidationError(problems, summary=(
            f"{path.name}: {len(problems)} problem(s) in {len({p.row for p in problems})} "
            f"row(s); nothing was written"))
    if before_write is not None:
        before_write(rows)
    writer = {Table.DIVISIONS: _write_divisions, Table.FACILITIES: _write_facilities,
              Table.WORKFORCE: _write_workforce, Table.POPULATION: _write_population}[table]
    inserted, updated, versioned = writer(session, rows, when, label)
    session.flush()
    return ImportReport(table, len(rows), inserted, updated, versioned)


def _write_divisions(session: Session, rows: list[ParsedRow], when: dt.date, label: str
                     ) -> tuple[int, int, int]:
    stored = _stored_divisions(session, (r.values["code"] for r in rows), when)
    inserted = updated = versioned = 0
    # Parents before children, so a file may list them in any order.
    for row in sorted(rows, key=lambda r: level_of(r.values["code"])):
        values = dict(row.values)
        code = values["code"]
        values.setdefault("valid_from", when)
        existing = stored.get(code)
        geography = {k: values.get(k) for k in ("longitude", "latitude", "area_km2")}
        values.setdefault("code_source", "import")
        values.setdefault("source", label)
        values.setdefault("synthetic_geography", False)
        if existing is None:
            session.add(Division(level=level_of(code), **values))
            inserted += 1
            continue
        identity = (existing.name, existing.parent_code, existing.kind, existing.urban_rural)
        incoming = (values["name"], values["parent_code"], values["kind"],
                    values.get("urban_rural"))
        if identity == incoming or values["valid_from"] <= existing.valid_from:
            for key, value in {**geography, "name": values["name"], "kind": values["kind"],
                               "urban_rural": values.get("urban_rural")}.items():
                if value is not None:
                    setattr(existing, key, value)
            updated += 1
            continue
        existing.valid_to = values["valid_from"]
        session.flush()
        session.add(Division(level=level_of(code), **values))
        versioned += 1
    return inserted, updated, versioned


def _write_facilities(session: Session, rows: list[ParsedRow], _when: dt.date, label: str
                      ) -> tuple[int, int, int]:
    stored = stored_facilities(session, [r.values["external_id"] for r in rows])
    inserted = updated = 0
    pending_parents: list[tuple[Facility, str]] = []
    for row in rows:
        values = dict(row.values)
        parent = values.pop("parent_external_id", None)
        values.setdefault("status", FacilityStatus.IN_SERVICE.value)
        facility = stored.get(values["external_id"])
        if facility is None:
            values.setdefault("source", label)
            facility = Facility(**values)
            session.add(facility)
            stored[values["external_id"]] = facility
            inserted += 1
        else:
            for key, value in values.items():
                setattr(facility, key, value)
            updated += 1
        if parent:
            pending_parents.append((facility, parent))
    session.flush()
    parents = stored_facilities(session, [p for _, p in pending_parents if p not in stored])
    for facility, parent in pending_parents:
        facility.parent_id = (stored.get(parent) or parents[parent]).id
    return inserted, updated, 0


# An export names a facility that has no external id "shequ-<id>" (see export_rows), so
# that importing the export back updates it instead of adding a copy.
_EXPORT_ID_PREFIX = "shequ-"


def stored_facilities(session: Session, external_ids: Sequence[str]) -> dict[str, Facility]:
    """The stored facilities that ``external_ids`` name, by external id."""
    found: dict[str, Facility] = {}
    wanted = sorted(set(external_ids))
    for start in range(0, len(wanted), 900):
        chunk = wanted[start: start + 900]
        for facility in session.scalars(select(Facility).where(
                Facility.external_id.in_(chunk))):
            found[facility.external_id or ""] = facility
    by_id = {int(e.removeprefix(_EXPORT_ID_PREFIX)): e for e in wanted if e not in found
             and e.startswith(_EXPORT_ID_PREFIX) and e.removeprefix(_EXPORT_ID_PREFIX).isdigit()}
    if by_id:
        for facility in session.scalars(select(Facility).where(
                Facility.id.in_(list(by_id)), Facility.external_id.is_(None))):
            found[by_id[facility.id]] = facility
    return found


def _upsert_counts(session: Session, model: type[Workforce] | type[Population],
                   keys: Sequence[str], rows: list[ParsedRow], label: str) -> tuple[int, int, int]:
    inserted = updated = 0
    for row in rows:
        values = row.values
        query = select(model).where(*(getattr(model, k) == values[k] for k in keys))
        existing = session.scalars(query).first()
        if existing is None:
            session.add(model(**{"source": label, **values}))
            inserted += 1
        else:
            for key, value in values.items():
                setattr(existing, key, value)
            updated += 1
    return inserted, updated, 0


def _write_workforce(session: Session, rows: list[ParsedRow], _when: dt.date, label: str
                     ) -> tuple[int, int, int]:
    return _upsert_counts(session, Workforce, ("division_code", "period", "role",
                                               "certification"), rows, label)


def _write_population(session: Session, rows: list[ParsedRow], _when: dt.date, label: str
                      ) -> tuple[int, int, int]:
    return _upsert_counts(session, Population, ("division_code", "period"), rows, label)


# ---------------------------------------------------------------- export


def export_rows(session: Session, table: Table, *, prefix: str = "",
                as_of: dt.date | None = None) -> Iterator[dict[str, Any]]:
    """The stored rows of ``table`` under ``prefix`` with the import columns."""
    when = as_of or today()
    names = [c.name for c in COLUMNS[table]]
    if table is Table.DIVISIONS:
        query = select(Division).where(valid_on(when), Division.code.startswith(prefix)
                                       ).order_by(Division.code)
        for unit in session.scalars(query):
            yield {n: getattr(unit, n) for n in names}
    elif table is Table.FACILITIES:
        facilities = list(session.scalars(select(Facility).where(
            Facility.division_code.startswith(prefix)).order_by(Facility.id)))
        external = {f.id: f.external_id or f"{_EXPORT_ID_PREFIX}{f.id}" for f in facilities}
        missing_parents = {f.parent_id for f in facilities if f.parent_id} - set(external)
        for parent in session.scalars(select(Facility).where(Facility.id.in_(missing_parents))):
            external[parent.id] = parent.external_id or f"{_EXPORT_ID_PREFIX}{parent.id}"
        for facility in facilities:
            row = {n: getattr(facility, n) for n in names if n != "parent_external_id"}
            row["external_id"] = external[facility.id]
            row["parent_external_id"] = external.get(facility.parent_id) \
                if facility.parent_id else None
            yield row
    elif table is Table.WORKFORCE:
        workforce = select(Workforce).where(Workforce.division_code.startswith(prefix))
        for record in session.scalars(workforce.order_by(Workforce.id)):
            yield {n: getattr(record, n) for n in names}
    else:
        population = select(Population).where(Population.division_code.startswith(prefix))
        for counts in session.scalars(population.order_by(Population.id)):
            yield {n: getattr(counts, n) for n in names}


def _export_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def export_file(session: Session, table: Table, path: Path, *, prefix: str = "",
                as_of: dt.date | None = None) -> int:
    """Write ``table`` to ``path`` (format from the suffix); return the number of rows."""
    fmt = FileFormat.of(path)
    names = [c.name for c in COLUMNS[table]]
    rows = list(export_rows(session, table, prefix=prefix, as_of=as_of))
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt is FileFormat.CSV:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for row in rows:
                writer.writerow([_export_cell(row[n]) for n in names])
    elif fmt is FileFormat.XLSX:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(table.value)
        sheet.append(names)
        for row in rows:
            # Codes stay text so that spreadsheets keep their leading digits exact.
            sheet.append([_export_cell(row[n]) for n in names])
        book.save(path)
    else:
        features = []
        for row in rows:
            lon, lat = row.get("longitude"), row.get("latitude")
            props = {n: _export_cell(row[n]) for n in names if n not in ("longitude",
                                                                          "latitude")}
            geometry = ({"type": "Point", "coordinates": [lon, lat]}
                        if lon is not None and lat is not None else None)
            features.append({"type": "Feature", "geometry": geometry, "properties": props})
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                                   ensure_ascii=False), encoding="utf-8")
    return len(rows)

