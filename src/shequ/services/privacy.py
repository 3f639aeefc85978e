"""Personal data kept to need: detectors and masks for free text, re-encryption under
the current key, and retention (purging what is past its period).

Detectors: GB 11643 identity numbers (18 characters whose check character matches and
whose digits 7–14 are a date), mainland mobile numbers (``1[3-9]`` and 9 more digits,
an optional ``+86``), landlines (a ``0`` area code of 3–4 digits, then 7–8 digits) and
e-mail addresses.

Free text (a request's description and notes, a review's comment) is stored *masked* in
its clear column with the whole text encrypted beside it (``*_enc``, only when masking
changed something).  Why not the whole text encrypted alone: lists, search, moderation,
Open311 and every page read the clear column with no key and no audit, and showing it is
always safe; only the few who need the number read the ``*_enc`` column, audited.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import stdnum.exceptions as stdnum_errors
from sqlalchemy import (
    Column,
    Engine,
    LargeBinary,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from stdnum.cn import ric

from shequ.errors import ConfigurationError
from shequ.services.accounts.crypto import (
    EncryptedDate,
    EncryptedText,
    Keyring,
    key_id_of,
    keyring_of,
    mask_email,
    mask_identity_number,
    mask_phone,
)


class PersonalKind(StrEnum):
    """What a detector finds."""

    IDENTITY_NUMBER = "identity_number"
    MOBILE = "mobile"
    LANDLINE = "landline"
    EMAIL = "email"


# Digit runs bounded by non-digits (and no Latin letter glued on, as in a serial number).
_IDENTITY = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9+])(?:\+?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<![0-9])(0\d{2,3})[ -]?([2-9]\d{6,7})(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@dataclass(frozen=True, slots=True)
class Found:
    """One piece of personal data in a text: its kind and where it is."""

    kind: PersonalKind
    start: int
    end: int
    value: str


def _is_identity_number(text: str) -> bool:
    """GB 11643 check character and birth date (python-stdnum); not the birth place, whose
    table in stdnum lags renamed counties: a number it does not know must still be masked."""
    number = text.upper()
    if ric.calc_check_digit(number[:17]) != number[17]:
        return False
    try:
        ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        return False
    return True


def _candidates(text: str) -> Iterator[Found]:
    for match in _EMAIL.finditer(text):
        yield Found(PersonalKind.EMAIL, match.start(), match.end(), match.group())
    for match in _IDENTITY.finditer(text):
        if _is_identity_number(match.group()):
            yield Found(PersonalKind.IDENTITY_NUMBER, match.start(), match.end(), match.group())
    for match in _MOBILE.finditer(text):
        yield Found(PersonalKind.MOBILE, match.start(), match.end(), match.group())
    for match in _LANDLINE.finditer(text):
        yield Found(PersonalKind.LANDLINE, match.start(), match.end(), match.group())


def find_personal(text: str) -> list[Found]:
    """Every identity number, phone number and e-mail in ``text``, left to right.

    Where two detectors overlap (a mobile number inside an identity number, digits of an
    e-mail) the earlier-listed kind wins: e-mail, identity number, mobile, landline.
    """
    kept: list[Found] = []
    for found in _candidates(text):
        if all(found.end <= k.start or found.start >= k.end for k in kept):
            kept.append(found)
    return sorted(kept, key=lambda f: f.start)


def _masked(found: Found) -> str:
    if found.kind is PersonalKind.EMAIL:
        return mask_email(found.value)
    if found.kind is PersonalKind.IDENTITY_NUMBER:
        return mask_identity_number(found.value)
    digits = re.sub(r"\D", "", found.value)
    if found.kind is PersonalKind.MOBILE:
        return mask_phone(digits[-11:])
    area = _LANDLINE.fullmatch(found.value.replace(" ", "-"))
    code = area.group(1) if area else digits[:4]
    return code + "-" + "*" * (len(digits) - len(code) - 2) + digits[-2:]


def mask_personal(text: str) -> str:
    """``text`` with every personal number and e-mail masked (``138****5678``)."""
    pieces: list[str] = []
    at = 0
    for found in find_personal(text):
        pieces += [text[at:found.start], _masked(found)]
        at = found.end
    return "".join(pieces) + text[at:]


def split_free_text(text: str | None) -> tuple[str | None, str | None]:
    """``(shown, whole)`` of a free text: the masked text, and the whole text only when
    masking changed it (None otherwise, so nothing is encrypted for nothing)."""
    if text is None:
        return None, None
    shown = mask_personal(text)
    return shown, (text if shown != text else None)


@dataclass(frozen=True, slots=True)
class ReencryptReport:
    """What ``shequ db reencrypt`` did: values rewritten per column and per old key id."""

    key_id: str
    examined: dict[str, int]
    rewritten: dict[str, int]
    from_keys: dict[str, int]
    hashes_renewed: int

    @property
    def total_rewritten(self) -> int:
        """Values rewritten in every column together."""
        return sum(self.rewritten.values())


def encrypted_columns() -> list[tuple[Table, Column[Any], str]]:
    """Every encrypted column of the schema with its table and associated data."""
    import shequ.models  # noqa: F401  (every table on the metadata)
    from shequ.registry.models import Base

    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText | EncryptedDate):
                found.append((table, column, column.type.field))
    return found


def reencrypt(engine: Engine, *, batch_size: int = 500) -> ReencryptReport:
    """Rewrite every encrypted value not under the current key, and every identity look-up
    hash not under the current look-up key; idempotent, one transaction per batch.

    Values are read as stored bytes (their key id says which key wrote them), so a second
    run finds nothing to do.
    """
    keys = keyring_of(engine)
    examined: dict[str, int] = {}
    rewritten: dict[str, int] = {}
    from_keys: dict[str, int] = {}
    for table, column, field in encrypted_columns():
        name = f"{table.name}.{column.name}"
        examined[name] = rewritten[name] = 0
        raw = type_coerce(column, LargeBinary)
        last = 0
        while True:
            with engine.begin() as connection:
                rows = connection.execute(
                    select(table.c.id, raw).where(table.c.id > last, column.is_not(None))
                    .order_by(table.c.id).limit(batch_size)).all()
                if not rows:
                    break
                last = rows[-1][0]
                examined[name] += len(rows)
                changes = []
                for row_id, blob in rows:
                    written_by = key_id_of(bytes(blob), keys)
                    if written_by != keys.current_key_id:
                        clear = keys.decrypt(field, bytes(blob))
                        changes.append({"_id": row_id,
                                        "_value": keys.encrypt(field, clear)})
                        from_keys[written_by] = from_keys.get(written_by, 0) + 1
                if changes:
                    connection.execute(
                        update(table).where(table.c.id == bindparam("_id"))
                        .values({column.name: type_coerce(bindparam("_value"), LargeBinary)}),
                        changes)
                    rewritten[name] += len(changes)
    return ReencryptReport(keys.current_key_id, examined, rewritten, from_keys,
                           _renew_lookup_hashes(engine, keys))


def _renew_lookup_hashes(engine: Engine, keys: Keyring) -> int:
    """Recompute residents' identity-number hashes under the current look-up key."""
    from shequ.services.accounts.models import Resident

    table = cast(Table, Resident.__table__)
    renewed = 0
    with engine.begin() as connection:
        rows = connection.execute(select(
            table.c.id, table.c.identity_number_enc, table.c.identity_number_hash).where(
            table.c.identity_number_enc.is_not(None))).all()
        changes = [{"_id": row_id, "_hash": keys.lookup_hash(number)}
                   for row_id, number, digest in rows if keys.lookup_hash(number) != digest]
        if changes:
            connection.execute(update(table).where(table.c.id == bindparam("_id"))
                               .values(identity_number_hash=bindparam("_hash")), changes)
            renewed = len(changes)
    return renewed


# Retention: how long personal data of a finished case is kept, per kind, in days.
RETENTION_DEFAULTS: dict[str, int] = {
    # A closed request's contact name, e-mail and phone and the whole texts with numbers
    # (the masked description and the case stay, for statistics and the assessment).
    "request_contact": 365,
    # A declined, lapsed, withdrawn or ended care application: the beneficiary's name,
    # notes and groups are anonymised, the birth date kept to its year.
    "care_application": 3 * 365,
    # Audit entries; China's Cybersecurity Law (art. 21) asks for at least six months.
    "audit_log": 3 * 365,
}
AUDIT_MINIMUM_DAYS = 180
ANONYMISED_NAME = "（已匿名）"


def retention_periods(text: str | None) -> dict[str, int]:
    """Retention in days per kind: the defaults, changed by ``SHEQU_RETENTION``
    (``"request_contact=180,audit_log=730"``)."""
    periods = dict(RETENTION_DEFAULTS)
    for entry in (e.strip() for e in (text or "").split(",") if e.strip()):
        kind, _, days = entry.partition("=")
        if kind.strip() not in periods or not days.strip().isdigit():
            raise ConfigurationError(
                f"SHEQU_RETENTION: {entry!r} is not kind=days with a kind among "
                f"{', '.join(periods)} (e.g. request_contact=365)")
        periods[kind.strip()] = int(days)
    if periods["audit_log"] < AUDIT_MINIMUM_DAYS:
        raise ConfigurationError(f"SHEQU_RETENTION: audit_log={periods['audit_log']} is under "
                                 f"the {AUDIT_MINIMUM_DAYS} days the law asks logs be kept")
    return periods


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """Rows past their retention per kind (purged unless it was a dry run)."""

    counts: dict[str, int]
    cutoffs: dict[str, dt.datetime]
    dry_run: bool


def purge(session: Session, periods: dict[str, int], *, now: dt.datetime | None = None,
          dry_run: bool = False) -> PurgeReport:
    """Anonymise or delete what is past its retention period, and audit it.

    ``now`` is an aware instant (default: the current one).  A dry run counts only.
    """
    from shequ.services.accounts.audit import audit
    from shequ.services.accounts.models import AuditLog
    from shequ.services.care.models import ApplicationStatus, CareApplication
    from shequ.services.requests.models import (
        RequestStatus,
        ServiceRequest,
        ServiceRequestEvent,
    )

    when = now or dt.datetime.now(dt.UTC)
    cutoffs = {kind: when - dt.timedelta(days=days) for kind, days in periods.items()}
    counts: dict[str, int] = {}

    requests = session.scalars(select(ServiceRequest).where(
        ServiceRequest.status == RequestStatus.CLOSED.value,
        ServiceRequest.closed_at < cutoffs["request_contact"],
        or_(ServiceRequest.contact_name_enc.is_not(None),
            ServiceRequest.contact_email_enc.is_not(None),
            ServiceRequest.contact_phone_enc.is_not(None),
            ServiceRequest.description_enc.is_not(None),
            ServiceRequest.status_notes_enc.is_not(None),
            ServiceRequest.rating_comment_enc.is_not(None)))).all()
    counts["request_contact"] = len(requests)
    finished = [s.value for s in (ApplicationStatus.DECLINED, ApplicationStatus.LAPSED,
                                  ApplicationStatus.WITHDRAWN, ApplicationStatus.ENDED)]
    applications = session.scalars(select(CareApplication).where(
        CareApplication.status.in_(finished),
        CareApplication.beneficiary_name_masked != ANONYMISED_NAME,
        func.coalesce(CareApplication.ended_at, CareApplication.decided_at)
        < cutoffs["care_application"])).all()
    counts["care_application"] = len(applications)
    old_audit = AuditLog.at < cutoffs["audit_log"]
    counts["audit_log"] = session.scalar(select(func.count()).where(old_audit)) or 0
    if dry_run:
        return PurgeReport(counts, cutoffs, dry_run)

    for request in requests:
        request.contact_name_enc = request.contact_email_enc = None
        request.contact_phone_enc = request.description_enc = None
        request.status_notes_enc = request.rating_comment_enc = None
    if requests:
        session.execute(update(ServiceRequestEvent).where(
            ServiceRequestEvent.request_id.in_([r.id for r in requests]))
            .values(note_enc=None))
    for application in applications:
        application.beneficiary_name = application.beneficiary_name_masked = ANONYMISED_NAME
        application.beneficiary_birth_date = dt.date(application.beneficiary_birth_date.year,
                                                     1, 1)
        application.note = None
        application.priority_groups = ""
    session.execute(delete(AuditLog).where(old_audit))
    for kind, count in counts.items():
        if count:
            audit(session, user=None, action="purge", entity=kind, entity_id=None,
                  detail={"rows": count, "before": cutoffs[kind].isoformat(),
                          "retention_days": periods[kind]})
    session.flush()
    return PurgeReport(counts, cutoffs, dry_run)
