"""Read a change file in the layout civil-affairs departments publish.

One row per predecessor → successor: old code, old name, change type, new code, new name,
date (CSV or XLSX, Chinese or English headers).  Rows of a merge share the new code and
date; rows of a split share the old code and date and give each part's share.  Optional
columns: share (份额), new parent (新上级代码, for a re-parent without a code), longitude
and latitude of a new unit, the facilities, residents or units a split part takes
(separated by ``;`` ``,`` or ``、``) and a note.

A split may instead be made *by boundaries*: a boundary file (GeoJSON, zipped Shapefile or
GeoPackage, as :mod:`shequ.ingest.boundaries` reads) beside the change file gives each
part's polygon by its new code; the parts' shares may then be left empty and are worked
out from the boundaries (:mod:`shequ.registry.changes`).

Every row is checked and every problem is named with its row; the events read from the
good rows are returned beside the problems, so that the registry's checks of the whole
batch (:func:`shequ.registry.changes.check_changes`) can name theirs too.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from shequ.errors import Problem, ValidationError
from shequ.ingest.boundaries import BoundaryRow, read_boundary_file
from shequ.ingest.coordinates import WGS84, CoordinateSystem
from shequ.ingest.formats import RawRow, read_rows
from shequ.registry.changes import ChangeEvent, NewUnit
from shequ.registry.codes import normalise_code
from shequ.registry.rules import Table

# header (lower case, no spaces or underscores) → field
HEADERS: dict[str, str] = {}
for _field, _names in {
    "old_code": ("原代码", "原区划代码", "原统计用区划代码", "oldcode"),
    "old_name": ("原名称", "原区划名称", "oldname"),
    "kind": ("变更类型", "变更类别", "变更方式", "changetype", "type", "kind"),
    "new_code": ("新代码", "新区划代码", "新统计用区划代码", "newcode"),
    "new_name": ("新名称", "新区划名称", "newname"),
    "date": ("日期", "生效日期", "变更日期", "date", "effectivedate", "effectiveon"),
    "share": ("份额", "比例", "人口比例", "share"),
    "new_parent": ("新上级代码", "新隶属代码", "上级代码", "newparent", "parent"),
    "longitude": ("经度", "longitude", "lon"),
    "latitude": ("纬度", "latitude", "lat"),
    "facilities": ("设施", "facilities"),
    "people": ("居民", "people", "residents"),
    "units": ("下辖单位", "units"),
    "note": ("备注", "说明", "note"),
}.items():
    for _name in _names:
        HEADERS[_name] = _field

KIND_WORDS: dict[str, str] = {}
for _kind, _words in {
    "rename": ("更名", "名称变更", "改名", "rename"),
    "recode": ("代码变更", "变更代码", "改码", "recode"),
    "reparent": ("变更隶属", "隶属变更", "划转", "调整隶属", "reparent", "re-parent"),
    "merge": ("合并", "撤并", "merge"),
    "split": ("拆分", "分设", "split"),
    "abolish": ("撤销", "abolish"),
    "create": ("新设", "设立", "新建", "create"),
}.items():
    for _word in _words:
        KIND_WORDS[_word] = _kind

REQUIRED = ("old_code", "kind", "new_code", "date")
# The required columns as the header names them, in Chinese and English (for messages).
REQUIRED_NAMES = {"old_code": ("原代码", "old code"), "kind": ("变更类型", "change type"),
                  "new_code": ("新代码", "new code"), "date": ("日期", "date")}
LIST_SEPARATORS = re.compile(r"[;,、，；\s]+")
DATE_FORMS = (re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"),
              re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日"),
              re.compile(r"^(\d{4})(\d{2})(\d{2})$"))


@dataclass
class ChangeFile:
    """The events read from a change file and the problems of its rows."""

    source: str
    events: list[ChangeEvent] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0


def _key(header: str) -> str:
    return re.sub(r"[\s_]+", "", header.strip().lower())


def parse_date(text: str) -> dt.date | None:
    """A date written 2024-03-01, 2024/3/1, 2024年3月1日 or 20240301 (else None)."""
    for form in DATE_FORMS:
        match = form.match(text.strip())
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                return None
    return None


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    kind: str
    on: dt.date
    old_code: str | None
    old_name: str | None
    new_code: str | None
    new_name: str | None
    unit: NewUnit
    note: str | None


def _parse_row(source: str, raw: RawRow, problems: list[Problem],  # noqa: PLR0912, PLR0915
               bounded: frozenset[str] = frozenset()) -> _Row | None:
    cells = {name: value.strip() for name, value in raw.values.items() if value}
    row = raw.number
    found: list[Problem] = []

    def problem(column: str, reason: str, key: str, hint: str | None = None,
                **params: object) -> None:
        found.append(Problem(source, reason, row=row, column=column, hint=hint,
                             code=f"changes.{key}", params=params))

    kind_text = cells.get("kind", "")
    kind = KIND_WORDS.get(kind_text.lower()) or KIND_WORDS.get(kind_text)
    if not kind_text:
        problem("kind", "the change type is empty", "empty_cell", column_name="kind")
    elif kind is None:
        problem("kind", f"unknown change type {kind_text!r}", "unknown_kind",
                hint="更名/代码变更/变更隶属/合并/拆分/撤销/新设 or rename, recode, reparent, "
                     "merge, split, abolish, create", kind=kind_text)
    on = parse_date(cells.get("date", ""))
    if on is None:
        problem("date", f"{cells.get('date', '')!r} is not a date", "bad_date",
                hint="YYYY-MM-DD, e.g. 2024-03-01", text=cells.get("date", ""))
    codes: dict[str, str | None] = {}
    for column in ("old_code", "new_code", "new_parent"):
        text = cells.get(column)
        needed = (column == "old_code" and kind != "create") or (
            column == "new_code" and kind in ("recode", "merge", "split", "create"))
        if not text:
            if needed:
                problem(column, f"the {column.replace('_', ' ')} is empty", "empty_cell",
                        column_name=column)
            codes[column] = None
            continue
        try:
            codes[column] = normalise_code(text.split(".")[0])
        except ValidationError:
            problem(column, f"{text!r} is not a division code", "bad_code",
                    hint="12 digits, e.g. 130123102204", code=text)
            codes[column] = None
    numbers: dict[str, float | None] = {}
    for column in ("share", "longitude", "latitude"):
        text = cells.get(column, "").rstrip("%")
        if not text:
            numbers[column] = None
            continue
        try:
            value = float(text)
        except ValueError:
            problem(column, f"{cells[column]!r} is not a number", "bad_number",
                    text=cells[column])
            numbers[column] = None
            continue
        if column == "share" and cells[column].endswith("%"):
            value /= 100
        numbers[column] = value if math.isfinite(value) else None
    if kind == "split" and numbers["share"] is None and "share" not in {
            p.column for p in found} and codes["new_code"] not in bounded:
        problem("share", "each part of a split needs its share", "split_share_missing",
                hint="or give each part's boundary in a boundary file")
    problems.extend(found)
    if found or kind is None or on is None:
        return None
    lists = {column: tuple(item for item in LIST_SEPARATORS.split(cells.get(column, ""))
                           if item) for column in ("facilities", "people", "units")}
    try:
        people = tuple(int(p) for p in lists["people"])
    except ValueError:
        problems.append(Problem(source, "residents are listed by their number", row=row,
                                column="people", code="changes.bad_people"))
        return None
    unit = NewUnit(codes["new_code"], cells.get("new_name"), share=numbers["share"],
                   parent=codes["new_parent"], longitude=numbers["longitude"],
                   latitude=numbers["latitude"], facilities=lists["facilities"],
                   people=people, units=lists["units"])
    return _Row(row, kind, on, codes["old_code"], cells.get("old_name"), codes["new_code"],
                cells.get("new_name"), unit, cells.get("note"))


def read_change_rows(source: str, header: list[str], raw_rows: list[RawRow], *,
                     bounded: frozenset[str] = frozenset()) -> ChangeFile:
    """Events and row problems from rows already read as text (``bounded``: the new codes
    a boundary file gives, whose share may be left empty)."""
    out = ChangeFile(source, rows=len(raw_rows))
    fields = {name: HEADERS.get(_key(name)) for name in header}
    missing = [f for f in REQUIRED if f not in fields.values()]
    if missing:
        out.problems.append(Problem(
            source, f"the header lacks {', '.join(missing)}", row=1,
            hint="原代码, 原名称, 变更类型, 新代码, 新名称, 日期 (or old code, old name, change "
                 "type, new code, new name, date)", code="changes.header",
            params={"missing": ", ".join(missing),
                    "missing_zh": "、".join(REQUIRED_NAMES[f][0] for f in missing),
                    "missing_en": ", ".join(REQUIRED_NAMES[f][1] for f in missing)}))
        return out
    rows: list[_Row] = []
    for raw in raw_rows:
        named = RawRow(raw.number, {field: v for k, v in raw.values.items()
                                    if (field := fields.get(k))})
        parsed = _parse_row(source, named, out.problems, bounded)
        if parsed is not None:
            rows.append(parsed)
    merges: dict[tuple[dt.date, str | None], list[_Row]] = defaultdict(list)
    splits: dict[tuple[dt.date, str | None], list[_Row]] = defaultdict(list)
    singles: list[tuple[int, ChangeEvent]] = []
    for row in rows:
        if row.kind == "merge":
            merges[(row.on, row.new_code)].append(row)
        elif row.kind == "split":
            splits[(row.on, row.old_code)].append(row)
        else:
            old = (row.old_code,) if row.old_code else ()
            new = () if row.kind == "abolish" else (row.unit,)
            singles.append((row.number, ChangeEvent(row.kind, row.on, old=old, new=new,
                                                    rows=(row.number,),
                                                    old_names=(row.old_name,),
                                                    note=row.note)))
    for group in merges.values():
        first = group[0]
        singles.append((first.number, ChangeEvent(
            "merge", first.on, old=tuple(r.old_code for r in group if r.old_code),
            new=(first.unit,), rows=tuple(r.number for r in group),
            old_names=tuple(r.old_name for r in group), note=first.note)))
    for group in splits.values():
        first = group[0]
        singles.append((first.number, ChangeEvent(
            "split", first.on, old=(first.old_code,) if first.old_code else (),
            new=tuple(r.unit for r in group), rows=tuple(r.number for r in group),
            old_names=(first.old_name,), note=first.note)))
    out.events = [event for _, event in sorted(singles, key=lambda pair: pair[0])]
    return out


def attach_boundaries(changes: ChangeFile, rows: Sequence[BoundaryRow],
                      problems: Sequence[Problem], source: str) -> ChangeFile:
    """``changes`` with each split part given its boundary from ``rows`` (by its new
    code); a boundary row that names no part of a split is a problem of its own."""
    shapes: dict[str, BoundaryRow] = {}
    found = list(problems)
    for row in rows:
        if row.code is None:
            continue
        if row.code in shapes:
            found.append(Problem(source, f"{row.code} has two boundaries (first in row "
                                 f"{shapes[row.code].number})", row=row.number, column="code",
                                 code="changes.boundary_twice",
                                 params={"code": row.code, "first": shapes[row.code].number}))
            continue
        shapes[row.code] = row
    used: set[str] = set()
    events = []
    for event in changes.events:
        if event.kind != "split":
            events.append(event)
            continue
        parts = []
        for part in event.new:
            given = shapes.get(part.code) if part.code else None
            if given is not None:
                used.add(given.code or "")
            parts.append(replace(part, boundary=given.geometry) if given else part)
        events.append(replace(event, new=tuple(parts)))
    for code, row in sorted(shapes.items(), key=lambda pair: pair[1].number):
        if code not in used:
            found.append(Problem(source, f"{code} is no part of a split in the change file",
                                 row=row.number, column="code",
                                 hint="a boundary file gives the parts of splits, by new code",
                                 code="changes.boundary_unused", params={"code": code}))
    return ChangeFile(changes.source, events, [*changes.problems, *found], changes.rows)


def read_change_file(path: Path, *, name: str | None = None,
                     boundaries: Path | None = None, boundary_name: str | None = None,
                     crs: CoordinateSystem = WGS84) -> ChangeFile:
    """Events and row problems of a CSV or XLSX change file, with the split parts'
    boundaries from ``boundaries`` when given."""
    header, raw_rows = read_rows(path, Table.DIVISIONS)
    if boundaries is None:
        return read_change_rows(name or path.name, header, raw_rows)
    shape_rows, shape_problems = read_boundary_file(boundaries, crs=crs)
    source = boundary_name or boundaries.name
    shape_problems = [replace(p, source=source) for p in shape_problems]
    changes = read_change_rows(name or path.name, header, raw_rows,
                               bounded=frozenset(r.code for r in shape_rows if r.code))
    return attach_boundaries(changes, shape_rows, shape_problems, source)


def read_change_bytes(data: bytes, filename: str, *,
                      boundaries: tuple[bytes, str] | None = None,
                      crs: CoordinateSystem = WGS84) -> ChangeFile:
    """As :func:`read_change_file`, for an uploaded file's bytes (and the boundary
    file's bytes and name)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ValidationError([Problem(filename, "a change file is CSV or XLSX",
                                       code="changes.file_format")])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"changes{suffix}"
        path.write_bytes(data)
        shapes = None
        if boundaries is not None:
            shapes = Path(folder) / f"boundaries{Path(boundaries[1]).suffix.lower()}"
            shapes.write_bytes(boundaries[0])
        return read_change_file(path, name=Path(filename).name, boundaries=shapes,
                                boundary_name=Path(boundaries[1]).name if boundaries else None,
                                crs=crs)


__all__ = ["HEADERS", "KIND_WORDS", "ChangeFile", "attach_boundaries", "parse_date",
           "read_change_bytes",
           "read_change_file", "read_change_rows"]
