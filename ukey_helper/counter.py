"""Personalising a blank key at the CA's counter (issue 14, 介质遗失补办): the staff console drives the same helper on
the staff PC with counter tickets (`aud` = counter, checked per route).

keygen: on a blank key (logged in with its initial PIN, no certificate, no key) a new key pair and its CSR.
install: the issued certificate written beside that key, then a random user PIN set (C_SetPIN) and sealed to the
install ticket's `pk` (helper_protocol.tickets.SEAL_INFO), so that the page relaying it, and the staff member
watching the page, never see it. The PIN is never returned in clear, logged or stored here.
"""

from __future__ import annotations

import logging
import os
import secrets

import pkcs11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pkcs11 import ObjectClass

from helper_protocol.tickets import SEAL_INFO, Ticket, b64url, unb64url
from ukey_helper.errors import HelperError
from ukey_helper.token import build_csr, generate_key_pair, rsa_public_key

log = logging.getLogger("ukey_helper")

PIN_DIGITS = 8
BLANK_CLASSES = (ObjectClass.CERTIFICATE, ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.DATA)


def check_counter_ticket(ticket: Ticket, install: bool) -> Ticket:
    """Counter tickets name their order and token; install tickets also the certificate's hash and serial and the
    key to seal the PIN to. Raises ticket_invalid."""
    if not isinstance(ticket.order_id, int) or isinstance(ticket.order_id, bool) or not ticket.token_serial:
        raise HelperError("ticket_invalid")
    if install:
        if not isinstance(ticket.cert_hash, str) or len(ticket.cert_hash) != 64 or not ticket.cert_serial:
            raise HelperError("ticket_invalid")
        try:
            seal_key = unb64url(ticket.seal_key) if isinstance(ticket.seal_key, str) else b""
        except ValueError:
            seal_key = b""
        if len(seal_key) != 32:
            raise HelperError("ticket_invalid")
    return ticket


def objects_of(session: pkcs11.Session, object_class: ObjectClass) -> list:
    return list(session.get_objects({pkcs11.Attribute.CLASS: object_class}))


def require_blank(session: pkcs11.Session) -> None:
    """A logged-in session of a key holding no certificate, key or data object. Raises token_not_blank."""
    if any(objects_of(session, object_class) for object_class in BLANK_CLASSES):
        raise HelperError("token_not_blank")


def generate_counter_key(session: pkcs11.Session, order_id: int, token_serial: str) -> dict:
    """A new key pair on the blank key (sensitive, never extractable, CKA_ID = SHA-1 of the public key) and a CSR
    signed by it; the half-made pair is removed on failure."""
    require_blank(session)
    cka_id, public, private = generate_key_pair(session, label=f"counter-{order_id}")
    try:
        csr = build_csr(rsa_public_key(public), private, common_name=token_serial)
    except BaseException:
        for obj in (private, public):
            try:
                obj.destroy()
            except pkcs11.exceptions.PKCS11Error:
                log.warning("could not remove a half-made key pair %s", cka_id.hex())
        raise
    log.info("counter key pair %s made for order %s", cka_id.hex(), order_id)
    return {"csr": csr, "new_key_id": cka_id.hex(), "medium_number": token_serial}


def require_only_key(session: pkcs11.Session, cka_id: bytes) -> None:
    """At install the key holds the one key pair made by keygen (and at most its own certificate)."""
    for object_class in (ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.CERTIFICATE):
        if any(bytes(obj[pkcs11.Attribute.ID]) != cka_id for obj in objects_of(session, object_class)):
            raise HelperError("token_not_blank", "介质中还有其他证书或密钥，不是本次制证的空白介质")


def new_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))


def seal_pin(pin: str, seal_key_b64: str, ticket_id: str) -> str:
    """The PIN sealed to the ticket's X25519 key (helper_protocol.tickets.SEAL_INFO)."""
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(unb64url(seal_key_b64)))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO + ticket_id.encode()).derive(shared)
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, pin.encode(), ticket_id.encode())
    public = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url(public + nonce + sealed)


def set_random_pin(session: pkcs11.Session, current_pin: str, ticket: Ticket) -> str:
    """Change the user PIN from the blank key's initial one to a random one; returns it sealed to the ticket's key.
    Raises write_failed when the key refuses the change."""
    pin = new_pin()
    try:
        sealed = seal_pin(pin, ticket.seal_key, ticket.jti)  # first: a key that cannot seal leaves the PIN as it was
    except ValueError:
        raise HelperError("ticket_invalid") from None
    try:
        session.set_pin(current_pin, pin)
    except pkcs11.exceptions.PKCS11Error:
        log.error("setting the user PIN for order %s failed", ticket.order_id)
        raise HelperError("write_failed", "设置介质PIN码失败，请重新插拔介质后重试") from None
    finally:
        del pin
    log.info("user PIN set for order %s (sealed to the backend)", ticket.order_id)
    return sealed
