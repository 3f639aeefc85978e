"""Changes to the hierarchy over time: merges, splits, renames, recodes, abolitions.

A change closes the predecessors' versions on the effective date, opens the successors'
versions from that date, and records predecessor → successor links, so that any query
"as of" a date before the change sees the old units and any after sees the new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.errors import Problem, ValidationError
from shequ.registry.codes import level_of, normalise_code, parent_of
from shequ.registry.models import Division, DivisionChange
from shequ.registry.queries import division, valid_on

EVENTS = ("merge", "split", "rename", "recode", "abolish")


@dataclass(frozen=True, slots=True)
class Successor:
    """A unit that exists from the change on: its code, name and (optionally) kind."""

    code: str
    name: str
    kind: str | None = None
    urban_rural: str | None = None


def apply_change(session: Session, *, event: str, on: dt.date,
                 predecessors: Sequence[str], successors: Sequence[Successor] = (),
                 note: str | None = None) -> list[Division]:
    """Record a hierarchy change effective ``on``; returns the successors' new versions.

    - merge: several predecessors → one successor (which may be one of them, renamed or not)
    - split: one predecessor → several successors
    - rename / recode: one → one with a new name / a new code
    - abolish: predecessors end, no successor
    """
    if event not in EVENTS:
        raise ValidationError([Problem("event", f"unknown change {event!r}",
                                       hint=f"use one of {', '.join(EVENTS)}")])
    expected = {"merge": (2, 1), "split": (1, 2), "rename": (1, 1), "recode": (1, 1),
                "abolish": (1, 0)}[event]
    if len(predecessors) < expected[0] or (expected[1] == 0 and successors) or \
            (expected[1] > 0 and len(successors) < expected[1]) or \
            (event in ("rename", "recode", "merge") and len(successors) != 1):
        raise ValidationError([Problem(
            "change", f"a {event} needs at least {expected[0]} predecessor(s) and "
            f"{'no' if expected[1] == 0 else expected[1]} successor(s)")])
    old = [division(session, normalise_code(code), as_of=on - dt.timedelta(days=1))
           for code in predecessors]
    for unit in old:
        unit.valid_to = on
    session.flush()
    created: list[Division] = []
    template = old[0]
    for successor in successors:
        code = normalise_code(successor.code)
        level = level_of(code)
        if level != template.level:
            raise ValidationError([Problem("successor", f"{code} is level {level}, the "
                                           f"predecessors are level {template.level}")])
        still = session.scalars(select(Division).where(Division.code == code,
                                                       valid_on(on))).first()
        if still is not None:
            raise ValidationError([Problem("successor", f"{code} is already in force on "
                                           f"{on.isoformat()}; close it first or choose "
                                           "another code")])
        unit = Division(code=code, level=level, parent_code=parent_of(code, level),
                        name=successor.name, kind=successor.kind or template.kind,
                        urban_rural=successor.urban_rural or template.urban_rural,
                        valid_from=on, code_source="import", source=f"change: {event}",
                        longitude=template.longitude, latitude=template.latitude,
                        area_km2=None, synthetic_geography=template.synthetic_geography)
        session.add(unit)
        created.append(unit)
    for unit in old:
        targets: list[str | None] = [s.code for s in successors] or [None]
        for target in targets:
            session.add(DivisionChange(effective_on=on, event=event,
                                       predecessor_code=unit.code,
                                       successor_code=normalise_code(target) if target else None,
                                       note=note))
    session.flush()
    return created
