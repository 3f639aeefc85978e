"""The registry's rules for a record's values: columns, parsers and cross-field checks.

Every way a record reaches the registry goes through here — a file import
(:mod:`shequ.ingest.tables`) and an edit over HTTP (:mod:`shequ.services.upkeep`) — so a
value is accepted or refused the same way wherever it comes from.  Each table's columns
are those of its import file; text columns are as long as their database column allows
(read from the table metadata, not restated here).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import opening_hours
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.catalog import Catalog
from shequ.errors import Problem
from shequ.registry.codes import normalise_code
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
from shequ.registry.published import read_published_codes
from shequ.registry.queries import valid_on


class Table(StrEnum):
    """The registry tables that can be imported and exported."""

    DIVISIONS = "divisions"
    FACILITIES = "facilities"
    WORKFORCE = "workforce"
    POPULATION = "population"


Parser = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an import file: its parser and whether it must be filled."""

    name: str
    parse: Parser
    required: bool = False


class CellError(ValueError):
    """A cell a column's parser refuses: the English reason, and the problem's ``code``
    and ``params`` for the reader's language (:mod:`shequ.i18n`)."""

    def __init__(self, reason: str, code: str, **params: object) -> None:
        super().__init__(reason)
        self.code = code
        self.params = params


def _text(value: str) -> str:
    return value.strip()


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise CellError(f"{value.strip()!r} is not a number", "not_a_number") from None
    if math.isnan(number):
        raise CellError("not a number", "not_a_number")
    return number


def _int(value: str) -> int:
    number = _number(value)
    if not number.is_integer():
        raise CellError(f"{value!r} is not a whole number", "upkeep.not_whole")
    return int(number)


def _non_negative_int(value: str) -> int:
    number = _int(value)
    if number < 0:
        raise CellError(f"{number} is negative", "negative")
    return number


def _non_negative_float(value: str) -> float:
    number = _number(value)
    if number < 0:
        raise CellError(f"{value!r} is negative", "negative")
    return number


def _float(value: str) -> float:
    return _number(value)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise CellError(f"{value!r} is not a date; write YYYY-MM-DD", "not_a_date") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "y", "是", "t"):
        return True
    if lowered in ("0", "false", "no", "n", "否", "f"):
        return False
    raise CellError(f"{value!r} is not true/false", "upkeep.not_yes_no")


def _code(value: str) -> str:
    text = value.strip()
    if text.endswith(".0"):  # spreadsheets turn long codes into floats
        text = text[:-2]
    if not text.isdigit() or len(text) not in (2, 4, 6, 9, 12):
        raise CellError(f"{value!r} is not a division code (12 digits, or a 2/4/6/9-digit "
                        "prefix)", "upkeep.not_a_code")
    return normalise_code(text)


def _enum(enum: type[StrEnum]) -> Parser:
    allowed = [m.value for m in enum]

    def parse(value: str) -> str:
        text = value.strip()
        if text not in allowed:
            raise CellError(f"{text!r} is not one of {', '.join(allowed)}", "not_a_choice")
        return text

    return parse


def _urban_rural(value: str) -> str:
    text = value.strip()
    if text not in ("111", "112", "121", "122", "123", "210", "220"):
        raise CellError(f"{text!r} is not an urban–rural class code (111, 112, 121, 122, "
                        "123, 210, 220)", "not_a_choice")
    return text


def _opening_hours(value: str) -> str:
    text = value.strip()
    try:
        opening_hours.OpeningHours(text)
    except opening_hours.ParserError as exc:  # type: ignore[attr-defined]
        first = str(exc).splitlines()[0]
        raise CellError(f"{text!r} is not OpenStreetMap opening_hours syntax ({first}); "
                        "e.g. 'Mo-Fr 08:30-17:30; Sa 09:00-12:00'",
                        "upkeep.not_opening_hours") from None
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


@cache
def province_boxes() -> dict[str, tuple[float, float, float, float]]:
    """(min lon, min lat, max lon, max lat) per province code prefix.

    Built from the published seat coordinates of every prefecture and county in the
    province, padded by 1.5° so that units far from any seat are still inside.
    """
    points: dict[str, list[tuple[float, float]]] = {}
    for item in read_published_codes():
        if item.longitude is not None and item.latitude is not None:
            points.setdefault(item.code[:2], []).append((item.longitude, item.latitude))
    pad = 1.5
    return {p: (min(x for x, _ in pts) - pad, min(y for _, y in pts) - pad,
                max(x for x, _ in pts) + pad, max(y for _, y in pts) + pad)
            for p, pts in points.items()}


# An import column kept in a database column of another name.
_STORED_AS = {"parent_external_id": "external_id", "parent_code": "code"}
# How much of a refused value a problem repeats.
_SHOWN = 80


@cache
def max_length(table: Table, column: str) -> int | None:
    """The most characters ``column`` of ``table`` can hold, from its database column
    (``VARCHAR(n)``); None when it is not bounded text."""
    model = {Table.DIVISIONS: Division, Table.FACILITIES: Facility,
             Table.WORKFORCE: Workforce, Table.POPULATION: Population}[table]
    stored = model.__table__.columns.get(_STORED_AS.get(column, column))
    length = getattr(stored.type, "length", None) if stored is not None else None
    return length if isinstance(length, int) else None


def text_problem(text: str) -> str | None:
    """What makes ``text`` unstorable whatever its column (a NUL character, which
    PostgreSQL refuses, or half of a UTF-16 surrogate pair, which is no character)."""
    if (at := text.find("\x00")) >= 0:
        return f"contains a NUL character at position {at + 1}"
    try:
        text.encode("utf-8")  # strict UTF-8 refuses exactly the surrogates
    except UnicodeEncodeError as exc:
        return (f"contains a lone surrogate U+{ord(text[exc.start]):04X} at position "
                f"{exc.start + 1}")
    return None


def parse_cells(table: Table, cells: Mapping[str, str], *, source: str, row: int | None,
                partial: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    """The typed values of one record's filled cells, by the table's column rules.

    Files and HTTP edits both go through here, so a value is accepted or refused the
    same way wherever it comes from.  With ``partial`` (an edit of some fields) an absent
    required column is not a problem; an empty one still is.  Text longer than its
    database column, NUL characters and lone surrogates are refused in any cell.
    """
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, text in cells.items():
        if (reason := text_problem(text)) is not None:
            problems.append(Problem(source, reason, row=row, column=name,
                                    hint="remove the character; copying from another "
                                         "program sometimes brings it along",
                                    code="bad_characters"))
    if problems:
        return values, problems
    for column in COLUMNS[table]:
        if partial and column.name not in cells:
            continue
        text = cells.get(column.name, "")
        if text == "":
            if column.required:
                problems.append(Problem(source, "is empty but required", row=row,
                                        column=column.name, code="required"))
            continue
        limit = max_length(table, column.name)
        # Codes are checked by their parser (a spreadsheet's "….0" is longer than 12).
        if limit is not None and column.parse is not _code and len(text.strip()) > limit:
            problems.append(Problem(source, f"is {len(text.strip())} characters long; the "
                                    f"registry keeps at most {limit}", row=row,
                                    column=column.name, hint=f"shorten it to {limit} "
                                    "characters or fewer", code="too_long",
                                    params={"limit": limit}))
            continue
        try:
            values[column.name] = column.parse(text)
        except ValueError as exc:
            reason = str(exc)
            if len(reason) > 2 * _SHOWN:
                reason = f"{reason[:_SHOWN]}…{reason[-_SHOWN:]}"
            shown = text.strip()
            if len(shown) > _SHOWN:
                shown = shown[:_SHOWN] + "…"
            code = exc.code if isinstance(exc, CellError) else "invalid_value"
            extra = exc.params if isinstance(exc, CellError) else {}
            problems.append(Problem(source, reason, row=row, column=column.name, code=code,
                                    params={"value": shown, **extra}))
    return values, problems


def coordinate_problems(values: Mapping[str, Any], code: str, *, source: str,
                        row: int | None) -> list[Problem]:
    """Longitude and latitude given together and inside the province of ``code``."""
    problems: list[Problem] = []
    lon, lat = values.get("longitude"), values.get("latitude")
    if (lon is None) != (lat is None):
        problems.append(Problem(source, "longitude and latitude must be given together",
                                row=row, column="latitude" if lat is None else
                                "longitude", code="upkeep.coordinates_together"))
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
                 "GCJ-02 (then convert it to WGS84, or import with --crs gcj02)",
            code="upkeep.outside_province",
            params={"longitude": lon, "latitude": lat, "province": code[:2]}))
    return problems


def stored_divisions(session: Session, codes: Iterable[str], as_of: dt.date
                      ) -> dict[str, Division]:
    wanted = sorted(set(codes))
    found: dict[str, Division] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start: start + 900]
        for unit in session.scalars(select(Division).where(valid_on(as_of),
                                                           Division.code.in_(chunk))):
            found[unit.code] = unit
    return found


def facility_problems(catalog: Catalog, values: Mapping[str, Any], division: Division | None,
                      *, source: str, row: int | None, as_of: dt.date) -> list[Problem]:
    """What is wrong with one facility's typed values (``division``: the stored division
    its ``division_code`` names, None when there is none), by the registry's rules."""
    problems: list[Problem] = []
    type_code = values.get("type_code")
    if type_code is not None and type_code not in catalog.facility_types:
        problems.append(Problem(source, f"unknown facility type {type_code!r}",
                                row=row, column="type_code",
                                hint="use a code of the catalog's facility_types.toml, listed by "
                                     "GET /api/v1/facility-types",
                                code="upkeep.unknown_type", params={"value": type_code}))
    code = values.get("division_code")
    if code is not None:
        if division is None:
            problems.append(Problem(source, f"no division {code} in force on "
                                    f"{as_of.isoformat()}", row=row, column="division_code",
                                    hint="import the division first",
                                    code="upkeep.no_division",
                                    params={"value": code, "date": as_of.isoformat()}))
        problems += coordinate_problems(values, code, source=source, row=row)
    floor, activity = values.get("floor_area_m2"), values.get("activity_area_m2")
    if floor is not None and activity is not None and activity > floor:
        problems.append(Problem(source, f"activity area {activity:g} m² exceeds the floor "
                                f"area {floor:g} m²", row=row, column="activity_area_m2",
                                hint="the activity area is the part of the floor area "
                                     "residents use", code="upkeep.activity_exceeds_floor",
                                params={"activity": f"{activity:g}", "floor": f"{floor:g}"}))
    opened, closed = values.get("opened_on"), values.get("closed_on")
    if opened and closed and closed < opened:
        problems.append(Problem(source, f"closed_on {closed} is before opened_on {opened}",
                                row=row, column="closed_on", code="upkeep.closed_before_opened",
                                params={"closed": closed.isoformat(),
                                        "opened": opened.isoformat()}))
    return problems


def population_problems(values: Mapping[str, Any], division: Division | None, *,
                        source: str, row: int | None) -> list[Problem]:
    """What is wrong with one year's population figures of ``division`` (the stored unit,
    None when unknown: the caller reports that)."""
    problems: list[Problem] = []
    if division is not None and division.level != 5:
        problems.append(Problem(source, f"{division.code} is a level-{division.level} unit; "
                                "population is recorded per community or village",
                                row=row, column="division_code",
                                code="upkeep.not_a_community",
                                params={"value": division.code, "level": division.level}))
    residents = values.get("residents")
    for name in ("age_0_2", "age_3_5", "age_6_14", "age_60_plus", "disabled"):
        if residents is not None and values.get(name, 0) > residents:
            problems.append(Problem(source, f"{name} ({values[name]}) exceeds residents "
                                    f"({residents})", row=row, column=name,
                                    code="upkeep.exceeds_residents",
                                    params={"value": values[name], "residents": residents}))
    if values.get("age_80_plus", 0) > values.get("age_60_plus", 0):
        problems.append(Problem(source, "age_80_plus exceeds age_60_plus",
                                row=row, column="age_80_plus", code="upkeep.over_80_exceeds_60",
                                params={"value": values.get("age_80_plus", 0),
                                        "over_60": values.get("age_60_plus", 0)}))
    households = values.get("households")
    if residents is not None and households is not None and households > residents:
        problems.append(Problem(source, f"households ({households}) exceed residents "
                                f"({residents})", row=row, column="households",
                                hint="a household has at least one resident",
                                code="upkeep.households_exceed_residents",
                                params={"value": households, "residents": residents}))
    return problems



# An export names a facility that has no external id "shequ-<id>" (see export_rows), so
# that importing the export back updates it instead of adding a copy.
EXPORT_ID_PREFIX = "shequ-"


def stored_facilities(session: Session, external_ids: Sequence[str]) -> dict[str, Facility]:
    """The stored facilities that ``external_ids`` name, by external id."""
    found: dict[str, Facility] = {}
    wanted = sorted(set(external_ids))
    for start in range(0, len(wanted), 900):
        chunk = wanted[start: start + 900]
        for facility in session.scalars(select(Facility).where(
                Facility.external_id.in_(chunk))):
            found[facility.external_id or ""] = facility
    by_id = {int(e.removeprefix(EXPORT_ID_PREFIX)): e for e in wanted if e not in found
             and e.startswith(EXPORT_ID_PREFIX) and e.removeprefix(EXPORT_ID_PREFIX).isdigit()}
    if by_id:
        for facility in session.scalars(select(Facility).where(
                Facility.id.in_(list(by_id)), Facility.external_id.is_(None))):
            found[by_id[facility.id]] = facility
    return found
