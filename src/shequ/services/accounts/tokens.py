"""Signed session tokens and CSRF tokens (itsdangerous, HMAC).

A page cookie or bearer token is ``{"sid", "uid"}`` signed with the secret and a
per-kind salt.  ``sid`` is a random session key whose SHA-256 names a row of
``account_session`` (:mod:`shequ.services.accounts.sessions`), checked on every request:
the signature only keeps forged tokens from reaching the database.  ``uid`` lets the rate
limits count a signed-in caller's requests without a database read.
The CSRF token of a page session is an HMAC of the session key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a validly signed token says: the session key and the user it was issued to."""

    session_key: str
    user_id: int


def _serializer(secret_key: str, kind: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=f"shequ-{kind}")


def sign_token(secret_key: str, *, session_key: str, user_id: int, kind: str) -> str:
    """The signed token of a session of ``kind`` (``page`` or ``bearer``)."""
    return _serializer(secret_key, kind).dumps({"sid": session_key, "uid": user_id})


def read_token(secret_key: str, token: str, *, kind: str) -> TokenClaims | None:
    """The claims of a validly signed token of ``kind``, else None (expiry is the row's)."""
    try:
        data = _serializer(secret_key, kind).loads(token)
    except BadSignature:
        return None
    if (not isinstance(data, dict) or not isinstance(data.get("uid"), int)
            or not isinstance(data.get("sid"), str) or not data["sid"]):
        return None
    return TokenClaims(data["sid"], data["uid"])


def session_key_hash(session_key: str) -> str:
    """The stored form of a session key (256 random bits, so a plain SHA-256 suffices)."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def csrf_token(secret_key: str, session_id: str) -> str:
    """The CSRF token bound to one page session (or one anonymous visitor id)."""
    return hmac.new(secret_key.encode(), b"csrf:" + session_id.encode(),
                    hashlib.sha256).hexdigest()


def check_csrf(secret_key: str, session_id: str, token: str | None) -> bool:
    """True when ``token`` is the CSRF token of ``session_id`` (constant-time)."""
    return bool(token) and hmac.compare_digest(csrf_token(secret_key, session_id), token or "")
