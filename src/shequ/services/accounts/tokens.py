"""Signed bearer tokens, page-session cookies and CSRF tokens (itsdangerous, HMAC-SHA1/256).

Tokens are stateless: ``{"uid", "pv"}`` signed with the secret and a per-use salt, where
``pv`` is a fingerprint of the password hash, so changing a password revokes every token.
The CSRF token of a page session is an HMAC of the session's random id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

BEARER_MAX_AGE_S = 12 * 3600
SESSION_MAX_AGE_S = 8 * 3600


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says: the user, the password fingerprint, the session id."""

    user_id: int
    password_fingerprint: str
    session_id: str


def password_fingerprint(password_hash: str) -> str:
    """Short digest of the stored hash; changes whenever the password does."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _serializer(secret_key: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=salt)


def issue_token(secret_key: str, *, user_id: int, password_hash: str, kind: str) -> str:
    """A signed token of ``kind`` (``bearer`` or ``session``) for the user."""
    payload = {"uid": user_id, "pv": password_fingerprint(password_hash),
               "sid": secrets.token_urlsafe(12)}
    return _serializer(secret_key, f"shequ-{kind}").dumps(payload)


def read_token(secret_key: str, token: str, *, kind: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token of ``kind``, else None."""
    max_age = BEARER_MAX_AGE_S if kind == "bearer" else SESSION_MAX_AGE_S
    try:
        data = _serializer(secret_key, f"shequ-{kind}").loads(token, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    return TokenClaims(int(data["uid"]), str(data.get("pv", "")), str(data.get("sid", "")))


def csrf_token(secret_key: str, session_id: str) -> str:
    """The CSRF token bound to one page session (or one anonymous visitor id)."""
    return hmac.new(secret_key.encode(), b"csrf:" + session_id.encode(),
                    hashlib.sha256).hexdigest()


def check_csrf(secret_key: str, session_id: str, token: str | None) -> bool:
    """True when ``token`` is the CSRF token of ``session_id`` (constant-time)."""
    return bool(token) and hmac.compare_digest(csrf_token(secret_key, session_id), token or "")
