"""Residents' personal records: encrypted at rest, masked in every view, reads audited.

The keys are the ones attached to the session's engine (:func:`crypto.keyring_of`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.errors import ConflictError, NotFoundError, Problem, ValidationError
from shequ.registry.codes import normalise_code, validate_identity_number
from shequ.services.accounts.audit import audit
from shequ.services.accounts.crypto import (
    keyring_of,
    mask_identity_number,
    mask_name,
    mask_phone,
)
from shequ.services.accounts.models import PriorityGroup, Resident, Role
from shequ.services.accounts.policy import (
    Principal,
    in_jurisdiction,
    may_see_whole_personal_numbers,
    role_of,
)

PHONE_DIGITS = (7, 15)


def normalise_phone(phone: str) -> str:
    """Digits of a phone number (a leading + kept); 7–15 digits (E.164 length)."""
    text = phone.strip().replace(" ", "").replace("-", "")
    digits = text[1:] if text.startswith("+") else text
    if not digits.isdigit() or not PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1]:
        raise ValidationError([Problem("phone", f"{phone!r} is not a phone number",
                                       hint="7–15 digits, e.g. 13812345678")])
    return text


def _priority_groups(groups: list[str]) -> str:
    allowed = {g.value for g in PriorityGroup}
    bad = [g for g in groups if g not in allowed]
    if bad:
        raise ValidationError([Problem("priority_groups", f"unknown group {g!r}",
                                       hint=", ".join(sorted(allowed))) for g in bad])
    return ",".join(sorted(set(groups)))


def create_resident(session: Session, *, name: str, division_code: str,
                    identity_number: str | None = None, phone: str | None = None,
                    address: str | None = None, priority_groups: list[str] | None = None,
                    actor: Principal | None = None) -> Resident:
    """Store a resident; the identity number must pass the GB 11643 check.

    A staff ``actor`` must have ``division_code`` in their jurisdiction; a resident
    registering themself passes ``actor=None`` before their account exists.
    """
    if not name.strip():
        raise ValidationError([Problem("name", "is empty")])
    code = normalise_code(division_code, where="division_code")
    if actor is not None and role_of(actor) is not Role.RESIDENT:
        from shequ.services.accounts.policy import require_in_jurisdiction

        require_in_jurisdiction(actor, code)
    resident = Resident(name=name.strip(), name_masked=mask_name(name), division_code=code,
                        address=address or None,
                        priority_groups=_priority_groups(priority_groups or []))
    if identity_number:
        number = validate_identity_number(identity_number)
        digest = keyring_of(session).lookup_hash(number)
        if session.scalar(select(Resident.id).where(Resident.identity_number_hash == digest)):
            raise ConflictError("a resident with this identity number is already registered")
        resident.identity_number_enc = number
        resident.identity_number_hash = digest
    if phone:
        resident.phone_enc = normalise_phone(phone)
    session.add(resident)
    session.flush()
    audit(session, user=actor, action="create", entity="resident", entity_id=resident.id,
          detail={"division_code": code})
    return resident


@dataclass(frozen=True, slots=True)
class ResidentView:
    """What a user is shown of a resident; numbers are masked unless ``whole``."""

    id: int
    name: str
    identity_number: str | None
    phone: str | None
    address: str | None
    division_code: str
    priority_groups: list[str]
    whole: bool


def view_resident(session: Session, resident: Resident, *,
                  user: Principal) -> ResidentView:
    """The resident as ``user`` may see it; the read is audited.

    Staff outside the jurisdiction are refused; inside it, only case-working roles and
    the resident themself see the whole name, numbers and address, everyone else the
    masked name and numbers and no address.
    """
    own = user.resident_id is not None and user.resident_id == resident.id
    if not own and not in_jurisdiction(user, resident.division_code):
        from shequ.errors import AccessDenied

        raise AccessDenied(f"resident {resident.id} is outside the jurisdiction of user "
                           f"{user.id}")
    whole = may_see_whole_personal_numbers(user, resident_id=resident.id,
                                           division_code=resident.division_code)
    number, phone = resident.identity_number_enc, resident.phone_enc
    if not whole:
        number = mask_identity_number(number) if number is not None else None
        phone = mask_phone(phone) if phone is not None else None
    audit(session, user=user, action="read_personal" if whole else "read_masked",
          entity="resident", entity_id=resident.id)
    return ResidentView(resident.id, resident.name if whole else resident.name_masked,
                        number, phone, resident.address if whole else None,
                        resident.division_code, resident.priority_group_list, whole)


def get_resident(session: Session, resident_id: int) -> Resident:
    """The resident with ``resident_id``."""
    found = session.get(Resident, resident_id)
    if found is None:
        raise NotFoundError(f"no resident with id {resident_id}")
    return found
