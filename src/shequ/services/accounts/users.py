"""Create and authenticate users; issue and resolve API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shequ.errors import ConflictError, NotFoundError, Problem, ValidationError
from shequ.services.accounts.audit import audit
from shequ.services.accounts.models import ApiKey, Resident, Role, User
from shequ.services.accounts.passwords import (
    check_password_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from shequ.services.accounts.policy import Principal, check_jurisdiction_for_role

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
# Verifying against a fixed hash when the user is unknown keeps the timing the same.
_DUMMY_HASH = hash_password("shequ-dummy-password")
# The demo county's sign-ins share one published password (shequ.services.accounts.demo);
# production refuses them however they got into its database.
DEMO_PASSWORD = "shequ-demo"  # noqa: S105 (published on purpose: synthetic demo only)
DEMO_USERNAMES = frozenset({"demo_resident", "demo_worker", "demo_officer", "demo_planner",
                            "demo_admin"})


def refused_in_environment(username: str, environment: str) -> bool:
    """True for a demo account in production: it may not sign in or stay signed in."""
    return environment == "production" and username in DEMO_USERNAMES


def create_user(session: Session, *, username: str, password: str | None = None,
                role: Role | str, display_name: str | None = None,
                jurisdiction_code: str | None = None, resident_id: int | None = None,
                actor: Principal | None = None, password_hash: str | None = None) -> User:
    """Add a user; the jurisdiction must be a division of the role's level.

    Give ``password`` (hashed here) or an Argon2 ``password_hash`` made earlier (moving
    accounts from another system, or many users with one initial password).
    Raises ValidationError for a malformed name, a short password or a jurisdiction of
    the wrong level, ConflictError when the username is taken.
    """
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError([Problem("role", f"{role!r} is not a role",
                                       hint=", ".join(r.value for r in Role))]) from None
    if not USERNAME.match(username):
        raise ValidationError([Problem("username", f"{username!r} is not 3–64 letters, digits "
                                       "or . _ @ -")])
    code = check_jurisdiction_for_role(role, jurisdiction_code)
    if password_hash is None:
        if password is None:
            raise ValidationError([Problem("password", "a user needs a password")])
        check_password_strength(password, (username, display_name or ""))
        password_hash = hash_password(password)
    elif not password_hash.startswith("$argon2"):
        raise ValidationError([Problem("password_hash", "is not an Argon2 hash")])
    if resident_id is not None and session.get(Resident, resident_id) is None:
        raise NotFoundError(f"no resident with id {resident_id}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"username {username!r} is taken; choose another")
    user = User(username=username, display_name=display_name or username, role=role.value,
                jurisdiction_code=code, resident_id=resident_id,
                password_hash=password_hash, active=True)
    session.add(user)
    session.flush()
    audit(session, user=actor, action="create", entity="user", entity_id=user.id,
          detail={"username": username, "role": role.value, "jurisdiction": code})
    return user


def authenticate(session: Session, username: str, password: str, *,
                 environment: str = "development") -> User | None:
    """The active user with these credentials, or None (same work either way).

    In production a demo account, or any account whose password is the demo's published
    one, is refused.
    """
    user = session.scalar(select(User).where(User.username == username))
    if (user is None or not user.active or refused_in_environment(username, environment)
            or (environment == "production" and password == DEMO_PASSWORD)):
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def user_by_username(session: Session, username: str) -> User:
    """The user called ``username``."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def _key_hash(key: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is enough (no brute force).
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, user: User | None = None,
                   actor: Principal | None = None) -> tuple[ApiKey, str]:
    """A new API key (the row, and the key text shown once and never stored)."""
    if not name.strip():
        raise ValidationError([Problem("name", "an API key needs a name (the client it is for)")])
    text = "sq_" + secrets.token_urlsafe(32)
    row = ApiKey(name=name.strip(), prefix=text[:10], key_hash=_key_hash(text),
                 user_id=user.id if user else None, active=True)
    session.add(row)
    session.flush()
    audit(session, user=actor, action="create", entity="api_key", entity_id=row.id,
          detail={"name": row.name, "user_id": row.user_id})
    return row, text


@dataclass(frozen=True, slots=True)
class ApiKeyIdentity:
    """An active API key's id and the user it acts for (None: an anonymous client)."""

    id: int
    user_id: int | None


_KEY_BY_HASH = select(ApiKey.id, ApiKey.user_id, ApiKey.active).where(
    ApiKey.key_hash == bindparam("key_hash"))


def resolve_api_key(session: Session, key: str) -> ApiKeyIdentity | None:
    """The active API key ``key`` (its id and user), or None.

    One Core select on the session's connection: it runs on every public write.
    """
    if not key:
        return None
    row = session.connection().execute(_KEY_BY_HASH, {"key_hash": _key_hash(key)}).first()
    return ApiKeyIdentity(row.id, row.user_id) if row is not None and row.active else None
