"""Personal data at rest (DESIGN §12): AES-GCM encryption, a keyed hash for lookups, masks for display.

The key is DATA_ENCRYPTION_KEY (base64, 32 bytes); development keeps one in var/. Ciphertexts carry a version
byte so the key can be rotated later.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from wxbackend.core.secrets import configured_or_development_secret

VERSION = b"\x01"


def _keys() -> tuple[bytes, bytes]:
    cached = current_app.extensions.get("personal_data_keys")
    if cached is None:
        master = configured_or_development_secret("DATA_ENCRYPTION_KEY", "data_encryption.key")
        encryption = hmac.new(master, b"cagj personal data encryption", hashlib.sha256).digest()
        lookup = hmac.new(master, b"cagj personal data lookup", hashlib.sha256).digest()
        cached = current_app.extensions["personal_data_keys"] = (encryption, lookup)
    return cached


def encrypt(plaintext: str, purpose: str) -> bytes:
    """AES-GCM with a random nonce; `purpose` (e.g. "id_number") is bound as associated data."""
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(_keys()[0]).encrypt(nonce, plaintext.encode(), purpose.encode())


def decrypt(ciphertext: bytes, purpose: str) -> str:
    if ciphertext[:1] != VERSION:
        raise ValueError("unknown personal-data ciphertext version")
    return AESGCM(_keys()[0]).decrypt(ciphertext[1:13], ciphertext[13:], purpose.encode()).decode()


def lookup_hash(value: str, purpose: str) -> str:
    """A keyed hash for finding a row by an encrypted value without decrypting every row."""
    return hmac.new(_keys()[1], f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def mask_id_number(value: str) -> str:
    """110101199003071234 → 110***********1234."""
    return value[:3] + "*" * (len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_mobile(value: str) -> str:
    """13812345678 → 138****5678."""
    return value[:3] + "****" + value[-4:] if len(value) == 11 else "*" * len(value)


def mask_name(value: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the first character kept."""
    return value[:1] + "*" * (len(value) - 1) if len(value) > 1 else "*"


def mask_organisation(value: str) -> str:
    """广州市某某科技有限公司 → 广州******公司: the first two and the last two characters kept."""
    if len(value) <= 4:
        return value[:1] + "*" * (len(value) - 1)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def mask_bank_account(value: str) -> str:
    """6222021234567890123 → 6222***********0123 (spaces ignored)."""
    value = "".join(value.split())
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)
