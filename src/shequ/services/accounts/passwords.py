"""Password hashing with Argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shequ.errors import Problem, ValidationError

_HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salted; the string carries its parameters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError([Problem("password", f"is shorter than {MIN_PASSWORD_LENGTH} "
                                       "characters", hint="choose a longer passphrase")])
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False otherwise (never raises)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's defaults."""
    return _HASHER.check_needs_rehash(password_hash)
