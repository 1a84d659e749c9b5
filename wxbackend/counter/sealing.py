"""The backend's half of sealing a counter PIN (helper_protocol.tickets.SEAL_INFO): a fresh X25519 key per attempt,
whose public half goes into the install ticket and whose private half alone opens what the helper sends back."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from helper_protocol.tickets import SEAL_INFO, b64url, unb64url

MAX_SEALED_CHARS = 200


class SealBroken(ValueError):
    """Not a PIN sealed to this key for this ticket."""


def new_seal_key() -> tuple[bytes, str]:
    """(the private key's raw 32 bytes, the public key as base64url for the ticket's `pk`)."""
    key = X25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, b64url(public)


def open_sealed(sealed: object, private_raw: bytes, ticket_id: str) -> str:
    """The PIN the helper sealed for the ticket `ticket_id`. Raises SealBroken."""
    if not isinstance(sealed, str) or len(sealed) > MAX_SEALED_CHARS:
        raise SealBroken("not a sealed PIN")
    try:
        data = unb64url(sealed)
    except ValueError:
        raise SealBroken("not base64url") from None
    if len(data) < 32 + 12 + 16:
        raise SealBroken("too short")
    ephemeral, nonce, ciphertext = data[:32], data[32:44], data[44:]
    shared = X25519PrivateKey.from_private_bytes(private_raw).exchange(X25519PublicKey.from_public_bytes(ephemeral))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO + ticket_id.encode()).derive(shared)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, ticket_id.encode()).decode()
    except (InvalidTag, UnicodeDecodeError):
        raise SealBroken("does not open") from None
