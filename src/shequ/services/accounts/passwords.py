"""Password hashing with Argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile),
and the policy a chosen password must meet (zxcvbn's strength estimate, MIT licence: it
knows the common passwords, words, names, dates and keyboard runs people pick)."""

from __future__ import annotations

from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from shequ.errors import Problem, ValidationError

_HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
# zxcvbn's score runs 0–4; 3 means "safely unguessable" (about 10^8 guesses and more).
MIN_PASSWORD_SCORE = 3
HOW_TO_CHOOSE = ("choose a passphrase of four or more unrelated words; avoid names, "
                 "dates, common words, keyboard runs and the username")


def check_password_strength(password: str, user_inputs: Sequence[str] = ()) -> None:
    """Refuse a password that is short, common or easy to guess (ValidationError says why
    and how to choose a better one); ``user_inputs`` are the user's name and the like."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError([Problem("password", f"is shorter than {MIN_PASSWORD_LENGTH} "
                                       "characters", hint=HOW_TO_CHOOSE,
                                       code="accounts.password_short",
                                       params={"minimum": MIN_PASSWORD_LENGTH})])
    result = zxcvbn(password[:100], user_inputs=[u for u in user_inputs if u])
    if int(result["score"]) < MIN_PASSWORD_SCORE:
        feedback = result["feedback"]
        why = str(feedback.get("warning") or "") or " ".join(feedback.get("suggestions", []))
        raise ValidationError([Problem(
            "password", f"is too easy to guess (strength {result['score']} of 4, "
            f"{MIN_PASSWORD_SCORE} needed){': ' + why if why else ''}", hint=HOW_TO_CHOOSE,
            code="accounts.password_guessable",
            params={"score": int(result["score"]), "needed": MIN_PASSWORD_SCORE})])


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salted; the string carries its parameters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError([Problem("password", f"is shorter than {MIN_PASSWORD_LENGTH} "
                                       "characters", hint="choose a longer passphrase",
                                       code="accounts.password_short",
                                       params={"minimum": MIN_PASSWORD_LENGTH})])
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
