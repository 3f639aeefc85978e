"""Personal data at rest: AES-GCM under a keyring of rotatable keys, keyed hashes, masking.

A :class:`Keyring` holds the data-encryption keys (``SHEQU_DATA_KEYS``: the first
encrypts, every one decrypts) and a separate look-up key (``SHEQU_LOOKUP_KEY``) for the
keyed hashes that find a duplicate identity number without decrypting; neither is the
secret that signs sessions, so rotating one never touches the other.

Stored form of a value: ``0x01 || len(key id) || key id || nonce (12) || ciphertext``.
The field name is bound as associated data, so a phone ciphertext cannot be replayed
into the identity-number column.  The previous release wrote ``nonce || ciphertext``
under a key derived from ``SHEQU_SECRET_KEY``; such values still decrypt (key id
``legacy``) until ``shequ db reencrypt`` rewrites them under the current key.

Models declare encrypted columns with :class:`EncryptedText` / :class:`EncryptedDate`:
the attribute holds the clear value, the database only ciphertext.  The keyring belongs
to the engine (:func:`attach_keyring`, done by ``Context.open`` from the settings).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Engine, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from shequ.errors import ConfigurationError

NONCE_BYTES = 12
KEY_BYTES = 32
FORMAT_VERSION = 1
LEGACY_KEY_ID = "legacy"
DEVELOPMENT_KEY_ID = "dev"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# HKDF ``info`` strings of the previous release; the development keys reuse them, so a
# development database written before keyrings existed reads on unchanged.
_LEGACY_FIELDS_INFO = b"shequ personal fields v1"
_LEGACY_LOOKUP_INFO = b"shequ lookup hash v1"


@lru_cache(maxsize=8)
def derive_key(secret: str, info: bytes) -> bytes:
    """A 256-bit key derived from ``secret`` with HKDF-SHA256 (``info`` names the use)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=b"shequ", info=info).derive(
        secret.encode())


def _decode_key(text: str, *, setting: str, key_id: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(
            f"{setting}: key {key_id!r} is not 32 bytes of base64; make one with "
            "`python -c 'import base64,os;print(base64.b64encode(os.urandom(32)).decode())'`")
    return raw


def new_key() -> str:
    """A fresh data or look-up key, base64, for ``SHEQU_DATA_KEYS`` / ``SHEQU_LOOKUP_KEY``."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True, slots=True)
class Keyring:
    """Data keys by id (the first encrypts), the look-up key, and the legacy secret."""

    data_keys: tuple[tuple[str, bytes], ...]
    lookup_key: bytes
    # The session secret of the previous release, from which its data key is derived.
    legacy_secret: str | None = None

    def __post_init__(self) -> None:
        if not self.data_keys:
            raise ConfigurationError("SHEQU_DATA_KEYS holds no key; give at least one "
                                     "'id:base64' entry")
        ids = [k for k, _ in self.data_keys]
        if len(set(ids)) != len(ids) or LEGACY_KEY_ID in ids:
            raise ConfigurationError(f"SHEQU_DATA_KEYS: key ids {ids} repeat or use the "
                                     f"reserved id {LEGACY_KEY_ID!r}; give each key its own id")

    @property
    def current_key_id(self) -> str:
        """The id of the key new values are encrypted with."""
        return self.data_keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        """The key with ``key_id`` (``legacy``: derived from the legacy secret), or None."""
        if key_id == LEGACY_KEY_ID:
            return None if self.legacy_secret is None else derive_key(self.legacy_secret,
                                                                       _LEGACY_FIELDS_INFO)
        return dict(self.data_keys).get(key_id)

    @classmethod
    def parse(cls, data_keys: str, lookup_key: str, *, legacy_secret: str | None
              ) -> Keyring:
        """The keyring of ``SHEQU_DATA_KEYS="k2:<b64>,k1:<b64>"`` and ``SHEQU_LOOKUP_KEY``."""
        keys: list[tuple[str, bytes]] = []
        for entry in (e.strip() for e in data_keys.split(",")):
            key_id, sep, text = entry.partition(":")
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(
                    f"SHEQU_DATA_KEYS: entry {entry[:12]!r}… is not 'id:base64' (id: letters, "
                    "digits, - or _; e.g. k2:<base64>,k1:<base64>, the first encrypts)")
            keys.append((key_id, _decode_key(text, setting="SHEQU_DATA_KEYS", key_id=key_id)))
        lookup = _decode_key(lookup_key, setting="SHEQU_LOOKUP_KEY", key_id="lookup")
        return cls(tuple(keys), lookup, legacy_secret)

    @classmethod
    def development(cls, *, legacy_secret: str | None = None) -> Keyring:
        """Keys derived from the published development secret: development and tests only.

        ``legacy_secret`` is the configured session secret, so that values an older
        release wrote under it still read.
        """
        from shequ.settings import DEVELOPMENT_SECRET

        return cls(((DEVELOPMENT_KEY_ID, derive_key(DEVELOPMENT_SECRET, _LEGACY_FIELDS_INFO)),),
                   derive_key(DEVELOPMENT_SECRET, _LEGACY_LOOKUP_INFO),
                   legacy_secret or DEVELOPMENT_SECRET)

    def encrypt(self, field: str, value: str) -> bytes:
        """The stored form of ``value`` for column ``field``, under the current key."""
        key_id, key = self.data_keys[0]
        nonce = os.urandom(NONCE_BYTES)
        head = bytes([FORMAT_VERSION, len(key_id)]) + key_id.encode()
        return head + nonce + AESGCM(key).encrypt(nonce, value.encode(), field.encode())

    def decrypt(self, field: str, blob: bytes) -> str:
        """The clear value of a stored blob, whichever key of the ring wrote it."""
        key_id = key_id_of(blob, self)
        key = self.key(key_id)
        body = blob if key_id == LEGACY_KEY_ID else blob[2 + blob[1]:]
        if key is not None:
            try:
                return AESGCM(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:],
                                           field.encode()).decode()
            except InvalidTag:
                pass
        claimed = _claimed_key_id(blob) or key_id
        raise ConfigurationError(
            f"a stored {field} (key id {claimed!r}) cannot be decrypted: the keyring lacks "
            "the key it was written with; put that key back in SHEQU_DATA_KEYS (after the "
            "current one) and run `shequ db reencrypt`")

    def lookup_hash(self, value: str) -> str:
        """HMAC-SHA256 hex of ``value`` under the look-up key: equal inputs match."""
        return hmac.new(self.lookup_key, value.encode(), hashlib.sha256).hexdigest()


def _claimed_key_id(blob: bytes) -> str | None:
    """The key id a blob of the current format names, whether or not the ring has it."""
    if len(blob) > 2 + NONCE_BYTES and blob[0] == FORMAT_VERSION:
        text = blob[2:2 + blob[1]].decode("ascii", errors="replace")
        return text if _KEY_ID.fullmatch(text) else None
    return None


def key_id_of(blob: bytes, keyring: Keyring) -> str:
    """The id of the key a stored value was written with (``legacy``: previous release)."""
    if len(blob) > 2 and blob[0] == FORMAT_VERSION and len(blob) > 2 + blob[1] + NONCE_BYTES:
        key_id = blob[2:2 + blob[1]].decode("ascii", errors="replace")
        # A legacy nonce starts with 0x01 once in 256; its "key id" is then not in the ring.
        if keyring.key(key_id) is not None and key_id != LEGACY_KEY_ID:
            return key_id
    return LEGACY_KEY_ID


def attach_keyring(engine: Engine, keyring: Keyring) -> Engine:
    """Make ``keyring`` the one the encrypted columns of ``engine``'s database use."""
    engine.dialect.shequ_keyring = keyring  # type: ignore[attr-defined]
    return engine


def keyring_of(bind: Session | Engine | Connection | Dialect) -> Keyring:
    """The keyring attached to the engine of a session, connection or engine.

    An engine opened without settings (a test's, a tool's) gets the development keyring;
    ``Context.open`` always attaches the configured one (production refuses to start
    without real keys, so it never falls back).
    """
    if isinstance(bind, Session):
        bind = bind.get_bind()
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    found = getattr(dialect, "shequ_keyring", None)
    return found if isinstance(found, Keyring) else Keyring.development()


class EncryptedText(TypeDecorator[str]):
    """A text column stored as AES-GCM ciphertext; ``field`` is its associated data.

    Equality in SQL never matches (each value has a fresh nonce): look values up by a
    keyed hash, or compare in Python.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """Encrypt on the way in."""
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)  # already stored form (re-encryption copies work on it)
        return keyring_of(dialect).encrypt(self.field, str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """Decrypt on the way out."""
        return None if value is None else keyring_of(dialect).decrypt(self.field, bytes(value))


class EncryptedDate(TypeDecorator[dt.date]):
    """A date column stored as the ciphertext of its ISO form."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """Encrypt the ISO date on the way in."""
        if value is None:
            return None
        return keyring_of(dialect).encrypt(self.field, value.isoformat())

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.date | None:
        """Decrypt and parse on the way out."""
        if value is None:
            return None
        return dt.date.fromisoformat(keyring_of(dialect).decrypt(self.field, bytes(value)))


def mask_identity_number(value: str) -> str:
    """First 4 and last 4 characters shown, the rest starred: ``1101**********123X``."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """First 3 and last 4 digits shown: ``138****5678``."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """A name as shown to those who may not see it whole: first character, then stars.

    ``张三`` → ``张*``, ``欧阳明月`` → ``欧***``; a Latin name keeps its first letter.
    """
    text = value.strip()
    return text[:1] + "*" * max(len(text) - 1, 1) if text else ""


def mask_email(value: str) -> str:
    """First character of the local part and the domain: ``z***@example.cn``."""
    local, sep, domain = value.partition("@")
    return (local[:1] + "***" + sep + domain) if sep else mask_name(value)
