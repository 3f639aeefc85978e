"""Writes made on a device without signal: each applied once, none overwriting silently.

A worker's device queues a write (a request's workflow step, a facility's correction, an
hours confirmation …) with an idempotency key, a UUID it made, and sends it when the
connection returns, maybe more than once.  :func:`claim` records the key before the write
runs and :func:`finish` the answer after, so a key sent again gets the first answer back
instead of a second write (:class:`IdempotencyKey`, one row per user and key).

A queued write also carries the version of the record the worker saw (``seen_version``,
from :func:`version_of`: a hash of what the form showed).  :func:`check_seen` refuses it
with a 409 when the stored record changed meanwhile, naming both versions, so the worker
chooses: keep theirs (send again with the new version) or keep the server's (drop it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Integer, LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shequ.errors import ConflictError, NotFoundError, Problem, ValidationError
from shequ.registry import queries
from shequ.registry.models import Base, Facility
from shequ.services.accounts import STAFF_ROLES, require_in_jurisdiction, require_role
from shequ.services.accounts.policy import Principal
from shequ.services.requests.models import ServiceRequest

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# The answers worth replaying: what the write did, or why it was refused for good (a
# problem of the form, a conflict).  A 401, 403 or 5xx is not kept: the same key may be
# sent again once signed in, or once the server is back.
KEPT_STATUSES = frozenset({409, 422})
# Bodies longer than this are replayed empty (their hash is still kept); the writes
# queued offline answer with a redirect, whose body is empty anyway.
MAX_KEPT_BODY = 256 * 1024
# The fields of a facility's correction form whose values make its version.
FACILITY_FIELDS = ("name", "status", "floor_area_m2", "activity_area_m2", "capacity",
                   "opening_hours", "phone")


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


class IdempotencyKey(Base):
    """One key a user sent with a write, and the first answer it got (``status`` is
    NULL while the write runs)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(1000))
    content_type: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


@dataclasses.dataclass(frozen=True)
class Answer:
    """The first answer to a key: what a repeat gets back."""

    status: int
    location: str | None
    content_type: str | None
    body: bytes
    body_sha256: str


def valid_key(key: str) -> bool:
    """Whether ``key`` looks like a key a device makes (a UUID, 8–64 safe characters)."""
    return bool(KEY_PATTERN.match(key))


def claim(session: Session, *, key: str, user_id: int, method: str, path: str,
          now: dt.datetime | None = None) -> Answer | None:
    """Record ``key`` for this write and commit: None when it is new (run the write, then
    :func:`finish`); the first answer when it was already answered.

    A key reused for another write is a 422; one whose write is still running, a 409.
    """
    if not valid_key(key):
        raise ValidationError([Problem("Idempotency-Key", f"{key[:80]!r} is not a key",
                                       code="offline.bad_key")], code="offline.bad_key")
    row = IdempotencyKey(key=key, user_id=user_id, method=method.upper(), path=path[:500],
                         created_at=now or utcnow())
    session.add(row)
    try:
        session.commit()
        return None
    except IntegrityError:
        session.rollback()
    found = session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)).one()
    if (found.method, found.path) != (method.upper(), path[:500]):
        params = {"method": found.method, "path": found.path}
        raise ValidationError([Problem("Idempotency-Key",
                                       f"key already used for {found.method} {found.path}",
                                       code="offline.key_reused", params=params)],
                              code="offline.key_reused", params=params)
    if found.status is None:
        raise ConflictError("a write with this key is still running; send it again later",
                            code="offline.key_running")
    return Answer(status=found.status, location=found.location,
                  content_type=found.content_type, body=found.body or b"",
                  body_sha256=found.body_sha256 or "")


def keeps(status: int) -> bool:
    """Whether an answer with ``status`` is kept for the key (else the key is freed)."""
    return status < 400 or status in KEPT_STATUSES


def finish(session: Session, *, key: str, user_id: int, status: int,
           location: str | None = None, content_type: str | None = None,
           body: bytes = b"", now: dt.datetime | None = None) -> None:
    """Store the first answer to ``key`` (or free the key when the answer is not one to
    keep, so that the device may send it again) and commit."""
    where = (IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    if not keeps(status):
        session.execute(delete(IdempotencyKey).where(*where),
                        execution_options={"synchronize_session": False})
        session.commit()
        return
    row = session.scalars(select(IdempotencyKey).where(*where)).one()
    row.status = status
    row.location = location[:1000] if location else None
    row.content_type = content_type[:200] if content_type else None
    row.body = body if len(body) <= MAX_KEPT_BODY else None
    row.body_sha256 = hashlib.sha256(body).hexdigest()
    row.finished_at = now or utcnow()
    session.commit()


def forget_before(session: Session, before: dt.datetime) -> int:
    """Delete the keys created before ``before`` (a device's queue is long sent by then);
    how many were deleted."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < before),
                             execution_options={"synchronize_session": False})
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def forget_expired(session: Session, *, retention_days: int,
                   now: dt.datetime | None = None) -> int:
    """Delete the keys older than ``retention_days`` (Settings.idempotency_retention_days:
    a device's outbox is sent long before; a write sent later with an old key is applied
    as new); how many were deleted."""
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, not {retention_days}")
    return forget_before(session, (now or utcnow()) - dt.timedelta(days=retention_days))


# ---- versions ----------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat(timespec="seconds")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(getattr(value, "value", value))


def request_snapshot(row: ServiceRequest) -> dict[str, str]:
    """What a request's workflow form acts on: its status, who has it, its last note."""
    return {"status": _text(row.status), "assigned_to_id": _text(row.assigned_to_id),
            "updated_at": _text(row.updated_at)}


def facility_snapshot(facility: Facility) -> dict[str, str]:
    """The values of a facility's correction form, as stored."""
    return {name: _text(getattr(facility, name)) for name in FACILITY_FIELDS}


def snapshot_of(record: object) -> dict[str, str]:
    """The snapshot of a request or facility (the records writes are queued against)."""
    if isinstance(record, ServiceRequest):
        return request_snapshot(record)
    if isinstance(record, Facility):
        return facility_snapshot(record)
    raise TypeError(f"no version for {type(record).__name__}")


def version_of(snapshot: Mapping[str, str] | object) -> str:
    """A short hash of a record's snapshot: the version a form carries."""
    values: Mapping[str, Any] = snapshot if isinstance(snapshot, Mapping) else snapshot_of(
        snapshot)
    text = json.dumps(dict(values), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_seen(seen: str | None, snapshot: Mapping[str, str], *, entity: str,
               entity_id: int) -> None:
    """Refuse a write made against version ``seen`` when the record is now another one
    (a ConflictError naming both); a write that names no version is not checked."""
    seen = (seen or "").strip()
    if not seen:
        return
    current = version_of(snapshot)
    if seen != current:
        raise ConflictError(
            f"{entity} {entity_id} changed since version {seen[:16]}; now {current}",
            code="offline.stale_version",
            params={"entity": entity, "id": entity_id, "seen": seen[:16], "current": current})


# ---- the record a queued write was made against -----------------------------------------

# The writes queued offline that carry a version, by their address: the record's kind.
VERSIONED_WRITES = (
    (re.compile(r"^/services/requests/(\d{1,9})/act$"), "request"),
    (re.compile(r"^/upkeep/facilities/(\d{1,9})$"), "facility"),
)


@dataclasses.dataclass(frozen=True)
class Current:
    """The stored version of the record a write at some address changes."""

    entity: str
    id: int
    version: str
    fields: dict[str, str]


def current_for(session: Session, catalog_dir: Path | None, user: Principal,
                path: str) -> Current:
    """The record the write to ``path`` changes, as stored now, if ``user`` may see it
    (what the outbox shows beside the worker's own version after a conflict)."""
    from shequ.services.requests import load_request_catalog
    from shequ.services.requests import service as rs

    for pattern, entity in VERSIONED_WRITES:
        match = pattern.match(path)
        if match is None:
            continue
        record_id = int(match.group(1))
        if entity == "request":
            row = rs.get_request(session, record_id)
            catalog = load_request_catalog(catalog_dir)
            rs.require_view(user, row, catalog.service(row.service_code))
            snapshot = request_snapshot(row)
        else:
            require_role(user, *STAFF_ROLES)
            facility = queries.facility(session, record_id)
            require_in_jurisdiction(user, facility.division_code)
            snapshot = facility_snapshot(facility)
        return Current(entity=entity, id=record_id, version=version_of(snapshot),
                       fields=snapshot)
    raise NotFoundError(f"no versioned record is written at {path[:200]!r}",
                        code="offline.no_record", params={"path": path[:200]})
