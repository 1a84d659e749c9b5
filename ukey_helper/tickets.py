"""Checking helper tickets (DESIGN §7): short-lived, single-use statements signed by the backend (Ed25519).

The wire format, the operation names and the lifetime limit are `helper_protocol.tickets`; the backend signs with
its `encode_ticket`. `TicketVerifier` refuses anything not signed by a configured key, expired, for another
operation, or seen before.
"""

from __future__ import annotations

import threading
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from helper_protocol.tickets import (
    MAX_TICKET_LIFETIME,
    OPERATIONS,
    Ticket,
    TicketFormatError,
    decode_payload,
    split_ticket,
)
from ukey_helper.errors import HelperError


class TicketVerifier:
    """Checks tickets against the configured public keys and remembers used ones until they expire."""

    def __init__(self, public_keys: list[Ed25519PublicKey], clock=time.time):
        self.public_keys = public_keys
        self.clock = clock
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def verify(self, ticket: object, op: str) -> Ticket:
        """The ticket's content, or HelperError ticket_invalid / ticket_expired. Does not consume it."""
        try:
            signed, signature = split_ticket(ticket)
        except TicketFormatError:
            raise HelperError("ticket_invalid") from None
        if not any(self._signed_by(key, signature, signed) for key in self.public_keys):
            raise HelperError("ticket_invalid")
        try:
            parsed = decode_payload(signed)
        except TicketFormatError:
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
