"""Helper tickets: short-lived, single-use statements signed by the backend (Ed25519).

Wire form: `base64url(payload JSON) "." base64url(signature over the first part)`. The payload names the
operation, a challenge to sign, the certificate serial and token serial it is for, optionally the order and the
SHA-256 of the certificate to install, and its expiry. The backend signs with `encode_ticket`; the helper checks
with `TicketVerifier`, which refuses anything not signed by a configured key, expired, for another operation, or
seen before.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ukey_helper.errors import HelperError

MAX_TICKET_LIFETIME = 300
OPERATIONS = {"sign", "keygen", "install", "cleanup"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Ticket:
    jti: str
    op: str
    challenge: bytes
    cert_serial: str
    token_serial: str
    exp: int
    iat: int
    order_id: int | None = None
    cert_hash: str | None = None


def encode_ticket(payload: dict, key: Ed25519PrivateKey) -> str:
    body = b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return body + "." + b64url(key.sign(body.encode()))


class TicketVerifier:
    """Checks tickets against the configured public keys and remembers used ones until they expire."""

    def __init__(self, public_keys: list[Ed25519PublicKey], clock=time.time):
        self.public_keys = public_keys
        self.clock = clock
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def verify(self, ticket: object, op: str) -> Ticket:
        """The ticket's content, or HelperError ticket_invalid / ticket_expired. Does not consume it."""
        if not isinstance(ticket, str) or ticket.count(".") != 1 or len(ticket) > 4096:
            raise HelperError("ticket_invalid")
        body, signature = ticket.split(".")
        try:
            raw_signature = unb64url(signature)
        except ValueError:
            raise HelperError("ticket_invalid") from None
        if not any(self._signed_by(key, raw_signature, body.encode()) for key in self.public_keys):
            raise HelperError("ticket_invalid")
        try:
            payload = json.loads(unb64url(body))
            parsed = Ticket(jti=str(payload["jti"]), op=str(payload["op"]), challenge=unb64url(payload["ch"]),
                            cert_serial=str(payload.get("cs") or ""), token_serial=str(payload["ts"]),
                            exp=int(payload["exp"]), iat=int(payload["iat"]), order_id=payload.get("ord"),
                            cert_hash=payload.get("ch_hash"))
        except (ValueError, KeyError, TypeError):
            raise HelperError("ticket_invalid") from None
        if parsed.op != op or parsed.op not in OPERATIONS or parsed.exp - parsed.iat > MAX_TICKET_LIFETIME:
            raise HelperError("ticket_invalid")
        if parsed.exp <= self.clock():
            raise HelperError("ticket_expired")
        with self._lock:
            if parsed.jti in self._used:
                raise HelperError("ticket_invalid", "操作凭证已使用，请刷新页面后重试")
        return parsed

    def consume(self, ticket: Ticket) -> None:
        """Mark the ticket used; a second use is refused. Raises ticket_invalid if it was used meanwhile."""
        now = self.clock()
        with self._lock:
            for jti, exp in list(self._used.items()):
                if exp <= now:
                    del self._used[jti]
            if ticket.jti in self._used:
                raise HelperError("ticket_invalid", "操作凭证已使用，请刷新页面后重试")
            self._used[ticket.jti] = ticket.exp

    @staticmethod
    def _signed_by(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
        try:
            key.verify(signature, data)
            return True
        except InvalidSignature:
            return False
