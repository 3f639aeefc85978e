"""Personal numbers at rest and in responses: AES-GCM encryption, keyed hashes, masking.

The 256-bit key is derived from ``settings.secret_key`` with HKDF-SHA256 (a distinct
``info`` per use), so rotating the secret rotates the key.  Each value gets a fresh 96-bit
nonce; the field name is bound as associated data, so a phone ciphertext cannot be
replayed into the identity-number column.  Stored form: ``nonce (12 bytes) || ciphertext``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shequ.errors import ConfigurationError

NONCE_BYTES = 12


@lru_cache(maxsize=8)
def _derive(secret_key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"shequ", info=info).derive(
        secret_key.encode()
    )


def encrypt_field(secret_key: str, field: str, value: str) -> bytes:
    """AES-GCM ciphertext of ``value`` for column ``field``."""
    nonce = os.urandom(NONCE_BYTES)
    key = _derive(secret_key, b"shequ personal fields v1")
    return nonce + AESGCM(key).encrypt(nonce, value.encode(), field.encode())


def decrypt_field(secret_key: str, field: str, blob: bytes) -> str:
    """The clear value of a blob made by :func:`encrypt_field`."""
    key = _derive(secret_key, b"shequ personal fields v1")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], field.encode()
                                   ).decode()
    except InvalidTag:
        raise ConfigurationError(
            f"a stored {field} cannot be decrypted: SHEQU_SECRET_KEY differs from the key it "
            "was written with; restore the original secret"
        ) from None


def keyed_hash(secret_key: str, value: str) -> str:
    """HMAC-SHA256 hex of ``value``: equal inputs match, the value cannot be read back."""
    key = _derive(secret_key, b"shequ lookup hash v1")
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


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
