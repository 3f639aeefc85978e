"""Personal data typed into free text: find it, mask it, keep the whole text encrypted.

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

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from stdnum.cn import ric

from shequ.services.accounts.crypto import mask_email, mask_identity_number, mask_phone


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


def _candidates(text: str) -> Iterator[Found]:
    for match in _EMAIL.finditer(text):
        yield Found(PersonalKind.EMAIL, match.start(), match.end(), match.group())
    for match in _IDENTITY.finditer(text):
        if ric.is_valid(match.group()):  # check character and birth date (stdnum)
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
