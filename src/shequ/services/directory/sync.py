"""Keep the directory's id map in step with the registry's facilities.

Ids never change for a facility (uuid5 of its registry id); only the organization link
follows the operator.  The check is cheap (count, max id, max updated_at), so a server
runs it at most once a second before answering, and imports may call it directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from threading import Lock

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from shequ.registry.models import Facility
from shequ.services.directory.ids import hsds_id, organization_key
from shequ.services.directory.models import DirectoryEntry
from shequ.services.directory.spatial import PointIndex


@dataclass(frozen=True, slots=True)
class SyncResult:
    """How many entries were added, changed and removed."""

    added: int
    changed: int
    removed: int


def entry_values(facility_id: int, operator_name: str | None, division_code: str
                 ) -> dict[str, object]:
    """The id-map row of one facility."""
    key = organization_key(operator_name, division_code)
    return {"facility_id": facility_id,
            "service_uuid": hsds_id("service", facility_id),
            "location_uuid": hsds_id("location", facility_id),
            "service_at_location_uuid": hsds_id("service_at_location", facility_id),
            "organization_uuid": hsds_id("organization", key),
            "organization_key": key}


def sync_directory(session: Session) -> SyncResult:
    """Add entries for new facilities, relink changed operators, drop removed ones."""
    facilities = {fid: (op, code) for fid, op, code in session.execute(
        select(Facility.id, Facility.operator_name, Facility.division_code))}
    entries = dict(session.execute(
        select(DirectoryEntry.facility_id, DirectoryEntry.organization_key)).all())
    new = [entry_values(fid, op, code) for fid, (op, code) in facilities.items()
           if fid not in entries]
    changed = [entry_values(fid, op, code) for fid, (op, code) in facilities.items()
               if fid in entries and entries[fid] != organization_key(op, code)]
    gone = [fid for fid in entries if fid not in facilities]
    for start in range(0, len(new), 5000):
        session.execute(insert(DirectoryEntry), new[start:start + 5000])
    for values in changed:
        session.execute(update(DirectoryEntry)
                        .where(DirectoryEntry.facility_id == values["facility_id"])
                        .values(organization_uuid=values["organization_uuid"],
                                organization_key=values["organization_key"]))
    for start in range(0, len(gone), 5000):
        session.execute(delete(DirectoryEntry)
                        .where(DirectoryEntry.facility_id.in_(gone[start:start + 5000])))
    return SyncResult(len(new), len(changed), len(gone))


def registry_stamp(session: Session) -> tuple[object, ...]:
    """What changes whenever a facility is added, removed or edited."""
    return tuple(session.execute(_STAMP).one())


# Three scalar subqueries, each answered on its own from an index or the table's count
# (ix_facility_updated_at, migration 0005c); as three aggregates of one select they made
# SQLite and PostgreSQL read every facility: 45 ms of CPU a second per server process
# on SQLite, 50 ms of PostgreSQL's, at 100 k facilities.
_STAMP = select(select(func.count()).select_from(Facility).scalar_subquery(),
                select(func.max(Facility.id)).scalar_subquery(),
                select(func.max(Facility.updated_at)).scalar_subquery())


@dataclass
class DirectoryState:
    """Per-process memory of the last stamp seen and the point index built with it (held
    by the app, not the module)."""

    interval_s: float = 1.0
    checked_at: float = float("-inf")
    stamp: tuple[object, ...] | None = None
    lock: Lock = field(default_factory=Lock)
    index: PointIndex | None = None


def load_point_index(session: Session) -> PointIndex:
    """The point index of every facility with coordinates (ids, lon, lat from the registry)."""
    # Columns through zip: numpy reads Row objects through their mapping interface, which
    # took seconds at 100 k facilities (each worker's first search waited for it).
    rows = session.execute(select(Facility.id, Facility.longitude, Facility.latitude)
                           .where(Facility.longitude.is_not(None),
                                  Facility.latitude.is_not(None))).all()
    if not rows:
        empty = np.zeros(0)
        return PointIndex.from_arrays(empty.astype(np.int64), empty, empty)
    ids, lons, lats = zip(*rows, strict=True)
    return PointIndex.from_arrays(np.array(ids, dtype=np.int64),
                                  np.array(lons, dtype=np.float64),
                                  np.array(lats, dtype=np.float64))


def check_due(state: DirectoryState) -> bool:
    """True when the interval since the last check has passed (cheap, no database)."""
    return time.monotonic() - state.checked_at >= state.interval_s


def ensure_in_step(sessions: sessionmaker[Session], state: DirectoryState) -> None:
    """Sync when the registry changed since the last check (at most once per interval).

    The first caller after the interval claims the check; concurrent callers go on with
    the id map as it is instead of queueing behind the lock.
    """
    if not check_due(state) or not state.lock.acquire(blocking=False):
        return
    try:
        if not check_due(state):
            return
        state.checked_at = time.monotonic()
        with sessions() as session:
            stamp = registry_stamp(session)
            if stamp != state.stamp:
                sync_directory(session)
                session.commit()
                state.index = load_point_index(session)
                state.stamp = stamp
    finally:
        state.lock.release()
