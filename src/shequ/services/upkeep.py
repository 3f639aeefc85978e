"""Keeping the registry current from the field.

A community worker (or a street officer, a planner, an administrator) corrects the
facilities of their jurisdiction and records each year's population once, and every
office reads the same figures: the indicators, the life circles, the directory.

Every change goes through the same column rules and registry rules as a file import
(:func:`~shequ.registry.rules.parse_cells`, :func:`~shequ.registry.rules.facility_problems`,
:func:`~shequ.registry.rules.population_problems`), inside the editor's jurisdiction (the
policy), and leaves an audit row.  A refused change raises before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shequ.catalog import Catalog
from shequ.context import Context
from shequ.errors import AccessDenied, NotFoundError, Problem, ValidationError
from shequ.ingest.coordinates import WGS84, CoordinateSystem
from shequ.ingest.formats import FileFormat, read_rows
from shequ.ingest.tables import ImportReport, ParsedRow, export_file, import_file
from shequ.registry import queries
from shequ.registry.codes import code_prefix
from shequ.registry.models import (
    ACTIVE_STATUSES,
    MIN_PERIOD,
    Division,
    Facility,
    FacilityStatus,
    Population,
    Workforce,
)
from shequ.registry.rules import (
    COLUMNS,
    Table,
    cell_text,
    facility_problems,
    parse_cells,
    population_problems,
    stored_facilities,
)
from shequ.services.accounts.audit import audit
from shequ.services.accounts.models import User
from shequ.services.accounts.policy import (
    NATIONWIDE_ROLES,
    STAFF_ROLES,
    in_jurisdiction,
    jurisdiction_prefix,
    require_in_jurisdiction,
    require_role,
)
from shequ.services.jobs.runner import ProgressReporter, no_progress

if TYPE_CHECKING:
    from shequ.services.jobs.models import Job

# The facility columns an editor may set; the rest (synthetic, source, parent) belong to
# imports.
FACILITY_FIELDS = tuple(c.name for c in COLUMNS[Table.FACILITIES]
                        if c.name not in ("parent_external_id", "synthetic", "source"))
POPULATION_FIELDS = tuple(c.name for c in COLUMNS[Table.POPULATION]
                          if c.name not in ("division_code", "period", "synthetic", "source"))
_REQUIRED_ON_CREATE = ("type_code", "division_code", "name")


def _cells(fields: Mapping[str, object], allowed: tuple[str, ...], source: str
           ) -> dict[str, str]:
    """The given fields as the text cells the column rules read (empty ones left out)."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationError([Problem(source, f"unknown field(s) {', '.join(unknown)}",
                                       hint=f"the fields are {', '.join(allowed)}",
                                       code="upkeep.unknown_fields",
                                       params={"value": ", ".join(unknown)})])
    texts = {k: cell_text(v).strip() for k, v in fields.items() if v is not None}
    return {k: v for k, v in texts.items() if v}


def _division(session: Session, code: str | None, as_of: dt.date) -> Division | None:
    if code is None:
        return None
    try:
        return queries.division(session, code, as_of=as_of)
    except NotFoundError:
        return None


def _raise(problems: list[Problem], what: str) -> None:
    if problems:
        raise ValidationError(problems, summary=f"{what}: {len(problems)} problem(s); "
                              "nothing was changed")


def _label(user: User) -> str:
    return f"edit: {user.username}"


def create_facility(session: Session, catalog: Catalog, user: User,
                    fields: Mapping[str, object], *, source: str = "body") -> Facility:
    """Add a facility in the editor's jurisdiction (status in service unless given)."""
    require_role(user, *STAFF_ROLES)
    cells = _cells(fields, FACILITY_FIELDS, source)
    values, problems = parse_cells(Table.FACILITIES, cells, source=source, row=None,
                                   partial=True)
    problems += [Problem(source, "is required", column=name, code="required")
                 for name in _REQUIRED_ON_CREATE if name not in cells]
    code = values.get("division_code")
    if code is not None:
        require_in_jurisdiction(user, code)
    when = queries.today()
    problems += facility_problems(catalog, values, _division(session, code, when),
                                  source=source, row=None, as_of=when)
    problems += _external_id_problems(session, values.get("external_id"), None, source)
    _raise(problems, "the new facility")
    values.setdefault("status", FacilityStatus.IN_SERVICE.value)
    facility = Facility(**values, source=_label(user))
    session.add(facility)
    session.flush()
    audit(session, user=user, action="create", entity="facility", entity_id=facility.id,
          detail={k: cell_text(v) for k, v in values.items()})
    return facility


def update_facility(session: Session, catalog: Catalog, user: User, facility_id: int,
                    changes: Mapping[str, object], *, source: str = "body") -> Facility:
    """Change some fields of a facility (None clears a field) inside the jurisdiction;
    moving it to another division needs that division in the jurisdiction too."""
    require_role(user, *STAFF_ROLES)
    facility = queries.facility(session, facility_id)
    require_in_jurisdiction(user, facility.division_code)
    values, problems = parse_cells(Table.FACILITIES, _cells(changes, FACILITY_FIELDS, source),
                                   source=source, row=None, partial=True)
    # A field the registry cannot store empty (a name, a status …) is refused, not cleared.
    required = {name for name in FACILITY_FIELDS
                if not Facility.__table__.columns[name].nullable}
    cleared = {k for k, v in changes.items() if v is None or cell_text(v).strip() == ""}
    problems += [Problem(source, "cannot be emptied", column=name,
                         hint="give a new value instead", code="upkeep.cannot_empty")
                 for name in sorted(cleared & required)]
    if "division_code" in values and values["division_code"] != facility.division_code:
        require_in_jurisdiction(user, values["division_code"])
    merged: dict[str, Any] = {name: getattr(facility, name) for name in FACILITY_FIELDS}
    merged |= values
    merged |= dict.fromkeys(cleared - required)
    when = queries.today()
    problems += facility_problems(catalog, merged,
                                  _division(session, merged["division_code"], when),
                                  source=source, row=None, as_of=when)
    if "external_id" in values:
        problems += _external_id_problems(session, values["external_id"], facility.id, source)
    _raise(problems, f"facility {facility_id}")
    changed = {name: [cell_text(getattr(facility, name)), cell_text(merged[name])]
               for name in FACILITY_FIELDS if getattr(facility, name) != merged[name]}
    for name in changed:
        setattr(facility, name, merged[name])
    session.flush()
    if changed:
        audit(session, user=user, action="update", entity="facility", entity_id=facility.id,
              detail=changed)
    return facility


def _external_id_problems(session: Session, external_id: str | None, own_id: int | None,
                          source: str) -> list[Problem]:
    if external_id is None:
        return []
    holder = session.scalars(select(Facility.id).where(
        Facility.external_id == external_id)).first()
    if holder is None or holder == own_id:
        return []
    return [Problem(source, f"external_id {external_id!r} already names facility {holder}",
                    column="external_id", hint="each facility has its own external id",
                    code="upkeep.external_id_taken",
                    params={"value": external_id, "holder": holder})]


def _period_problems(period: int, source: str) -> list[Problem]:
    this_year = queries.today().year
    if MIN_PERIOD <= period <= this_year + 1:
        return []
    return [Problem(source, f"year {period} is outside {MIN_PERIOD}–{this_year + 1}",
                    column="period", code="out_of_range",
                    params={"value": period, "low": MIN_PERIOD, "high": this_year + 1})]


def population_of(session: Session, division_code: str) -> list[Population]:
    """The recorded years of one community or village, latest first."""
    return list(session.scalars(select(Population).where(
        Population.division_code == division_code).order_by(Population.period.desc())))


def record_population(session: Session, user: User, division_code: str, period: int,
                      figures: Mapping[str, object], *, source: str = "body") -> Population:
    """Record (or correct) one year's population of a community or village."""
    require_role(user, *STAFF_ROLES)
    require_in_jurisdiction(user, division_code)
    cells = {"division_code": division_code, "period": str(period),
             **_cells(figures, POPULATION_FIELDS, source)}
    values, problems = parse_cells(Table.POPULATION, cells, source=source, row=None)
    problems += _period_problems(period, source)
    division = _division(session, division_code, queries.today())
    if division is None:
        problems.append(Problem(source, f"no division {division_code} in force today",
                                column="division_code", code="upkeep.no_division",
                                params={"value": division_code,
                                        "date": queries.today().isoformat()}))
    record = session.scalars(select(Population).where(
        Population.division_code == division_code, Population.period == period)).first()
    # Figures not given keep their stored value (zero for a new year, as in an import).
    before = {name: getattr(record, name) if record is not None else 0
              for name in POPULATION_FIELDS}
    merged = before | values
    problems += population_problems(merged, division, source=source, row=None)
    _raise(problems, f"population of {division_code} in {period}")
    if record is None:
        record = Population(division_code=division_code, period=period)
        session.add(record)
    for name in POPULATION_FIELDS:
        setattr(record, name, merged[name])
    record.source = _label(user)
    record.synthetic = False
    session.flush()
    audit(session, user=user, action="record", entity="population", entity_id=record.id,
          detail={"division_code": division_code, "period": period,
                  "changed": {name: [before[name], merged[name]] for name in POPULATION_FIELDS
                              if before[name] != merged[name]}})
    return record


def workforce_of(session: Session, division_code: str) -> list[Workforce]:
    """The recorded staffing of a division, latest year first, then by role."""
    return list(session.scalars(select(Workforce).where(
        Workforce.division_code == division_code).order_by(
        Workforce.period.desc(), Workforce.role, Workforce.certification)))


def record_workforce(session: Session, user: User, division_code: str, period: int,
                     headcounts: Sequence[Mapping[str, object]], *,
                     source: str = "body") -> list[Workforce]:
    """Record (or replace) one year's staffing of a division: one line per role and
    certification; a line left out, or with headcount 0, is no longer recorded."""
    require_role(user, *STAFF_ROLES)
    require_in_jurisdiction(user, division_code)
    problems = _period_problems(period, source)
    if _division(session, division_code, queries.today()) is None:
        problems.append(Problem(source, f"no division {division_code} in force today",
                                column="division_code", code="upkeep.no_division",
                                params={"value": division_code,
                                        "date": queries.today().isoformat()}))
    lines: dict[tuple[str, str], int] = {}
    for number, line in enumerate(headcounts, start=1):
        cells = {"division_code": division_code, "period": str(period),
                 **_cells(line, ("role", "certification", "headcount"), source)}
        values, found = parse_cells(Table.WORKFORCE, cells, source=source, row=number)
        problems += found
        if found:
            continue
        key = (values["role"], values.get("certification", "none"))
        if key in lines:
            problems.append(Problem(source, f"role {key[0]} with certification {key[1]} "
                                    "is given twice", row=number, column="role",
                                    hint="give each role and certification once",
                                    code="upkeep.line_twice"))
        lines[key] = values["headcount"]
    _raise(problems, f"workforce of {division_code} in {period}")
    stored = session.scalars(select(Workforce).where(
        Workforce.division_code == division_code, Workforce.period == period)).all()
    before = {f"{w.role}/{w.certification}": w.headcount for w in stored}
    session.execute(delete(Workforce).where(Workforce.division_code == division_code,
                                            Workforce.period == period))
    records = [Workforce(division_code=division_code, period=period, role=role,
                         certification=certification, headcount=headcount,
                         synthetic=False, source=_label(user))
               for (role, certification), headcount in sorted(lines.items()) if headcount]
    session.add_all(records)
    session.flush()
    audit(session, user=user, action="record", entity="workforce",
          entity_id=f"{division_code}/{period}",
          detail={"before": before,
                  "after": {f"{w.role}/{w.certification}": w.headcount for w in records}})
    return records


MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _upload_name(filename: str) -> str:
    """The file's own name made safe (problems, the label and the audit name it)."""
    return re.sub(r"[^\w.\-]+", "_", Path(filename).name).strip("._") or "upload"


def import_upload(session: Session, catalog: Catalog, user: User, table: Table, *,
                  filename: str, content: bytes, crs: CoordinateSystem = WGS84,
                  progress: ProgressReporter = no_progress) -> ImportReport:
    """Import an uploaded CSV, XLSX or GeoJSON file as ``shequ import`` would, when every
    row lies inside the uploader's jurisdiction (divisions: nationwide roles only)."""
    require_role(user, *(NATIONWIDE_ROLES if table is Table.DIVISIONS else STAFF_ROLES))
    name = _upload_name(filename)
    problems: list[Problem] = []
    if len(content) > MAX_UPLOAD_BYTES:
        problems.append(Problem(name, f"the file has {len(content):,} bytes, more than "
                                f"{MAX_UPLOAD_BYTES:,}", hint="split it into smaller files",
                                code="upkeep.file_too_large",
                                params={"size": len(content), "limit": MAX_UPLOAD_BYTES}))
    if not content:
        problems.append(Problem(name, "the file is empty", code="upkeep.file_empty"))
    if problems:
        raise ValidationError(problems)
    FileFormat.of(Path(name))  # an unknown suffix is refused before anything is saved

    def inside(rows: Sequence[ParsedRow]) -> None:
        progress(0.6, "write")  # every row checked: what is left is writing them
        key = "code" if table is Table.DIVISIONS else "division_code"
        outside = {r.values[key]: r.number for r in rows
                   if not in_jurisdiction(user, r.values[key])}
        if table is Table.FACILITIES:
            stored = stored_facilities(session, [r.values["external_id"] for r in rows])
            by_id = {r.values["external_id"]: r.number for r in rows}
            outside |= {f.division_code: by_id[e] for e, f in stored.items()
                        if not in_jurisdiction(user, f.division_code)}
        if outside:
            shown = ", ".join(f"{code} (row {row})" for code, row in sorted(
                outside.items(), key=lambda item: item[1])[:5])
            raise AccessDenied(f"{name}: {len(outside)} division(s) lie outside the "
                               f"jurisdiction of user {user.id} ({user.role}), e.g. {shown}; "
                               "nothing was written", code="upkeep.outside_jurisdiction",
                               params={"count": len(outside), "shown": shown})

    with tempfile.TemporaryDirectory(prefix="shequ-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        progress(0.1, "check")
        try:
            report = import_file(session, catalog, path, table, crs=crs,
                                 source=f"upload: {name} by {user.username}",
                                 before_write=inside)
        except ValidationError as exc:
            raise _as_uploaded(exc, path, name) from None
    audit(session, user=user, action="import", entity=table.value, entity_id=name,
          detail={"rows": report.rows, "inserted": report.inserted,
                  "updated": report.updated, "versioned": report.versioned, "crs": crs})
    return report


# Files of more rows than this are imported as a job, whose progress the page shows;
# smaller ones at once, in the request.
IMPORT_JOB_ROWS = 5_000
# Where a file waits for its import job (under the data folder; removed once imported).
IMPORT_FOLDER = "imports"


def upload_rows(table: Table, *, filename: str, content: bytes) -> int:
    """How many data rows an uploaded file holds (its header not counted)."""
    name = _upload_name(filename)
    FileFormat.of(Path(name))
    with tempfile.TemporaryDirectory(prefix="shequ-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            return len(read_rows(path, table)[1])
        except ValidationError as exc:
            raise _as_uploaded(exc, path, name) from None


def _as_uploaded(exc: ValidationError, path: Path, name: str) -> ValidationError:
    """``exc`` naming the file as the uploader knows it, not by the temporary folder."""
    return ValidationError([Problem(name if p.source == str(path) else p.source, p.reason,
                                    p.row, p.column, p.hint, p.code, p.params)
                            for p in exc.problems],
                           summary=str(exc).split("\n", 1)[0])


def import_or_start(ctx: Context, session: Session, user: User, table: Table, *,
                    filename: str, content: bytes, crs: CoordinateSystem = WGS84,
                    job_rows: int = IMPORT_JOB_ROWS) -> ImportReport | Job:
    """Import an upload at once in ``session`` when it holds at most ``job_rows`` rows;
    a larger one is kept under the data folder and imported by a ``registry.import`` job
    (its report is the job's result).  The uploader's rights are checked first."""
    require_role(user, *(NATIONWIDE_ROLES if table is Table.DIVISIONS else STAFF_ROLES))
    if not content or len(content) > MAX_UPLOAD_BYTES \
            or upload_rows(table, filename=filename, content=content) <= job_rows:
        return import_upload(session, catalog=ctx.catalog, user=user, table=table,
                             filename=filename, content=content, crs=crs)
    from shequ.services.jobs.service import submit

    folder = ctx.settings.data_dir / IMPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{secrets.token_hex(8)}-{_upload_name(filename)}"
    kept.write_bytes(content)
    session.rollback()  # nothing was written; the job opens its own sessions
    try:
        return submit(ctx, user, kind="registry.import",
                      division_code=(jurisdiction_prefix(user) or "").ljust(12, "0"),
                      parameters={"table": table.value, "filename": filename,
                                  "path": str(kept), "crs": crs, "user_id": user.id})
    except Exception:
        kept.unlink(missing_ok=True)
        raise


def import_job(ctx: Context, parameters: dict[str, Any], progress: ProgressReporter
               ) -> dict[str, Any]:
    """The work of a ``registry.import`` job: the kept file imported as an upload."""
    kept = Path(parameters["path"])
    if not kept.is_file():
        raise NotFoundError(f"the uploaded file {parameters['filename']!r} is no longer kept; "
                            "upload it again", code="upkeep.upload_gone",
                            params={"file": parameters["filename"]})
    progress(0.05, "read")
    try:
        with ctx.sessions.begin() as session:
            user = session.get(User, parameters["user_id"])
            if user is None:
                raise NotFoundError(f"user {parameters['user_id']} is gone",
                                    code="upkeep.uploader_gone")
            report = import_upload(session, ctx.catalog, user, Table(parameters["table"]),
                                   filename=parameters["filename"],
                                   content=kept.read_bytes(),
                                   crs=parameters.get("crs") or WGS84, progress=progress)
    except ValidationError:
        # refused for its rows: the same bytes would be refused again, so the uploader
        # corrects the file and uploads it anew; it is not kept
        kept.unlink(missing_ok=True)
        raise
    kept.unlink(missing_ok=True)
    return {"table": report.table.value, "rows": report.rows, "inserted": report.inserted,
            "updated": report.updated, "versioned": report.versioned,
            "filename": parameters["filename"]}


@dataclass(frozen=True, slots=True)
class Completeness:
    """What a community's records lack for the indicators: the latest year of its
    population and workforce, and facilities without floor area, location or hours."""

    code: str
    name: str
    population_year: int | None
    workforce_year: int | None
    facilities: int
    without_floor_area: int
    without_location: int
    without_hours: int

    @property
    def gaps(self) -> int:
        """How many things are missing, the latest figures counting one each when absent
        or older than last year."""
        last_year = queries.today().year - 1
        stale = sum(1 for year in (self.population_year, self.workforce_year)
                    if year is None or year < last_year)
        return stale + self.without_floor_area + self.without_location + self.without_hours


def completeness(session: Session, catalog: Catalog, prefix: str, *, limit: int = 1000
                 ) -> list[Completeness]:
    """The communities and villages under ``prefix`` (their 12-digit code prefix), those
    with the most gaps first.  A floor area is missing only for the types the registry
    keeps one for (the catalog's ``records_floor_area``)."""
    with_area = sorted(t.code for t in catalog.facility_types.values() if t.records_floor_area)
    units = queries.communities_under(session, prefix, limit=limit)
    codes = [u.code for u in units]
    population: dict[str, int] = {}
    workforce: dict[str, int] = {}
    counts: dict[str, tuple[int, int, int, int]] = {}
    for start in range(0, len(codes), 900):
        chunk = codes[start:start + 900]
        for table, latest in ((Population, population), (Workforce, workforce)):
            for code, year in session.execute(
                    select(table.division_code, func.max(table.period))
                    .where(table.division_code.in_(chunk)).group_by(table.division_code)):
                latest[code] = year
        for code, total, floor, location, hours in session.execute(
                select(Facility.division_code, func.count(),
                       func.count().filter(Facility.floor_area_m2.is_(None),
                                           Facility.type_code.in_(with_area)),
                       func.count().filter(Facility.longitude.is_(None)),
                       func.count().filter(Facility.opening_hours.is_(None)))
                .where(Facility.division_code.in_(chunk),
                       Facility.status.in_(ACTIVE_STATUSES))
                .group_by(Facility.division_code)):
            counts[code] = (total, floor, location, hours)
    rows = [Completeness(u.code, u.name, population.get(u.code), workforce.get(u.code),
                         *counts.get(u.code, (0, 0, 0, 0))) for u in units]
    return sorted(rows, key=lambda r: (-r.gaps, r.code))


MEDIA_TYPES = {
    FileFormat.CSV: "text/csv; charset=utf-8",
    FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    FileFormat.GEOJSON: "application/geo+json",
}


def export_download(session: Session, table: Table, division_code: str,
                    fmt: FileFormat) -> tuple[str, bytes]:
    """A table's rows under a division as a file to edit and upload again: (file name,
    content); the same columns as ``shequ export`` and the import."""
    unit = queries.division(session, division_code)
    name = f"{table.value}-{unit.code}.{fmt.value}"
    with tempfile.TemporaryDirectory(prefix="shequ-export-") as folder:
        path = Path(folder) / name
        export_file(session, table, path, prefix=code_prefix(unit.code, unit.level))
        return name, path.read_bytes()
