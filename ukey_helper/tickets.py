"""Checking helper tickets (DESIGN §7): short-lived, single-use statements signed by the backend (Ed25519).

The wire format, the operation names and the lifetime limit are `helper_protocol.tickets`; the backend signs with
its `encode_ticket`. `TicketVerifier` refuses anything not signed by a configured key, expired, for another
operation or another audience (a counter ticket on a customer route or the reverse), seen before (used ids are
kept in the helper's store until they expire, across restarts), or issued in the future beyond a small clock skew.
"""

from __future__ import annotations

import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from helper_protocol.tickets import (
    AUDIENCE_CUSTOMER,
    MAX_TICKET_LIFETIME,
    OPERATIONS,
    Ticket,
    TicketFormatError,
    decode_payload,
    split_ticket,
)
from ukey_helper.errors import HelperError
from ukey_helper.store import HelperStore

MAX_CLOCK_SKEW = 30  # seconds a ticket's iat may lie ahead of this PC's clock


class TicketVerifier:
    """Checks tickets against the configured public keys and remembers used ones until they expire."""

    def __init__(self, public_keys: list[Ed25519PublicKey], clock=time.time, store: HelperStore | None = None):
        self.public_keys = public_keys
        self.clock = clock
        self.store = store or HelperStore()

    def verify(self, ticket: object, op: str, audience: str = AUDIENCE_CUSTOMER) -> Ticket:
        """The ticket's content, or HelperError ticket_invalid / ticket_expired. Does not consume it. `audience`
        is the route's: customer routes take customer tickets only, counter routes counter tickets only."""
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
        if parsed.aud != audience:
            raise HelperError("ticket_invalid")
        now = self.clock()
        if parsed.iat > now + MAX_CLOCK_SKEW:
            raise HelperError("ticket_invalid", "操作凭证的签发时间晚于本机时间，请核对电脑的日期和时间后刷新页面重试")
        if parsed.exp <= now:
            raise HelperError("ticket_expired")
        if self.store.ticket_used(parsed.jti):
            raise HelperError("ticket_invalid", "操作凭证已使用，请刷新页面后重试")
        return parsed

    def consume(self, ticket: Ticket) -> None:
        """Mark the ticket used; a second use is refused. Raises ticket_invalid if it was used meanwhile."""
        if not self.store.use_ticket(ticket.jti, ticket.exp, self.clock()):
            raise HelperError("ticket_invalid", "操作凭证已使用，请刷新页面后重试")

    @staticmethod
    def _signed_by(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
        try:
            key.verify(signature, data)
            return True
        except InvalidSignature:
            return False
