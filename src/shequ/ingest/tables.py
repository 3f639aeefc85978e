"""Import and export of divisions, facilities, workforce and population.

The file formats are :mod:`shequ.ingest.formats`, the column and value rules
:mod:`shequ.registry.rules`, the coordinate systems :mod:`shequ.ingest.coordinates`.
The same columns go out as come in, so an export imports back without loss.

An import is validated completely before anything is written: every bad row is reported
with file, row, column and reason, and one bad row means nothing is written.  Rows are
matched to what is stored by their natural key (division code; facility external_id;
division + year (+ role + certification) for population and workforce) and update it;
a division whose name, parent or kind changes gets a new version instead, so its
history is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.catalog import Catalog
from shequ.errors import Problem, ValidationError
from shequ.ingest.boundaries import place_facility_rows
from shequ.ingest.coordinates import GCJ02, WGS84, CoordinateSystem, gcj02_to_wgs84
from shequ.ingest.formats import FileFormat, RawRow, read_rows, write_rows
from shequ.registry.codes import level_of, parent_of
from shequ.registry.models import (
    Certification,
    Division,
    DivisionKind,
    Facility,
    FacilityStatus,
    Population,
    Workforce,
)
from shequ.registry.queries import today, valid_on
from shequ.registry.rules import (
    COLUMNS,
    EXPORT_ID_PREFIX,
    Table,
    coordinate_problems,
    facility_problems,
    parse_cells,
    population_problems,
    stored_divisions,
    stored_facilities,
)


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
                                f"{', '.join(c.name for c in columns)}",
                                code="upkeep.missing_columns",
                                params={"columns": ", ".join(missing)}))
    unknown = [h for h in header if h and h not in known]
    if unknown:
        problems.append(Problem(source, f"unknown column(s) {', '.join(unknown)}", row=1,
                                hint=f"the {table.value} columns are "
                                f"{', '.join(c.name for c in columns)}",
                                code="upkeep.unknown_columns",
                                params={"columns": ", ".join(unknown)}))
    if problems:
        return [], problems
    parsed = []
    for raw in rows:
        values, found = parse_cells(table, raw.values, source=source, row=raw.number)
        problems += found
        parsed.append(ParsedRow(raw.number, values))
    return parsed, problems


def _check_coordinates(source: str, row: ParsedRow, code: str, problems: list[Problem]
                       ) -> None:
    problems += coordinate_problems(row.values, code, source=source, row=row.number)


def _validate_divisions(session: Session, source: str, rows: list[ParsedRow],
                        problems: list[Problem], as_of: dt.date) -> None:
    in_file = {r.values["code"]: r for r in rows if "code" in r.values}
    parents = {r.values.get("parent_code") or parent_of(r.values["code"],
                                                       level_of(r.values["code"]))
               for r in rows if "code" in r.values}
    stored = stored_divisions(session, [p for p in parents if p], as_of)
    seen: dict[str, int] = {}
    for row in rows:
        code = row.values.get("code")
        if code is None:
            continue
        if code in seen:
            problems.append(Problem(source, f"code {code} appears twice (first in row "
                                    f"{seen[code]})", row=row.number, column="code",
                                    code="upkeep.given_twice",
                                    params={"value": code, "first": seen[code]}))
        seen[code] = row.number
        level = level_of(code)
        implied = parent_of(code, level)
        parent = row.values.get("parent_code") or implied
        row.values["parent_code"] = parent
        if parent != implied:
            problems.append(Problem(source, f"parent {parent} does not own code {code}",
                                    row=row.number, column="parent_code",
                                    hint=f"a level-{level} code's parent is {implied}",
                                    code="upkeep.parent_not_owner",
                                    params={"value": parent, "code": code}))
        elif parent is not None and parent not in stored and parent not in in_file:
            problems.append(Problem(source, f"unknown parent {parent}", row=row.number,
                                    column="parent_code",
                                    hint="import the parent first or in the same file",
                                    code="upkeep.unknown_parent", params={"value": parent}))
        kind = row.values.get("kind")
        if kind is not None:
            from shequ.registry.codes import expected_level

            if expected_level(DivisionKind(kind)) != level:
                problems.append(Problem(source, f"kind {kind} is not a level-{level} kind "
                                        f"(code {code} is level {level})", row=row.number,
                                        column="kind", code="upkeep.kind_level",
                                        params={"value": kind, "level": level}))
        _check_coordinates(source, row, code, problems)


def _validate_facilities(session: Session, catalog: Catalog, source: str,
                         rows: list[ParsedRow], problems: list[Problem], *,
                         as_of: dt.date) -> None:
    stored = stored_divisions(session, (r.values["division_code"] for r in rows
                                         if "division_code" in r.values), as_of)
    ids_in_file: dict[str, int] = {}
    for row in rows:
        external = row.values.get("external_id")
        if external is not None:
            if external in ids_in_file:
                problems.append(Problem(source, f"external_id {external!r} appears twice "
                                        f"(first in row {ids_in_file[external]})",
                                        row=row.number, column="external_id",
                                        code="upkeep.given_twice",
                                        params={"value": external,
                                                "first": ids_in_file[external]}))
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
                                    row=row.number, column="parent_external_id",
                                    code="upkeep.unknown_parent", params={"value": parent}))
        if parent is not None and parent == values.get("external_id"):
            problems.append(Problem(source, "a facility cannot be its own parent",
                                    row=row.number, column="parent_external_id",
                                    code="upkeep.own_parent"))


def _validate_counts(session: Session, table: Table, source: str, rows: list[ParsedRow],
                     problems: list[Problem], *, as_of: dt.date) -> None:
    stored = stored_divisions(session, (r.values["division_code"] for r in rows
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
                                    column="division_code", hint="import the division first",
                                    code="upkeep.no_division",
                                    params={"value": code, "date": as_of.isoformat()}))
        if table is Table.POPULATION:
            key: tuple[Any, ...] = (code, values.get("period"))
            problems += population_problems(values, stored.get(code), source=source,
                                            row=row.number)
        else:
            values.setdefault("certification", Certification.NONE.value)
            key = (code, values.get("period"), values.get("role"), values["certification"])
        if key in seen:
            problems.append(Problem(source, f"{key} appears twice (first in row {seen[key]})",
                                    row=row.number, code="upkeep.row_twice",
                                    params={"first": seen[key]}))
        seen[key] = row.number


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
    # A facility given by its point alone goes to the community whose boundary holds it
    # (else the nearest); each row records the rule that placed it.
    placed_by = (place_facility_rows(session, header, raw_rows, crs=crs, as_of=when)
                 if table is Table.FACILITIES else {})
    rows, problems = _parse(path, table, header, raw_rows)
    for row in rows:
        if row.number in placed_by:
            row.values["placed_by"] = placed_by[row.number]
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
    stored = stored_divisions(session, (r.values["code"] for r in rows), when)
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
        # a new version (a rename) keeps the unit's place unless the file gives another,
        # so planning still finds its representative point
        for key, value in geography.items():
            if value is None:
                values[key] = getattr(existing, key)
        if all(value is None for value in geography.values()):
            values["synthetic_geography"] = existing.synthetic_geography
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
        external = {f.id: f.external_id or f"{EXPORT_ID_PREFIX}{f.id}" for f in facilities}
        missing_parents = {f.parent_id for f in facilities if f.parent_id} - set(external)
        for parent in session.scalars(select(Facility).where(Facility.id.in_(missing_parents))):
            external[parent.id] = parent.external_id or f"{EXPORT_ID_PREFIX}{parent.id}"
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


def export_file(session: Session, table: Table, path: Path, *, prefix: str = "",
                as_of: dt.date | None = None) -> int:
    """Write ``table`` to ``path`` (format from the suffix); return the number of rows."""
    FileFormat.of(path)  # an unknown suffix is refused before the query runs
    return write_rows(path, table.value, [c.name for c in COLUMNS[table]],
                      export_rows(session, table, prefix=prefix, as_of=as_of))
