"""Division changes as events, and the data they carry to the successors.

A change is one of :data:`KINDS`, each with an effective date:

rename     one unit keeps its code and gets a new name
recode     one unit gets a new code under the same parent (its subtree follows)
reparent   one unit moves under another parent and gets a code there (its subtree follows)
merge      several units of one level become one (which may continue one of their codes)
split      one unit becomes several, with the share of its people each takes, or with
           each part's boundary (a split *by boundaries*, below)
abolish    one unit ends; refused while anything still lies in it
create     a new unit starts

:func:`check_changes` plays a whole batch against the hierarchy in memory, in date order,
and names every problem with the row it came from; :func:`apply_changes` writes the batch
only when there is none (the caller's transaction rolls back on any error, so a refused
batch writes nothing).  Each change closes the predecessors' versions the day it takes
effect, opens the successors', records the event (:class:`DivisionChangeEvent`) and one
link per predecessor → successor with the share that went there.

What each table carries (:func:`apply_changes`):

facilities        every facility of a predecessor goes to its successor; in a split, to
                  the successor it is listed for, else the one whose representative point
                  is nearest its location, else the successor continuing the old code;
population,       the rows of the years the change is in force for (year ≥ the effective
workforce         date's year) go to the successor: a merge sums them, a split shares them
                  out by the given shares (whole numbers, largest remainders, totals kept);
                  earlier years stay on the old codes, where they belong, and the
                  indicators map them to any later hierarchy through the links;
split by          when every part of a split brings its boundary: facilities and the
boundaries        located rows of other tables go to the part whose boundary holds them
                  (a facility in none is refused, named); the communities under the unit
                  to the part holding the most of their boundary, else their point;
                  people and workers, unless shares are given, by the share of the old
                  unit each part takes — the residents of the communities it takes (a
                  township), else the area of the old unit's boundary inside it (or the
                  parts' own areas when the old unit has none).  The boundaries must be
                  valid, must not overlap each other and, when the old unit has a
                  boundary, must cover it and lie in it, within ``SPLIT_TOLERANCE_M``;
                  they are stored as the successors' boundaries;
other tables      given by the caller (:class:`Carried`: open requests, bookings' venues,
                  residents, staff jurisdictions …) follow like facilities; a row a change
                  would leave without a division (an abolished unit, a split with no rule
                  for it) refuses the whole batch, naming the rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import shapely
from shapely import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from shequ.errors import Problem, ValidationError
from shequ.registry.boundaries import OUTSIDE, as_multipolygon, assign_points, store_boundaries
from shequ.registry.codes import (
    LEVEL_DIGITS,
    TOWNSHIP_RANGES,
    VILLAGE_RANGES,
    code_prefix,
    level_of,
    normalise_code,
    parent_of,
)
from shequ.registry.geodesy import great_circle_m
from shequ.registry.models import (
    CHANGE_KINDS,
    Division,
    DivisionBoundary,
    DivisionChange,
    DivisionChangeEvent,
    Facility,
    Population,
    Workforce,
)

KINDS = CHANGE_KINDS
DIVISION = cast(Table, Division.__table__)
FACILITY = cast(Table, Facility.__table__)
POPULATION = cast(Table, Population.__table__)
WORKFORCE = cast(Table, Workforce.__table__)
LINK = cast(Table, DivisionChange.__table__)
ONE_DAY = dt.timedelta(days=1)
SHARE_TOLERANCE = 1e-6
# How far (metres) a split's part boundaries may overlap each other, leave the old unit
# uncovered or reach outside it — the boundary import's tolerance.
SPLIT_TOLERANCE_M = 50.0
METRES_PER_DEGREE = 111_320.0
POPULATION_COUNTS = ("residents", "households", "age_0_2", "age_3_5", "age_6_14",
                     "age_60_plus", "age_80_plus", "disabled", "assisted_households")


@dataclass(frozen=True, slots=True)
class NewUnit:
    """A successor: its code (None: the next free code under ``parent``), name and, for a
    split, its share of the people and what is listed to go to it."""

    code: str | None
    name: str | None = None
    share: float | None = None
    parent: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    kind: str | None = None
    urban_rural: str | None = None
    facilities: tuple[str, ...] = ()  # facility ids or external ids (a split's list)
    people: tuple[int, ...] = ()  # resident ids (a split's list)
    units: tuple[str, ...] = ()  # codes of the units under a split unit that go to it
    boundary: BaseGeometry | None = None  # a split part's boundary (WGS84)


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change: its kind, effective date, predecessors and successors.

    ``rows`` are the file rows it was read from (aligned with ``old`` for a merge, with
    ``new`` for a split, one row otherwise); ``old_names`` the names the file gave the
    predecessors, checked against the registry.
    """

    kind: str
    on: dt.date
    old: tuple[str, ...] = ()
    new: tuple[NewUnit, ...] = ()
    rows: tuple[int, ...] = ()
    old_names: tuple[str | None, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Carried:
    """Another table whose rows name a division and follow it through changes.

    ``where`` limits the rows that follow (open requests only); ``people`` marks the
    table whose rows a split lists by id; ``notice`` asks for a notice per moved row
    (staff jurisdictions); longitude/latitude columns place rows in a split.
    """

    label: str
    table: Table
    column: str
    where: ColumnElement[bool] | None = None
    people: bool = False
    notice: bool = False
    longitude: str | None = None
    latitude: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A row of a :class:`Carried` table with ``notice`` that moved (e.g. an account whose
    jurisdiction was re-pointed)."""

    label: str
    row_id: int
    old_code: str
    new_code: str
    event_id: int


@dataclass
class ChangeReport:
    """What a batch did: events, versions opened and closed, rows moved per table."""

    events: list[int] = field(default_factory=list)
    opened: int = 0
    closed: int = 0
    moved: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notices: list[Notice] = field(default_factory=list)


# --- the hierarchy in memory -----------------------------------------------------------


@dataclass
class _Version:
    code: str
    level: int
    parent_code: str | None
    name: str
    kind: str
    urban_rural: str | None
    valid_from: dt.date
    valid_to: dt.date | None
    longitude: float | None
    latitude: float | None
    area_km2: float | None
    synthetic_geography: bool
    code_source: str
    source: str
    db_id: int | None = None
    closed: bool = False  # valid_to set by this batch

    def in_force(self, on: dt.date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or self.valid_to > on)


_COLUMNS = ("code", "level", "parent_code", "name", "kind", "urban_rural", "valid_from",
            "valid_to", "longitude", "latitude", "area_km2", "synthetic_geography",
            "code_source", "source")


@dataclass(frozen=True, slots=True)
class _Move:
    """One predecessor → successors step of the carrying, in order."""

    event: int  # index into the batch
    kind: str
    on: dt.date
    old: tuple[str, ...]
    targets: tuple[tuple[str, float], ...]  # (successor code, share)
    parts: tuple[NewUnit, ...] = ()
    points: tuple[tuple[float | None, float | None], ...] = ()
    continuing: str | None = None
    shapes: tuple[MultiPolygon, ...] = ()  # a split by boundaries: each part's boundary
    rule: str | None = None  # how a split by boundaries shared out the people


class _Hierarchy:
    """The versions of the codes a batch touches, loaded on demand and changed in memory."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.versions: dict[str, list[_Version]] = {}
        self.children: dict[str, set[str]] = defaultdict(set)
        self.loaded_prefixes: set[str] = set()
        self.new: list[_Version] = []
        self.ids: set[int] = set()

    def _add(self, version: _Version) -> None:
        if version.db_id is not None:
            self.ids.add(version.db_id)
        self.versions.setdefault(version.code, []).append(version)
        if version.parent_code:
            self.children[version.parent_code].add(version.code)

    def load(self, codes: Iterable[str]) -> None:
        missing = sorted({c for c in codes if c not in self.versions})
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            for code in chunk:
                self.versions.setdefault(code, [])
            rows = self.session.execute(
                select(Division.id, *(getattr(Division, c) for c in _COLUMNS))
                .where(Division.code.in_(chunk))).all()
            for row in rows:
                self._add(_Version(*row[1:], db_id=row[0]))  # type: ignore[misc]

    def load_under(self, code: str, level: int) -> None:
        """Every version under ``code`` (its subtree), once."""
        prefix = code_prefix(code, level)
        if level >= 5 or prefix in self.loaded_prefixes:
            return
        self.loaded_prefixes.add(prefix)
        rows = self.session.execute(
            select(Division.id, *(getattr(Division, c) for c in _COLUMNS))
            .where(Division.code.startswith(prefix), Division.level > level)).all()
        for row in rows:
            if row[0] in self.ids:
                continue
            self.versions.setdefault(row[1], [])
            self._add(_Version(*row[1:], db_id=row[0]))  # type: ignore[misc]

    def at(self, code: str, on: dt.date) -> _Version | None:
        for version in self.versions.get(code, []):
            if version.in_force(on):
                return version
        return None

    def kids(self, code: str, on: dt.date) -> list[_Version]:
        found = (self.at(child, on) for child in sorted(self.children.get(code, ())))
        return [v for v in found if v is not None and v.parent_code == code]

    def ever(self, code: str) -> list[_Version]:
        return sorted(self.versions.get(code, []), key=lambda v: v.valid_from)

    def close(self, version: _Version, on: dt.date) -> None:
        version.valid_to = on
        version.closed = True

    def open(self, template: _Version, *, code: str, on: dt.date, name: str | None = None,
             **changes: Any) -> _Version:
        level = level_of(code)
        version = replace(template, code=code, level=level,
                          parent_code=parent_of(code, level), name=name or template.name,
                          valid_from=on, valid_to=None, db_id=None, closed=False,
                          **changes)
        self._add(version)
        self.new.append(version)
        return version

    def used(self, prefix: str, level: int) -> set[int]:
        """The numbers ever used at ``level`` under the parent prefix (database and batch)."""
        digits = LEVEL_DIGITS[level]
        start = len(prefix)
        rows = self.session.scalars(select(Division.code).where(
            Division.code.startswith(prefix), Division.level == level).distinct()).all()
        taken = {int(code[start:digits]) for code in rows}
        taken |= {int(code[start:digits])
                  for code in self.children.get(prefix.ljust(12, "0"), ())}
        return taken


def _free_code(state: _Hierarchy, parent: str, level: int, wanted_suffix: str,
               taken_cache: dict[tuple[str, int], set[int]]) -> str | None:
    """``parent``'s prefix + ``wanted_suffix`` when free at ``level``, else the next free
    number in the same NBS range (the range tells the unit's kind)."""
    prefix = code_prefix(parent, level - 1)
    key = (prefix, level)
    if key not in taken_cache:
        taken_cache[key] = state.used(prefix, level)
    taken = taken_cache[key]
    digits = LEVEL_DIGITS[level] - len(prefix)
    number = int(wanted_suffix)
    ranges = (TOWNSHIP_RANGES if level == 4 else VILLAGE_RANGES if level == 5 else {})
    low, high = 1, 10 ** digits - 1
    for lo, hi in ranges.values():
        if lo <= number <= hi:
            low, high = lo, hi
    candidates = [number] if number not in taken else []
    candidates += [n for n in range(low, high + 1) if n not in taken]
    if not candidates:
        return None
    chosen = candidates[0]
    taken.add(chosen)
    return (prefix + str(chosen).zfill(digits)).ljust(12, "0")


# --- checking -------------------------------------------------------------------------


@dataclass
class _Checker:
    state: _Hierarchy
    source: str
    problems: list[Problem] = field(default_factory=list)
    moves: list[_Move] = field(default_factory=list)
    taken: dict[tuple[str, int], set[int]] = field(default_factory=dict)

    def problem(self, event: ChangeEvent, key: str, reason: str, *, row: int | None = None,
                column: str | None = None, hint: str | None = None, **params: object) -> None:
        where = row if row is not None else (event.rows[0] if event.rows else None)
        self.problems.append(Problem(self.source, reason, row=where, column=column, hint=hint,
                                     code=f"changes.{key}", params=params))

    def row_of(self, event: ChangeEvent, index: int) -> int | None:
        if not event.rows:
            return None
        return event.rows[min(index, len(event.rows) - 1)]

    def predecessor(self, event: ChangeEvent, index: int, raw: str) -> _Version | None:
        row = self.row_of(event, index) if event.kind == "merge" else None
        try:
            code = normalise_code(raw)
        except ValidationError:
            self.problem(event, "bad_code", f"{raw!r} is not a division code", row=row,
                         column="old_code", hint="12 digits, e.g. 130123102204", code=raw)
            return None
        day_before = event.on - ONE_DAY
        found = self.state.at(code, day_before)
        ever = self.state.ever(code)
        if found is None:
            if not ever:
                self.problem(event, "unknown_code", f"no division has code {code}", row=row,
                             column="old_code", hint="check the code against the registry",
                             code=code)
            elif ever[0].valid_from >= event.on:
                self.problem(event, "before_existence",
                             f"the change on {event.on} is before {code} "
                             f"({ever[0].name}) existed: it starts on {ever[0].valid_from}",
                             row=row, column="date", code=code, on=str(event.on),
                             start=str(ever[0].valid_from))
            else:
                self.problem(event, "not_in_force",
                             f"{code} is not in force on {day_before} (it ended on "
                             f"{ever[-1].valid_to})", row=row, column="old_code", code=code,
                             on=str(day_before), end=str(ever[-1].valid_to))
            return None
        if found.valid_to is not None and not found.closed:
            self.problem(event, "later_version",
                         f"{code} already changes on {found.valid_to}; apply changes in "
                         "date order", row=row, column="date", code=code,
                         later=str(found.valid_to))
            return None
        names = event.old_names
        given = names[index] if index < len(names) else None
        if given and given.strip() and given.strip() != found.name:
            self.problem(event, "old_name", f"{code} is {found.name}, not {given.strip()}",
                         row=row, column="old_name", code=code, name=found.name,
                         given=given.strip())
            return None
        return found

    def new_code(self, event: ChangeEvent, index: int, part: NewUnit) -> str | None:
        row = self.row_of(event, index) if event.kind == "split" else None
        if part.code is None:
            return None
        try:
            return normalise_code(part.code)
        except ValidationError:
            self.problem(event, "bad_code", f"{part.code!r} is not a division code", row=row,
                         column="new_code", hint="12 digits, e.g. 130123102220",
                         code=part.code)
            return None

    def parent_ok(self, event: ChangeEvent, code: str, row: int | None) -> bool:
        level = level_of(code)
        parent = parent_of(code, level)
        if parent is None:
            return True
        if self.state.at(parent, event.on) is None:
            self.problem(event, "no_parent", f"{code}'s parent {parent} is not in force on "
                         f"{event.on}", row=row, column="new_code", code=code, parent=parent)
            return False
        return True

    def free(self, event: ChangeEvent, code: str, row: int | None,
             allowed: Sequence[str] = ()) -> bool:
        if code in allowed:
            return True
        taken = self.state.at(code, event.on)
        if taken is not None:
            self.problem(event, "code_in_use", f"{code} is already in force on {event.on} "
                         f"({taken.name})", row=row, column="new_code", code=code,
                         name=taken.name)
            return False
        return True

    # each kind -------------------------------------------------------------------------

    def check(self, index: int, event: ChangeEvent) -> None:
        if event.kind not in KINDS:
            self.problem(event, "unknown_kind", f"unknown change type {event.kind!r}",
                         column="kind", hint=f"use one of {', '.join(KINDS)}",
                         kind=event.kind)
            return
        shape = {"rename": (1, 1), "recode": (1, 1), "reparent": (1, 1), "merge": (2, 1),
                 "split": (1, 2), "abolish": (1, 0), "create": (0, 1)}[event.kind]
        exact_old = event.kind != "merge"
        exact_new = event.kind != "split"
        if (len(event.old) < shape[0] or (exact_old and len(event.old) != shape[0])
                or len(event.new) < shape[1] or (exact_new and len(event.new) != shape[1])):
            self.problem(event, "shape", f"a {event.kind} takes "
                         f"{shape[0]}{'' if exact_old else ' or more'} old unit(s) and "
                         f"{shape[1]}{'' if exact_new else ' or more'} new unit(s); this one "
                         f"has {len(event.old)} and {len(event.new)}", kind=event.kind,
                         old=len(event.old), new=len(event.new))
            return
        olds = [self.predecessor(event, i, c) for i, c in enumerate(event.old)]
        if any(v is None for v in olds):
            return
        found = [v for v in olds if v is not None]
        getattr(self, f"_{event.kind}")(index, event, found)

    def _rename(self, index: int, event: ChangeEvent, olds: list[_Version]) -> None:
        old = olds[0]
        part = event.new[0]
        code = self.new_code(event, 0, part)
        if code is not None and code != old.code:
            self.problem(event, "rename_code", f"a rename keeps the code {old.code}; "
                         f"{code} is a recode", column="new_code", code=code)
            return
        if not part.name or part.name == old.name:
            self.problem(event, "rename_name", f"a rename of {old.code} needs a new name "
                         f"(it is {old.name})", column="new_name", code=old.code)
            return
        self.state.close(old, event.on)
        self.state.open(old, code=old.code, on=event.on, name=part.name,
                        **_described(part, old))
        self.moves.append(_Move(index, "rename", event.on, (old.code,), ((old.code, 1.0),)))

    def _relocate(self, index: int, event: ChangeEvent, old: _Version, code: str,
                  *, name: str | None = None, extra: dict[str, Any] | None = None) -> None:
        """Close ``old`` and its subtree, open them again under ``code``'s prefix."""
        self.state.load_under(old.code, old.level)
        subtree = self._subtree(old, event.on)
        self.state.close(old, event.on)
        self.state.open(old, code=code, on=event.on, name=name, **(extra or {}))
        self.moves.append(_Move(index, event.kind, event.on, (old.code,), ((code, 1.0),)))
        self._carry_subtree(index, event, subtree, old.code, code)

    def _subtree(self, unit: _Version, on: dt.date) -> list[_Version]:
        out: list[_Version] = []
        for kid in self.state.kids(unit.code, on):
            out.append(kid)
            out.extend(self._subtree(kid, on))
        return out

    def _carry_subtree(self, index: int, event: ChangeEvent, subtree: list[_Version],
                       old_root: str, new_root: str) -> None:
        if not subtree:
            return
        root_level = level_of(old_root)
        old_prefix = code_prefix(old_root, root_level)
        new_prefix = code_prefix(new_root, root_level)
        for unit in subtree:
            code = new_prefix + unit.code[len(old_prefix):]
            if self.state.at(code, event.on) is not None:
                self.problem(event, "code_in_use", f"{unit.code} would become {code}, which "
                             f"is in force on {event.on}", code=code, name=unit.name)
                continue
            self.state.close(unit, event.on)
            self.state.open(unit, code=code, on=event.on)
            self.moves.append(_Move(index, event.kind, event.on, (unit.code,),
                                    ((code, 1.0),)))

    def _recode(self, index: int, event: ChangeEvent, olds: list[_Version]) -> None:
        old = olds[0]
        code = self.new_code(event, 0, event.new[0])
        if code is None:
            self.problem(event, "recode_code", f"a recode of {old.code} needs the new code",
                         column="new_code", code=old.code)
            return
        if code == old.code or level_of(code) != old.level:
            self.problem(event, "recode_code", f"{code} is not a new code of level "
                         f"{old.level} for {old.code}", column="new_code", code=code)
            return
        if parent_of(code, old.level) != old.parent_code:
            self.problem(event, "recode_parent", f"{code} lies under another parent than "
                         f"{old.code}; that is a re-parent", column="change_type",
                         code=code)
            return
        if self.parent_ok(event, code, None) and self.free(event, code, None):
            self._relocate(index, event, old, code, name=event.new[0].name,
                           extra=_described(event.new[0], old))

    def _reparent(self, index: int, event: ChangeEvent, olds: list[_Version]) -> None:  # noqa: PLR0911 (one refusal per rule)
        old = olds[0]
        part = event.new[0]
        code = self.new_code(event, 0, part)
        parent_raw = part.parent or (parent_of(code, level_of(code)) if code else None)
        if parent_raw is None:
            self.problem(event, "reparent_parent", f"a re-parent of {old.code} needs the new "
                         "code or the new parent", column="new_code", code=old.code)
            return
        try:
            parent = normalise_code(parent_raw)
        except ValidationError:
            self.problem(event, "bad_code", f"{parent_raw!r} is not a division code",
                         column="new_parent", code=parent_raw)
            return
        old_prefix = code_prefix(old.code, old.level)
        chain = parent
        self.state.load([parent])
        while chain:
            if chain == old.code or chain.startswith(old_prefix):
                self.problem(event, "cycle", f"re-parenting {old.code} ({old.name}) under "
                             f"{parent} would make it its own ancestor",
                             column="new_parent", code=old.code, parent=parent)
                return
            above = self.state.at(chain, event.on)
            chain = (above.parent_code or "") if above is not None else ""
        target = self.state.at(parent, event.on)
        if target is None:
            self.problem(event, "no_parent", f"the new parent {parent} is not in force on "
                         f"{event.on}", column="new_parent", code=old.code, parent=parent)
            return
        if target.level != old.level - 1:
            self.problem(event, "reparent_level", f"{parent} is level {target.level}; "
                         f"{old.code} (level {old.level}) needs a parent of level "
                         f"{old.level - 1}", column="new_parent", code=old.code,
                         parent=parent)
            return
        if parent == old.parent_code:
            self.problem(event, "reparent_same", f"{old.code} is already under {parent}",
                         column="new_parent", code=old.code, parent=parent)
            return
        if code is None:
            code = _free_code(self.state, parent, old.level,
                              old.code[LEVEL_DIGITS[old.level - 1]:LEVEL_DIGITS[old.level]],
                              self.taken)
            if code is None:
                self.problem(event, "no_free_code", f"no free code under {parent}",
                             code=old.code, parent=parent)
                return
        elif level_of(code) != old.level or parent_of(code, old.level) != parent:
            self.problem(event, "reparent_code", f"{code} is not a level-{old.level} code "
                         f"under {parent}", column="new_code", code=code, parent=parent)
            return
        if self.free(event, code, None):
            self._relocate(index, event, old, code, name=part.name,
                           extra=_described(part, old))

    def _merge(self, index: int, event: ChangeEvent, olds: list[_Version]) -> None:
        part = event.new[0]
        code = self.new_code(event, 0, part)
        levels = {v.level for v in olds}
        codes = [v.code for v in olds]
        if len(set(codes)) != len(codes):
            self.problem(event, "duplicate", "a merge names a unit twice", codes=codes)
            return
        if len(levels) != 1:
            self.problem(event, "merge_levels", f"the merged units are of levels "
                         f"{sorted(levels)}; merge units of one level", codes=codes)
            return
        if code is None or level_of(code) != olds[0].level:
            self.problem(event, "merge_code", f"the merged unit needs a code of level "
                         f"{olds[0].level}", column="new_code", code=str(part.code))
            return
        if not (self.parent_ok(event, code, None) and self.free(event, code, None, codes)):
            return
        continuing = code if code in codes else None
        template = next((v for v in olds if v.code == code), olds[0])
        for unit in olds:
            self.state.close(unit, event.on)
        points = [(v.longitude, v.latitude) for v in olds if v.longitude is not None]
        lon = part.longitude if part.longitude is not None else (
            template.longitude if continuing or not points
            else sum(p[0] for p in points if p[0] is not None) / len(points))
        lat = part.latitude if part.latitude is not None else (
            template.latitude if continuing or not points
            else sum(p[1] for p in points if p[1] is not None) / len(points))
        areas = [v.area_km2 for v in olds]
        area = sum(a for a in areas if a is not None) if all(
            a is not None for a in areas) else None
        self.state.open(template, code=code, on=event.on, name=part.name or template.name,
                        longitude=lon, latitude=lat, area_km2=area,
                        kind=part.kind or template.kind,
                        urban_rural=part.urban_rural or template.urban_rural,
                        code_source=template.code_source if continuing else "import")
        self.moves.append(_Move(index, "merge", event.on, tuple(codes), ((code, 1.0),),
                                continuing=continuing))
        for unit in olds:
            if unit.code == code:
                continue
            # the units under a merged-away unit move under the successor
            self.state.load_under(unit.code, unit.level)
            for kid in self.state.kids(unit.code, event.on):
                kid_code = _free_code(self.state, code, kid.level,
                                      kid.code[LEVEL_DIGITS[unit.level]:LEVEL_DIGITS[kid.level]],
                                      self.taken)
                if kid_code is None:
                    self.problem(event, "no_free_code", f"no free code under {code} for "
                                 f"{kid.code}", code=kid.code, parent=code)
                    continue
                self._relocate(index, replace(event, kind="reparent"), kid, kid_code)

    def _split(self, index: int, event: ChangeEvent, olds: list[_Version]) -> None:  # noqa: PLR0912, PLR0915
        old = olds[0]
        codes: list[str] = []
        ok = True
        for i, part in enumerate(event.new):
            code = self.new_code(event, i, part)
            row = self.row_of(event, i)
            if code is None:
                ok = False
                if part.code is None:
                    self.problem(event, "split_code", "each part of a split needs its code",
                                 row=row, column="new_code")
                continue
            if level_of(code) != old.level:
                self.problem(event, "split_level", f"{code} is not of level {old.level} like "
                             f"{old.code}", row=row, column="new_code", code=code)
                ok = False
                continue
            if not (self.parent_ok(event, code, row) and self.free(event, code, row,
                                                                  [old.code])):
                ok = False
            codes.append(code)
        if len(set(codes)) != len(codes):
            self.problem(event, "duplicate", f"a split of {old.code} names a part twice",
                         code=old.code)
            ok = False
        shares = [part.share for part in event.new]
        bounded = [part.boundary is not None for part in event.new]
        by_boundaries = all(bounded)
        if any(bounded) and not by_boundaries:
            missing = [self.row_of(event, i) for i, b in enumerate(bounded) if not b]
            self.problem(event, "split_boundary_missing", f"some parts of the split of "
                         f"{old.code} have a boundary and others not (rows "
                         f"{', '.join(str(r) for r in missing)})", column="geometry",
                         hint="give every part its boundary, or none", code=old.code,
                         rows=", ".join(str(r) for r in missing))
            ok = False
        elif by_boundaries and all(s is None for s in shares):
            pass  # shares by boundaries, below
        elif any(s is None or not math.isfinite(s) or s <= 0 or s > 1 for s in shares):
            self.problem(event, "split_shares", f"each part of the split of {old.code} "
                         "needs a share above 0 and at most 1", column="share",
                         hint="or give every part its boundary", code=old.code,
                         shares=str(shares))
            ok = False
        elif abs(sum(s for s in shares if s is not None) - 1.0) > SHARE_TOLERANCE:
            total = sum(s for s in shares if s is not None)
            self.problem(event, "split_sum", f"the shares of the split of {old.code} add up "
                         f"to {total:g}, not 1 ({', '.join(f'{s:g}' for s in shares if s)})",
                         column="share", code=old.code, total=f"{total:g}")
            ok = False
        shapes = self._split_shapes(event, old) if by_boundaries else None
        if by_boundaries and shapes is None:
            ok = False
        if old.level < 5:
            self.state.load_under(old.code, old.level)
        kids = self.state.kids(old.code, event.on) if old.level < 5 else []
        listed = {normalise_code(u) if u.isdigit() else u: i
                  for i, part in enumerate(event.new) for u in part.units}
        if shapes is not None:
            for held, part_index in self._kids_by_shape(kids, shapes).items():
                listed.setdefault(held, part_index)
        continuing = old.code if old.code in codes else None
        homeless = [k.code for k in kids if k.code not in listed and continuing is None]
        if homeless:
            self.problem(event, "split_units", f"{len(homeless)} unit(s) under {old.code} "
                         f"are given no part: {', '.join(homeless[:20])}", code=old.code,
                         units=", ".join(homeless))
            ok = False
        if not ok:
            return
        rule = None
        if shapes is not None and all(s is None for s in shares):
            shares, rule = self._shares_by_boundaries(event, old, shapes, kids, listed)
        self.state.close(old, event.on)
        opened = []
        for part, code, share in zip(event.new, codes, shares, strict=True):
            opened.append(self.state.open(
                old, code=code, on=event.on, name=part.name or old.name,
                longitude=part.longitude if part.longitude is not None else old.longitude,
                latitude=part.latitude if part.latitude is not None else old.latitude,
                area_km2=None if old.area_km2 is None else old.area_km2 * (share or 0.0),
                kind=part.kind or old.kind, urban_rural=part.urban_rural or old.urban_rural,
                code_source=old.code_source if code == old.code else "import"))
        self.moves.append(_Move(
            index, "split", event.on, (old.code,),
            tuple((code, share or 0.0) for code, share in zip(codes, shares, strict=True)),
            parts=event.new, points=tuple((v.longitude, v.latitude) for v in opened),
            continuing=continuing, shapes=shapes or (), rule=rule))
        for kid in kids:
            target = codes[listed[kid.code]] if kid.code in listed else continuing
            if target is None or target == old.code:
                continue
            kid_code = _free_code(self.state, target, kid.level,
                                  kid.code[LEVEL_DIGITS[old.level]:LEVEL_DIGITS[kid.level]],
                                  self.taken)
            if kid_code is None:
                self.problem(event, "no_free_code", f"no free code under {target}",
                             code=kid.code, parent=target)
                continue
            self._relocate(index, replace(event, kind="reparent"), kid, kid_code)

    # a split by boundaries ---------------------------------------------------------------

    def _stored_shapes(self, versions: Sequence[_Version]) -> dict[str, MultiPolygon]:
        """The full boundaries stored for these versions, by code."""
        ids = {v.db_id: v.code for v in versions if v.db_id is not None}
        if not ids:
            return {}
        rows = self.state.session.execute(
            select(DivisionBoundary.division_id, DivisionBoundary.shape)
            .where(DivisionBoundary.division_id.in_(list(ids)),
                   DivisionBoundary.scale == "full")).all()
        return {ids[int(r[0])]: as_multipolygon(shapely.from_wkb(r[1])) for r in rows}

    def _split_shapes(self, event: ChangeEvent, old: _Version
                      ) -> tuple[MultiPolygon, ...] | None:
        """The parts' boundaries when they are valid polygons that do not overlap each
        other and, if ``old`` has a boundary, cover it and lie in it (within
        ``SPLIT_TOLERANCE_M``); else None, each problem named on its row."""
        shapes: list[MultiPolygon] = []
        for i, part in enumerate(event.new):
            row = self.row_of(event, i)
            shape = part.boundary
            if shape is None or shape.is_empty or shape.geom_type not in (
                    "Polygon", "MultiPolygon"):
                kind = "empty" if shape is None or shape.is_empty else shape.geom_type
                self.problem(event, "split_boundary_not_polygon", f"the boundary of part "
                             f"{part.code} is {kind}, not a polygon", row=row,
                             column="geometry", hint="give a Polygon or MultiPolygon",
                             code=str(part.code), kind=kind)
                continue
            reason = shapely.is_valid_reason(shape)
            if reason != "Valid Geometry":
                self.problem(event, "split_boundary_invalid", f"the boundary of part "
                             f"{part.code} is invalid: {reason}", row=row, column="geometry",
                             hint="repair it (e.g. QGIS Fix geometries)",
                             code=str(part.code), why=str(reason))
                continue
            shapes.append(as_multipolygon(shape))
        if len(shapes) != len(event.new):
            return None
        old_shape = self._stored_shapes([old]).get(old.code)
        lon0, lat0 = shapely.union_all(shapely.envelope(shapes)).centroid.coords[0]
        metres = [_in_metres(s, lon0, lat0) for s in shapes]
        tolerance = SPLIT_TOLERANCE_M
        found = len(self.problems)
        shrunk = [m.buffer(-tolerance / 2) for m in metres]
        for a in range(len(shapes)):
            for b in range(a + 1, len(shapes)):
                if shrunk[a].intersects(shrunk[b]):
                    area = metres[a].intersection(metres[b]).area
                    self.problem(event, "split_boundary_overlap", f"the boundary of part "
                                 f"{event.new[b].code} overlaps part {event.new[a].code} "
                                 f"(row {self.row_of(event, a)}) by more than {tolerance:g} m "
                                 f"({area:,.0f} m² shared)", row=self.row_of(event, b),
                                 column="geometry", hint="parts meet along a line",
                                 code=str(event.new[b].code), other=str(event.new[a].code),
                                 area=round(area))
        if old_shape is not None:
            old_metres = _in_metres(old_shape, lon0, lat0)
            uncovered = old_metres.difference(shapely.union_all(metres).buffer(tolerance))
            if uncovered.area > 0:
                self.problem(event, "split_boundary_uncovered", f"the parts' boundaries leave "
                             f"{uncovered.area:,.0f} m² of {old.code} ({old.name}) uncovered "
                             f"(beyond {tolerance:g} m)", column="geometry",
                             hint="together the parts cover the unit they split",
                             code=old.code, area=round(uncovered.area))
            reach = old_metres.buffer(tolerance)
            for i, shape in enumerate(metres):
                outside = shape.difference(reach)
                if outside.area > 0:
                    self.problem(event, "split_boundary_outside", f"the boundary of part "
                                 f"{event.new[i].code} reaches {outside.area:,.0f} m² outside "
                                 f"{old.code} ({old.name}) (beyond {tolerance:g} m)",
                                 row=self.row_of(event, i), column="geometry",
                                 hint="a part lies within the unit it is split from",
                                 code=str(event.new[i].code), area=round(outside.area))
        return tuple(shapes) if len(self.problems) == found else None

    def _kids_by_shape(self, kids: Sequence[_Version], shapes: Sequence[MultiPolygon]
                       ) -> dict[str, int]:
        """The part each community goes to: the one holding the most of its boundary,
        else the one holding its representative point."""
        stored = self._stored_shapes(kids)
        out: dict[str, int] = {}
        for kid in kids:
            shape = stored.get(kid.code)
            if shape is not None:
                areas = [shape.intersection(part).area for part in shapes]
                best = max(range(len(areas)), key=areas.__getitem__)
                if areas[best] > 0:
                    out[kid.code] = best
                    continue
            if kid.longitude is not None and kid.latitude is not None:
                found = int(assign_points([kid.longitude], [kid.latitude], shapes)[0])
                if found != OUTSIDE:
                    out[kid.code] = found
        return out

    def _shares_by_boundaries(self, event: ChangeEvent, old: _Version,
                              shapes: Sequence[MultiPolygon], kids: Sequence[_Version],
                              listed: dict[str, int]) -> tuple[list[float | None], str]:
        """Each part's share of the people: the residents of the communities it takes
        (their latest year up to the change's), else the area of the old unit's boundary
        inside it, else its own area — and the rule used, for the record."""
        if kids:
            latest = self.state.session.execute(
                select(Population.division_code, Population.period, Population.residents)
                .where(Population.division_code.in_([k.code for k in kids]),
                       Population.period <= event.on.year)).all()
            newest: dict[str, tuple[int, int]] = {}
            for code, period, residents in latest:
                if code not in newest or period > newest[code][0]:
                    newest[code] = (int(period), int(residents))
            weights = [0.0] * len(shapes)
            for code, (_, residents) in newest.items():
                if code in listed:
                    weights[listed[code]] += residents
            if sum(weights) > 0:
                return [w / sum(weights) for w in weights], "residents of the communities"
        old_shape = self._stored_shapes([old]).get(old.code)
        lon0, lat0 = shapely.union_all(shapely.envelope(list(shapes))).centroid.coords[0]
        metres = [_in_metres(s, lon0, lat0) for s in shapes]
        if old_shape is not None:
            inside = _in_metres(old_shape, lon0, lat0)
            areas = [m.intersection(inside).area for m in metres]
            rule = "area of the old boundary"
        else:
            areas = [m.area for m in metres]
            rule = "area of the parts"
        return [a / sum(areas) for a in areas], rule

    def _abolish(self, index: int, event: ChangeEvent, olds: list[_Version]) -> None:
        old = olds[0]
        if old.level < 5:
            self.state.load_under(old.code, old.level)
        kids = self.state.kids(old.code, event.on)
        if kids:
            self.problem(event, "abolish_children", f"{old.code} ({old.name}) still has "
                         f"{len(kids)} unit(s) under it, e.g. {kids[0].code}",
                         hint="merge or re-parent them first", code=old.code,
                         count=len(kids))
            return
        self.state.close(old, event.on)
        self.moves.append(_Move(index, "abolish", event.on, (old.code,), ()))

    def _create(self, index: int, event: ChangeEvent, _olds: list[_Version]) -> None:
        part = event.new[0]
        code = self.new_code(event, 0, part)
        if code is None:
            self.problem(event, "create_code", "a new unit needs its code",
                         column="new_code")
            return
        if not part.name:
            self.problem(event, "create_name", f"the new unit {code} needs a name",
                         column="new_name", code=code)
            return
        level = level_of(code)
        parent = parent_of(code, level)
        if parent is not None:
            self.state.load([parent])
        if not (self.parent_ok(event, code, None) and self.free(event, code, None)):
            return
        above = self.state.at(parent, event.on) if parent else None
        template = _Version(
            code=code, level=level, parent_code=parent, name=part.name,
            kind=part.kind or _kind_for(code, level), urban_rural=part.urban_rural,
            valid_from=event.on, valid_to=None,
            longitude=part.longitude if part.longitude is not None else (
                above.longitude if above else None),
            latitude=part.latitude if part.latitude is not None else (
                above.latitude if above else None),
            area_km2=None, synthetic_geography=bool(above and above.synthetic_geography
                                                    and part.longitude is None),
            code_source="import", source="change: create")
        self.state.open(template, code=code, on=event.on, name=part.name)


def _in_metres(shape: BaseGeometry, lon0: float, lat0: float) -> BaseGeometry:
    """``shape`` in metres about (lon0, lat0), equirectangular: near enough within a
    county for tolerances and area shares."""
    scale = math.cos(math.radians(lat0)) * METRES_PER_DEGREE

    def move(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.column_stack([(coords[:, 0] - lon0) * scale,
                                (coords[:, 1] - lat0) * METRES_PER_DEGREE])

    return shapely.transform(shape, move)


def _kind_for(code: str, level: int) -> str:
    number = int(code[LEVEL_DIGITS[level - 1]:LEVEL_DIGITS[level]]) if level > 1 else 0
    ranges = TOWNSHIP_RANGES if level == 4 else VILLAGE_RANGES if level == 5 else {}
    for kind, (low, high) in ranges.items():
        if low <= number <= high:
            return str(kind.value)
    return {1: "province", 2: "prefecture_city", 3: "county"}.get(level, "township_like")


def _described(part: NewUnit, old: _Version) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if part.kind:
        out["kind"] = part.kind
    if part.urban_rural:
        out["urban_rural"] = part.urban_rural
    if part.longitude is not None and part.latitude is not None:
        out["longitude"], out["latitude"] = part.longitude, part.latitude
    del old
    return out


def _referenced(events: Sequence[ChangeEvent]) -> set[str]:
    codes: set[str] = set()
    for event in events:
        for raw in (*event.old, *(p.code for p in event.new if p.code),
                    *(p.parent for p in event.new if p.parent)):
            try:
                code = normalise_code(raw)
            except ValidationError:
                continue
            codes.add(code)
            level = level_of(code)
            parent = parent_of(code, level)
            while parent is not None:
                codes.add(parent)
                level -= 1
                parent = parent_of(parent, level)
    return codes


def check_changes(session: Session, events: Sequence[ChangeEvent], *,
                  source: str = "change") -> tuple[_Checker, list[ChangeEvent]]:
    """Play ``events`` in date order on the hierarchy in memory; the checker holds every
    problem (none: the batch may be written) and the ordered events."""
    ordered = sorted(events, key=lambda e: e.on)
    state = _Hierarchy(session)
    state.load(_referenced(ordered))
    checker = _Checker(state, source)
    for index, event in enumerate(ordered):
        checker.check(index, event)
    return checker, ordered


# --- carrying -------------------------------------------------------------------------


def _shares_to_whole(total: int, shares: Sequence[float]) -> list[int]:
    """``total`` shared out in whole numbers by ``shares`` (largest remainders, sum kept)."""
    raw = [total * s for s in shares]
    whole = [math.floor(r) for r in raw]
    left = total - sum(whole)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - whole[i]), i))
    for i in order[:left]:
        whole[i] += 1
    return whole


def _split_population(row: dict[str, Any], shares: Sequence[float]) -> list[dict[str, Any]]:
    parts = [dict(row) for _ in shares]
    for column in POPULATION_COUNTS:
        for part, value in zip(parts, _shares_to_whole(int(row[column]), shares),
                               strict=True):
            part[column] = value
    # keep 80+ within 60+ in every part (the totals of both stay as they were)
    for part in parts:
        excess = part["age_80_plus"] - part["age_60_plus"]
        if excess <= 0:
            continue
        for other in parts:
            room = other["age_60_plus"] - other["age_80_plus"]
            step = min(room, excess)
            if other is part or step <= 0:
                continue
            other["age_80_plus"] += step
            part["age_80_plus"] -= step
            excess -= step
            if excess == 0:
                break
    return parts


@dataclass
class _Staged:
    """The rows a wave's splits read, and what they write, held for one read and one
    write per table: population and workforce rows of the split units by table and code,
    their facilities by code; ids to delete and rows to insert per table, and the
    facilities' new codes."""

    yearly: dict[tuple[str, str], list[dict[str, Any]]]
    facilities: dict[str, list[tuple[Any, ...]]]
    gone: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    added: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    facilities_to: dict[int, str] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, splits: Sequence[_Move]) -> _Staged:
        codes = sorted({m.old[0] for m in splits})
        first_year = min(m.on.year for m in splits)
        yearly: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        facilities: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for chunk in _chunks(codes):
            for table in (POPULATION, WORKFORCE):
                for found in session.execute(select(table).where(
                        table.c.division_code.in_(chunk), table.c.period >= first_year)):
                    values = dict(found._mapping)
                    yearly[(table.name, values["division_code"])].append(values)
            for row in session.execute(
                    select(Facility.id, Facility.external_id, Facility.name,
                           Facility.longitude, Facility.latitude, Facility.division_code)
                    .where(Facility.division_code.in_(chunk)).order_by(Facility.id)):
                facilities[str(row.division_code)].append(tuple(row)[:5])
        return cls(yearly, facilities)

    def write(self, session: Session) -> None:
        for table in (POPULATION, WORKFORCE):
            gone = self.gone.get(table.name, [])
            for start in range(0, len(gone), _CHUNK):
                session.execute(delete(table).where(
                    table.c.id.in_(gone[start:start + _CHUNK])))
            if self.added.get(table.name):
                session.execute(insert(table), self.added[table.name])
        moved = sorted(self.facilities_to)
        for start in range(0, len(moved), _CHUNK):
            ids = moved[start:start + _CHUNK]
            session.execute(update(FACILITY).where(FACILITY.c.id.in_(ids))
                            .values(division_code=case({i: self.facilities_to[i] for i in ids},
                                                       value=FACILITY.c.id))
                            .execution_options(synchronize_session=False))


@dataclass
class _Carrier:
    session: Session
    carried: Sequence[Carried]
    report: ChangeReport
    problems: list[Problem]
    source: str
    event_ids: list[int]
    events: Sequence[ChangeEvent]
    staged: _Staged | None = None  # a wave's splits: rows read at once, writes held

    def problem(self, move: _Move, reason: str, key: str, **params: object) -> None:
        event = self.events[move.event]
        self.problems.append(Problem(self.source, reason,
                                     row=event.rows[0] if event.rows else None,
                                     code=f"changes.{key}", params=params))

    def move(self, move: _Move) -> None:
        if move.kind == "rename":
            return
        if move.kind == "abolish":
            self._abolish(move)
            return
        if move.kind == "split":
            self._split(move)
            return
        target = move.targets[0][0]
        year = move.on.year
        self._yearly_merge(move, target, year)
        self._update(FACILITY, "division_code", move.old, target, "facility",
                     move=move)
        for spec in self.carried:
            self._update(spec.table, spec.column, move.old, target, spec.label,
                         where=spec.where, notice=spec.notice, move=move)

    def _update(self, table: Table, column: str, old: Sequence[str], new: str, label: str,
                *, where: ColumnElement[bool] | None = None, notice: bool = False,
                move: _Move) -> None:
        col = table.c[column]
        condition: ColumnElement[bool] = col.in_([c for c in old if c != new])
        if where is not None:
            condition = condition & where
        if notice:
            for row_id, code in self.session.execute(
                    select(table.c.id, col).where(condition)).all():
                self.report.notices.append(Notice(label, int(row_id), str(code), new,
                                                  self.event_ids[move.event]))
        result = self.session.execute(update(table).where(condition).values({column: new})
                                      .execution_options(synchronize_session=False))
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            self.report.moved[label] += count

    def _yearly_merge(self, move: _Move, target: str, year: int) -> None:
        """Population and workforce of the years ≥ ``year`` summed onto ``target``."""
        olds = list(move.old)
        if olds == [target]:
            return
        for model, key in ((Population, ("period",)),
                           (Workforce, ("period", "role", "certification"))):
            table = POPULATION if model is Population else WORKFORCE
            rows = [dict(r._mapping) for r in self.session.execute(
                select(table).where(table.c.division_code.in_([*olds, target]),
                                    table.c.period >= year)).all()]
            if not rows or all(r["division_code"] == target for r in rows):
                continue
            self.session.execute(delete(table).where(
                table.c.division_code.in_([*olds, target]), table.c.period >= year))
            counts = POPULATION_COUNTS if model is Population else ("headcount",)
            self.session.execute(insert(table), _summed(rows, key, counts, target))
            label = "population" if model is Population else "workforce"
            self.report.moved[label] += sum(1 for r in rows if r["division_code"] != target)

    def _split(self, move: _Move) -> None:  # noqa: PLR0912
        old = move.old[0]
        codes = [t[0] for t in move.targets]
        shares = [t[1] for t in move.targets]
        year = move.on.year
        # population and workforce by the shares
        for model in (Population, Workforce):
            table = POPULATION if model is Population else WORKFORCE
            rows = self._yearly_rows(table, old, year)
            if not rows:
                continue
            new_rows: list[dict[str, Any]] = []
            for row in rows:
                base = {c: v for c, v in row.items() if c != "id"}
                if model is Population:
                    parts = _split_population(base, shares)
                else:
                    parts = [{**base, "headcount": n}
                             for n in _shares_to_whole(int(row["headcount"]), shares)]
                for part, code in zip(parts, codes, strict=True):
                    new_rows.append({**part, "division_code": code})
            self._replace(table, rows, new_rows)
            self.report.moved["population" if model is Population else "workforce"] += len(rows)
        # facilities: listed, else nearest successor point, else the continuing successor
        facilities = self._facility_rows(old)
        listed: dict[str, str] = {}
        for unit, code in zip(move.parts, codes, strict=True):
            for key in unit.facilities:
                listed[str(key)] = code
        assignments: dict[str, list[int]] = defaultdict(list)
        have_points = [p for p in move.points if p[0] is not None and p[1] is not None]
        distinct_points = len(set(have_points)) == len(move.points)
        inside = self._by_shape(move, [(f[3], f[4]) for f in facilities])
        for (fid, external, name, lon, lat), holder in zip(facilities, inside, strict=True):
            target = listed.get(str(fid)) or (listed.get(external) if external else None)
            if target is None and move.shapes and lon is not None and lat is not None:
                if holder == OUTSIDE:
                    self.problem(move, f"facility {fid} ({name}) at {lon:.6f}, {lat:.6f} lies "
                                 f"in no part's boundary of the split of {old}",
                                 "outside_parts", table="facility", id=fid, name=name,
                                 code=old)
                    continue
                target = codes[holder]
            if target is None and lon is not None and lat is not None and distinct_points:
                distance = [great_circle_m(lon, lat, p[0], p[1]) for p in move.points
                            if p[0] is not None and p[1] is not None]
                target = codes[min(range(len(distance)), key=distance.__getitem__)]
            if target is None:
                target = move.continuing
            if target is None:
                self.problem(move, f"facility {fid} ({name}) in {old} is not listed for a part "
                             "of the split and has no location to place it by", "homeless_row",
                             table="facility", id=fid, name=name, code=old)
                continue
            assignments[target].append(int(fid))
        for target, ids in assignments.items():
            if target == old:
                continue
            if self.staged is not None:
                self.staged.facilities_to.update(dict.fromkeys(ids, target))
            else:
                self.session.execute(update(FACILITY)
                                     .where(FACILITY.c.id.in_(ids))
                                     .values(division_code=target))
            self.report.moved["facility"] += len(ids)
        # other tables: listed people, else location, else the continuing successor
        people: dict[int, str] = {}
        for unit, code in zip(move.parts, codes, strict=True):
            for person in unit.people:
                people[int(person)] = code
        for spec in self.carried:
            self._split_carried(move, spec, codes, people)

    def _yearly_rows(self, table: Table, code: str, year: int) -> list[dict[str, Any]]:
        """The rows of ``table`` (population or workforce) of ``code`` for ``year`` on."""
        if self.staged is not None:
            return [r for r in self.staged.yearly.get((table.name, code), [])
                    if r["period"] >= year]
        return [dict(r._mapping) for r in self.session.execute(
            select(table).where(table.c.division_code == code,
                                table.c.period >= year)).all()]

    def _replace(self, table: Table, rows: Sequence[dict[str, Any]],
                 new_rows: list[dict[str, Any]]) -> None:
        """``rows`` of ``table`` replaced by ``new_rows`` (held to the wave's end when
        staged)."""
        if self.staged is not None:
            self.staged.gone[table.name].extend(int(r["id"]) for r in rows)
            self.staged.added[table.name].extend(new_rows)
            return
        self.session.execute(delete(table).where(table.c.id.in_([r["id"] for r in rows])))
        self.session.execute(insert(table), new_rows)

    def _facility_rows(self, code: str) -> list[tuple[Any, ...]]:
        """The facilities of ``code``: id, external id, name, longitude, latitude."""
        if self.staged is not None:
            return self.staged.facilities.get(code, [])
        return [tuple(r) for r in self.session.execute(
            select(Facility.id, Facility.external_id, Facility.name, Facility.longitude,
                   Facility.latitude).where(Facility.division_code == code)).all()]

    def _split_carried(self, move: _Move, spec: Carried, codes: Sequence[str],
                       people: dict[int, str]) -> None:
        old = move.old[0]
        table = spec.table
        condition = table.c[spec.column] == old
        if spec.where is not None:
            condition = condition & spec.where
        columns = [table.c.id]
        if spec.longitude and spec.latitude:
            columns += [table.c[spec.longitude], table.c[spec.latitude]]
        moved: dict[str, list[int]] = defaultdict(list)
        rows = self.session.execute(select(*columns).where(condition)).all()
        inside = self._by_shape(move, [(r[1], r[2]) if len(r) == 3 else (None, None)
                                       for r in rows])
        for row, part in zip(rows, inside, strict=True):
            row_id = int(row[0])
            target = people.get(row_id) if spec.people else None
            if target is None and part != OUTSIDE:
                target = codes[part]
            if target is None and len(row) == 3 and row[1] is not None and row[2] is not None:
                distance = [great_circle_m(row[1], row[2], p[0], p[1])
                            for p in move.points if p[0] is not None and p[1] is not None]
                if len(distance) == len(codes) and len(set(move.points)) == len(codes):
                    target = codes[min(range(len(distance)), key=distance.__getitem__)]
            target = target or move.continuing
            if target is None:
                self.problem(move, f"{spec.label} {row_id} in {old} is given no part of the "
                             "split", "homeless_row", table=spec.label, id=row_id, code=old)
                continue
            moved[target].append(row_id)
        for target, ids in moved.items():
            if target == old:
                continue
            if spec.notice:
                self.report.notices.extend(Notice(spec.label, i, old, target,
                                                  self.event_ids[move.event]) for i in ids)
            self.session.execute(update(table).where(table.c.id.in_(ids))
                                 .values({spec.column: target}))
            self.report.moved[spec.label] += len(ids)

    @staticmethod
    def _by_shape(move: _Move, points: Sequence[tuple[float | None, float | None]]
                  ) -> list[int]:
        """The part of a split by boundaries holding each point (``OUTSIDE``: none, no
        location, or a split by shares)."""
        if not move.shapes or not points:
            return [OUTSIDE] * len(points)
        xs = [float("nan") if p[0] is None else float(p[0]) for p in points]
        ys = [float("nan") if p[1] is None else float(p[1]) for p in points]
        return [int(i) for i in assign_points(xs, ys, move.shapes).tolist()]

    def _abolish(self, move: _Move) -> None:
        old = move.old[0]
        year = move.on.year
        checks: list[tuple[str, Table, ColumnElement[bool]]] = [
            ("facility", FACILITY, FACILITY.c.division_code == old),
            ("population", POPULATION,
             (POPULATION.c.division_code == old)
             & (POPULATION.c.period >= year)),
            ("workforce", WORKFORCE,
             (WORKFORCE.c.division_code == old)
             & (WORKFORCE.c.period >= year)),
        ]
        for spec in self.carried:
            condition = spec.table.c[spec.column] == old
            if spec.where is not None:
                condition = condition & spec.where
            checks.append((spec.label, spec.table, condition))
        for label, table, condition in checks:
            ids = self.session.scalars(select(table.c.id).where(condition).limit(21)).all()
            if ids:
                shown = ", ".join(str(i) for i in ids[:20])
                self.problem(move, f"abolishing {old} would leave {label} rows without a "
                             f"division: {shown}{' …' if len(ids) > 20 else ''}",
                             "homeless_rows", table=label, ids=shown, code=old)


# --- carrying in waves ------------------------------------------------------------------

# Codes per statement when rows are read or re-pointed by a list of codes.
_CHUNK = 2000


def _waves(moves: Sequence[_Move]) -> list[list[_Move]]:
    """The moves in waves: a move goes one wave after the last earlier move that shares a
    code with it (as predecessor or successor), so the moves of one wave touch disjoint
    rows and may be carried at once, and the waves in order give what the moves one by
    one in date order give.  Renames carry nothing and are left out."""
    last: dict[str, int] = {}
    waves: list[list[_Move]] = []
    for move in moves:
        if move.kind == "rename":
            continue
        codes = {*move.old, *(code for code, _ in move.targets)}
        wave = max((last.get(code, -1) for code in codes), default=-1) + 1
        for code in codes:
            last[code] = wave
        if wave == len(waves):
            waves.append([])
        waves[wave].append(move)
    return waves


def _carry(carrier: _Carrier, moves: Sequence[_Move]) -> None:
    """Every move's rows carried: in each wave, the one-to-one moves (merges, recodes,
    re-parents and the subtrees they move) set-based — a few statements per table for the
    whole wave; the splits one by one in memory, on their population, workforce and
    facility rows read at once, written at once (:class:`_Staged`); abolitions one by
    one."""
    for wave in _waves(moves):
        _carry_one_to_one(carrier, [m for m in wave if m.kind not in ("split", "abolish")])
        splits = [m for m in wave if m.kind == "split"]
        if splits:
            carrier.staged = _Staged.read(carrier.session, splits)
            for move in splits:
                carrier.move(move)
            carrier.staged.write(carrier.session)
            carrier.staged = None
        for move in wave:
            if move.kind == "abolish":
                carrier.move(move)


def _carry_one_to_one(carrier: _Carrier, moves: Sequence[_Move]) -> None:
    """Moves whose predecessors all go to one successor, which share no code: yearly
    figures summed onto the successors, and every table re-pointed with one
    ``UPDATE … SET code = CASE code WHEN old THEN new … END`` per chunk of codes."""
    if not moves:
        return
    target_of: dict[str, tuple[str, _Move]] = {}
    for move in moves:
        target = move.targets[0][0]
        for old in move.old:
            if old != target:
                target_of[old] = (target, move)
    if not target_of:
        return
    _sum_yearly(carrier, moves)
    _repoint(carrier, FACILITY, "division_code", target_of, "facility")
    for spec in carrier.carried:
        _repoint(carrier, spec.table, spec.column, target_of, spec.label, where=spec.where,
                 notice=spec.notice)


def _chunks(codes: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(codes), _CHUNK):
        yield list(codes[start:start + _CHUNK])


def _sum_yearly(carrier: _Carrier, moves: Sequence[_Move]) -> None:
    """Population and workforce of each move's years (≥ its date's year) summed onto its
    successor: the rows read at once, replaced by their sums in one delete and one
    insert per table."""
    move_of: dict[str, _Move] = {}
    for move in moves:
        if list(move.old) == [move.targets[0][0]]:
            continue
        for code in (*move.old, move.targets[0][0]):
            move_of[code] = move
    codes = sorted(move_of)
    session = carrier.session
    for table, key, counts, label in (
            (POPULATION, ("period",), POPULATION_COUNTS, "population"),
            (WORKFORCE, ("period", "role", "certification"), ("headcount",), "workforce")):
        by_move: dict[int, list[dict[str, Any]]] = defaultdict(list)
        first_year = min((move_of[c].on.year for c in codes), default=0)
        for chunk in _chunks(codes):
            for found in session.execute(select(table).where(
                    table.c.division_code.in_(chunk), table.c.period >= first_year)):
                values = dict(found._mapping)
                move = move_of[values["division_code"]]
                if values["period"] >= move.on.year:
                    by_move[id(move)].append(values)
        gone: list[int] = []
        sums: list[dict[str, Any]] = []
        for rows in by_move.values():
            target = move_of[rows[0]["division_code"]].targets[0][0]
            if all(r["division_code"] == target for r in rows):
                continue
            gone.extend(int(r["id"]) for r in rows)
            sums.extend(_summed(rows, key, counts, target))
            carrier.report.moved[label] += sum(1 for r in rows
                                               if r["division_code"] != target)
        for start in range(0, len(gone), _CHUNK):
            session.execute(delete(table).where(table.c.id.in_(gone[start:start + _CHUNK])))
        if sums:
            session.execute(insert(table), sums)


def _summed(rows: Sequence[dict[str, Any]], key: Sequence[str], counts: Sequence[str],
            target: str) -> list[dict[str, Any]]:
    """``rows`` (without their ids) summed per ``key`` onto ``target``; a sum is synthetic
    only when every row in it is."""
    summed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        if k not in summed:
            summed[k] = {**{c: v for c, v in row.items() if c != "id"},
                         "division_code": target}
        else:
            for c in counts:
                summed[k][c] += row[c]
            summed[k]["synthetic"] = summed[k]["synthetic"] and row["synthetic"]
    return list(summed.values())


def _repoint(carrier: _Carrier, table: Table, column: str,
             target_of: dict[str, tuple[str, _Move]], label: str, *,
             where: ColumnElement[bool] | None = None, notice: bool = False) -> None:
    """The rows of ``table`` naming a predecessor re-pointed to its successor: which
    codes hold rows is read first (with the rows' ids when each moved row is noticed),
    then one ``UPDATE`` per chunk of those codes."""
    col = table.c[column]
    session = carrier.session
    held: dict[str, int] = {}
    for chunk in _chunks(sorted(target_of)):
        condition: ColumnElement[bool] = col.in_(chunk)
        if where is not None:
            condition = condition & where
        if notice:
            for row_id, code in session.execute(select(table.c.id, col).where(condition)
                                                .order_by(table.c.id)).all():
                target, move = target_of[str(code)]
                carrier.report.notices.append(Notice(label, int(row_id), str(code), target,
                                                     carrier.event_ids[move.event]))
                held[str(code)] = held.get(str(code), 0) + 1
        else:
            for code, count in session.execute(select(col, func.count()).where(condition)
                                               .group_by(col)).all():
                held[str(code)] = int(count)
    for chunk in _chunks(sorted(held)):
        condition = col.in_(chunk)
        if where is not None:
            condition = condition & where
        session.execute(update(table).where(condition)
                        .values({column: case({c: target_of[c][0] for c in chunk},
                                              value=col)})
                        .execution_options(synchronize_session=False))
    if held:
        carrier.report.moved[label] += sum(held.values())


def apply_changes(session: Session, events: Sequence[ChangeEvent], *,
                  source: str = "change", recorded_by: str | None = None,
                  carried: Sequence[Carried] = ()) -> ChangeReport:
    """Check and write a batch of changes with what they carry; any problem raises
    :class:`ValidationError` naming every one (the caller's transaction then rolls back)."""
    checker, ordered = check_changes(session, events, source=source)
    if checker.problems:
        raise ValidationError(checker.problems, summary=f"{len(checker.problems)} problem(s) "
                              "in the division changes; nothing was written")
    state = checker.state
    report = ChangeReport()
    now = dt.datetime.now(dt.UTC)
    # the events first, for their ids (a code chosen by the registry is recorded too)
    chosen: dict[int, list[str]] = {}
    first: dict[int, _Move] = {}
    for move in checker.moves:
        chosen.setdefault(move.event, [code for code, _ in move.targets])
        first.setdefault(move.event, move)
    event_rows = [DivisionChangeEvent(
        kind=e.kind, effective_on=e.on, old_codes=json.dumps(list(e.old)),
        new_codes=json.dumps([p.code for p in e.new] if all(p.code for p in e.new)
                             else chosen.get(i, [])),
        shares=json.dumps(dict(first[i].targets) if i in first else
                          {str(p.code): p.share for p in e.new}) if e.kind == "split" else None,
        recorded_by=recorded_by, recorded_at=now,
        source=(f"{source} row {e.rows[0]}" if e.rows else source)[:200],
        note=_note(e.note, first[i].rule if i in first else None))
        for i, e in enumerate(ordered)]
    session.add_all(event_rows)
    session.flush()
    ids = [int(row.id) for row in event_rows]
    report.events = ids
    # division versions: close the stored ones, insert the new ones
    closures = [{"b_id": v.db_id, "b_to": v.valid_to}
                for vs in state.versions.values() for v in vs if v.closed and v.db_id]
    if closures:
        table = DIVISION
        session.execute(update(table).where(table.c.id == bindparam("b_id"))
                        .values(valid_to=bindparam("b_to"))
                        .execution_options(synchronize_session=False), closures)
    if state.new:
        session.execute(insert(DIVISION),
                        [{c: getattr(v, c) for c in _COLUMNS} for v in state.new])
    report.closed, report.opened = len(closures), len(state.new)
    _store_part_boundaries(session, checker.moves, source)
    # links
    links = []
    for move in checker.moves:
        targets: Sequence[tuple[str | None, float | None]] = move.targets or ((None, None),)
        for old in move.old:
            for code, share in targets:
                links.append({"effective_on": move.on, "event": move.kind,
                              "predecessor_code": old, "successor_code": code,
                              "note": ordered[move.event].note, "event_id": ids[move.event],
                              "share": share})
    if links:
        session.execute(insert(LINK), links)
    problems: list[Problem] = []
    # a table with no row at all has nothing to carry (saves a statement per change)
    holding = [spec for spec in carried
               if session.execute(select(spec.table.c.id).limit(1)).first() is not None]
    carrier = _Carrier(session, holding, report, problems, source, ids, ordered)
    _carry(carrier, checker.moves)
    if problems:
        raise ValidationError(problems, summary=f"{len(problems)} problem(s) in carrying the "
                              "data to the successors; nothing was written")
    session.flush()
    return report


def _note(note: str | None, rule: str | None) -> str | None:
    """The event's note, with the rule a split by boundaries shared the people by."""
    if rule is None:
        return note
    said = f"people shared by boundaries: {rule}"
    return f"{note}; {said}" if note else said


def _store_part_boundaries(session: Session, moves: Sequence[_Move], source: str) -> None:
    """The boundaries a split by boundaries brought, stored for the parts' new versions."""
    pairs: list[tuple[Division, MultiPolygon]] = []
    for move in moves:
        if not move.shapes:
            continue
        codes = [code for code, _ in move.targets]
        versions = {d.code: d for d in session.scalars(select(Division).where(
            Division.code.in_(codes), Division.valid_from == move.on))}
        pairs.extend((versions[code], shape)
                     for code, shape in zip(codes, move.shapes, strict=True))
    if pairs:
        store_boundaries(session, pairs, source=f"{source}: split by boundaries"[:200])


def change_count(session: Session) -> int:
    """How many change events are recorded."""
    return int(session.scalar(select(func.count()).select_from(DivisionChangeEvent)) or 0)


__all__ = ["KINDS", "Carried", "ChangeEvent", "ChangeReport", "NewUnit", "Notice",
           "apply_changes", "change_count", "check_changes"]
