"""Issuing helper tickets (Ed25519) and remembering them until the backend gets the answer back.

The ticket goes to the helper through the PC page; the page later returns the ticket id with the helper's
signature. The backend trusts the signature made by the key, never a claim that the PIN was fine.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from helper_protocol.tickets import AUDIENCE_CUSTOMER, MAX_TICKET_LIFETIME, b64url, encode_ticket
from wxbackend.core.errors import DomainError
from wxbackend.core.redis import get_redis
from wxbackend.core.secrets import configured_or_development_secret

TICKET_TTL = 300


class TicketUnknown(DomainError):
    code, message, status = "ticket_invalid", "操作凭证无效或已过期，请刷新页面后重试", 400


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    ticket_id: str
    challenge: bytes
    expires_at: int


def signing_key() -> Ed25519PrivateKey:
    """The ticket key from TICKET_SIGNING_KEY (base64 32-byte seed); in development one kept in var/."""
    cached = current_app.extensions.get("ticket_key")
    if cached:
        return cached
    key = Ed25519PrivateKey.from_private_bytes(
        configured_or_development_secret("TICKET_SIGNING_KEY", "ticket_signing.key"))
    current_app.extensions["ticket_key"] = key
    return key


def public_key_b64() -> str:
    raw = signing_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def issue_ticket(op: str, *, token_serial: str, cert_serial: str = "", order_id: int | None = None,
                 cert_hash: str | None = None, context: dict | None = None, audience: str = AUDIENCE_CUSTOMER,
                 seal_key: str | None = None) -> IssuedTicket:
    """Sign a ticket for `op` and remember it (with `context`) for TICKET_TTL seconds. `audience` says whose
    pages it is for (the helper refuses it on the other's routes); `seal_key` (base64url X25519 public key) is
    what the helper seals a PIN it sets to."""
    now = int(time.time())
    ticket_id = secrets.token_urlsafe(16)
    challenge = secrets.token_bytes(32)
    payload = {"v": 1, "jti": ticket_id, "op": op, "ch": b64url(challenge), "cs": cert_serial, "ts": token_serial,
               "iat": now, "exp": now + min(TICKET_TTL, MAX_TICKET_LIFETIME), "aud": audience}
    if order_id is not None:
        payload["ord"] = order_id
    if cert_hash:
        payload["ch_hash"] = cert_hash
    if seal_key:
        payload["pk"] = seal_key
    ticket = encode_ticket(payload, signing_key())
    record = {"op": op, "audience": audience, "challenge": b64url(challenge), "token_serial": token_serial,
              "cert_serial": cert_serial, "order_id": order_id, "context": context or {}}
    get_redis().set(f"ticket:{ticket_id}", json.dumps(record), ex=TICKET_TTL)
    return IssuedTicket(ticket=ticket, ticket_id=ticket_id, challenge=challenge, expires_at=payload["exp"])


def take_ticket(ticket_id: object, op: str, audience: str = AUDIENCE_CUSTOMER) -> dict:
    """The remembered ticket, removed so it is answered once. Raises TicketUnknown (also for another audience's
    ticket)."""
    if not isinstance(ticket_id, str) or not 10 <= len(ticket_id) <= 64:
        raise TicketUnknown()
    raw = get_redis().getdel(f"ticket:{ticket_id}")
    if raw is None:
        raise TicketUnknown()
    record = json.loads(raw)
    if record["op"] != op or record.get("audience", AUDIENCE_CUSTOMER) != audience:
        raise TicketUnknown()
    return record
