"""The helper ticket's wire format (DESIGN §7): `base64url(payload JSON) "." base64url(signature over the first
part)`, the signature Ed25519 by the backend.

Payload keys: `v` (format version, 1), `jti` (ticket id, single use), `op` (one of OPERATIONS), `ch` (base64url
challenge to sign), `cs` (certificate serial, hex), `ts` (token serial), `iat` and `exp` (Unix seconds, at most
MAX_TICKET_LIFETIME apart), optionally `ord` (order id) and `ch_hash` (SHA-256 hex of the certificate to install),
`aud` (who the ticket is for: AUDIENCE_CUSTOMER, the default when absent, or AUDIENCE_COUNTER, the CA's counter
personalising a new key; the helper checks it per route, so neither kind of ticket works on the other's routes) and
`pk` (counter install: base64url X25519 public key the helper seals the PIN it sets to, see SEAL_INFO).

The backend signs with `encode_ticket`; the helper splits with `split_ticket`, checks the signature itself, then
reads the content with `decode_payload`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Protocol

MAX_TICKET_LIFETIME = 300  # seconds from iat to exp
MAX_TICKET_LENGTH = 4096  # characters of the wire form

SIGN = "sign"  # binding: sign the challenge with the certificate's key
KEYGEN = "keygen"  # renewal: sign with the old key, make the new key pair and its CSR
INSTALL = "install"  # renewal: write the issued certificate beside the new key
CLEANUP = "cleanup"  # renewal: remove the old certificate and key pair
COUNTER_KEYGEN = "counter_keygen"  # counter: a new key pair and its CSR on a blank key
COUNTER_INSTALL = "counter_install"  # counter: write the issued certificate, set a random PIN, seal it to `pk`
OPERATIONS = frozenset({SIGN, KEYGEN, INSTALL, CLEANUP, COUNTER_KEYGEN, COUNTER_INSTALL})

AUDIENCE_CUSTOMER = "customer"  # the customer's own pages (binding, renewal)
AUDIENCE_COUNTER = "counter"  # the staff console's 制证 page
AUDIENCES = frozenset({AUDIENCE_CUSTOMER, AUDIENCE_COUNTER})

# The PIN the helper sets at the counter travels back only sealed to the ticket's `pk`: an ephemeral X25519 key of
# the helper, ECDH with `pk`, HKDF-SHA256 (no salt, info = SEAL_INFO + the ticket id) → a 256-bit AES-GCM key;
# the wire form is base64url(ephemeral public key (32) || nonce (12) || ciphertext+tag), the associated data the
# ticket id. Only the backend, which holds the private half of `pk`, can open it; the page relaying it cannot.
SEAL_INFO = b"cagj counter pin v1 "


class TicketFormatError(ValueError):
    """Not a helper ticket in the wire format."""


class Signer(Protocol):
    """What `encode_ticket` needs of the signing key (an Ed25519PrivateKey from cryptography)."""

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class Ticket:
    """A ticket's content, as read from its payload."""

    jti: str
    op: str
    challenge: bytes
    cert_serial: str
    token_serial: str
    exp: int
    iat: int
    order_id: int | None = None
    cert_hash: str | None = None
    aud: str = AUDIENCE_CUSTOMER
    seal_key: str | None = None


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """The bytes of base64url text with or without padding; ValueError when it is not base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_ticket(payload: dict, key: Signer) -> str:
    """The wire form of `payload`, signed by `key` over the encoded payload part."""
    body = b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return body + "." + b64url(key.sign(body.encode()))


def split_ticket(ticket: object) -> tuple[bytes, bytes]:
    """(the signed part, the signature) of a ticket's wire form. Raises TicketFormatError."""
    if not isinstance(ticket, str) or ticket.count(".") != 1 or len(ticket) > MAX_TICKET_LENGTH:
        raise TicketFormatError("not a ticket")
    body, signature = ticket.split(".")
    try:
        return body.encode(), unb64url(signature)
    except ValueError:
        raise TicketFormatError("signature is not base64url") from None


def decode_payload(signed: bytes) -> Ticket:
    """The content of a ticket's signed part. Check the signature first. Raises TicketFormatError."""
    try:
        payload = json.loads(unb64url(signed.decode()))
        return Ticket(jti=str(payload["jti"]), op=str(payload["op"]), challenge=unb64url(payload["ch"]),
                      cert_serial=str(payload.get("cs") or ""), token_serial=str(payload["ts"]),
                      exp=int(payload["exp"]), iat=int(payload["iat"]), order_id=payload.get("ord"),
                      cert_hash=payload.get("ch_hash"), aud=str(payload.get("aud", AUDIENCE_CUSTOMER)),
                      seal_key=payload.get("pk"))
    except (ValueError, KeyError, TypeError):
        raise TicketFormatError("payload is not a ticket") from None
