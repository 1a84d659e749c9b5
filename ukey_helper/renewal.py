"""Renewal on the key (DESIGN §5): a new key pair and its CSR, the issued certificate written beside it, the old
certificate and key removed after the backend confirmed — with one PIN entry for the whole flow.

`HeldSession` keeps the flow's logged-in session (never the PIN) for at most the configured time from login.
The other functions work on a session they are given and raise `HelperError`; the routes in `app.py` decide
where the session comes from.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from itertools import pairwise

import pkcs11
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, CertificateType, ObjectClass

from helper_protocol.tickets import Ticket
from ukey_helper.errors import HelperError
from ukey_helper.token import (
    TokenLayer,
    build_csr,
    generate_key_pair,
    key_id,
    objects_with_id,
    rsa_public_key,
    sign,
    write_certificate,
)

log = logging.getLogger("ukey_helper")

MAX_CHAIN_LENGTH = 5
MAX_PEM_LENGTH = 16 * 1024


@dataclass
class _Held:
    token_serial: str
    order_id: int
    session: pkcs11.Session
    expires_at: float


class HeldSession:
    """The logged-in session of one renewal flow (token serial + order), kept for at most `hold_seconds` from
    login so that keygen, install and cleanup need one PIN entry. Only the session is kept, never the PIN.

    Closed after cleanup, when its time is up (by a timer, or lazily on the next use), on any token error, and
    when another flow logs in. While a session is held the token layer does not reinitialise the modules.
    Every method except the timer's runs with the token lock held; the timer takes that lock itself, so it
    never closes a session an operation is using.
    """

    def __init__(self, tokens: TokenLayer, hold_seconds: float, clock=time.monotonic):
        self.tokens = tokens
        self.hold_seconds = hold_seconds
        self.clock = clock
        self._held: _Held | None = None
        self._timer: threading.Timer | None = None

    def hold(self, token_serial: str, order_id: int, session: pkcs11.Session, logged_in_at: float) -> None:
        """Keep `session` for this flow until `logged_in_at + hold_seconds`; an earlier held session is closed."""
        if self._held is not None and self._held.session is not session:
            self.release("replaced")
        elif self._timer is not None:
            self._timer.cancel()
        remaining = logged_in_at + self.hold_seconds - self.clock()
        held = _Held(token_serial, order_id, session, logged_in_at + self.hold_seconds)
        self._held = held
        self.tokens.session_held = True
        if remaining <= 0:
            self.release("expired")
            return
        self._timer = threading.Timer(remaining, self._expire, args=(held,))
        self._timer.daemon = True
        self._timer.start()

    def take(self, token_serial: str, order_id: int | None) -> pkcs11.Session | None:
        """The held session if it belongs to this token and order and is within its time, else None (a session
        past its time is closed here)."""
        held = self._held
        if held is None:
            return None
        if self.clock() >= held.expires_at:
            self.release("expired")
            return None
        if held.token_serial != token_serial or order_id is None or held.order_id != order_id:
            return None
        return held.session

    def release(self, reason: str = "released") -> None:
        """Log out and close the held session, if any."""
        held, self._held = self._held, None
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.tokens.session_held = False
        if held is None:
            return
        try:
            held.session.close()
        except pkcs11.exceptions.PKCS11Error:
            pass  # the key was pulled out or the module reset: the session is gone anyway
        log.info("renewal session for order %s closed (%s)", held.order_id, reason)

    def _expire(self, held: _Held) -> None:
        if not self.tokens.lock.acquire(timeout=30):
            return  # an operation is running long; the next use closes it lazily
        try:
            if self._held is held:
                self.release("expired")
        finally:
            self.tokens.lock.release()


def check_renewal_ticket(ticket: Ticket, needs_cert_hash: bool) -> Ticket:
    """Renewal tickets name their order (the held session is per order) and a certificate serial; install and
    cleanup tickets also the new certificate's hash. Raises ticket_invalid."""
    if not isinstance(ticket.order_id, int) or isinstance(ticket.order_id, bool) or not ticket.cert_serial:
        raise HelperError("ticket_invalid")
    if needs_cert_hash and (not isinstance(ticket.cert_hash, str) or len(ticket.cert_hash) != 64):
        raise HelperError("ticket_invalid")
    return ticket


def certificate_hash(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER: what an install or cleanup ticket names (`ch_hash`)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def parse_certificate(pem: object, what: str = "证书") -> x509.Certificate:
    if not isinstance(pem, str) or len(pem) > MAX_PEM_LENGTH:
        raise HelperError("bad_request", f"{what}格式无效")
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise HelperError("bad_request", f"{what}格式无效") from None


def parse_chain(chain: object) -> list[x509.Certificate]:
    """The CA chain as sent: issuing CA first, root last."""
    if not isinstance(chain, list) or not 1 <= len(chain) <= MAX_CHAIN_LENGTH:
        raise HelperError("chain_invalid", "证书链缺失或格式无效")
    return [parse_certificate(pem, "证书链") for pem in chain]


def check_issued_certificate(cert: x509.Certificate, ticket: Ticket) -> None:
    """Only the certificate the backend issued for this ticket may be written. Raises ticket_invalid."""
    if certificate_hash(cert) != ticket.cert_hash.lower() or (
            ticket.cert_serial and format(cert.serial_number, "X") != ticket.cert_serial.upper()):
        raise HelperError("ticket_invalid", "证书与操作凭证不符，未写入介质")


def verify_chain(cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
    """The certificate is signed by chain[0], each CA by the next, the last one by itself. Raises chain_invalid."""
    links = [cert, *chain, chain[-1]]
    for child, parent in pairwise(links):
        try:
            constraints = parent.extensions.get_extension_for_class(x509.BasicConstraints).value
            child.verify_directly_issued_by(parent)
        except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature):
            raise HelperError("chain_invalid") from None
        if not constraints.ca:
            raise HelperError("chain_invalid")


def common_name(cert: x509.Certificate, default: str) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else default


def single_private_key(session: pkcs11.Session, cka_id: bytes, message: str):
    keys = objects_with_id(session, ObjectClass.PRIVATE_KEY, cka_id)
    if len(keys) != 1:
        raise HelperError("key_mismatch", message)
    return keys[0]


def generate_renewal_key(session: pkcs11.Session, old_certificate: dict, challenge: bytes, order_id: int,
                         token_serial: str) -> dict:
    """Sign the keygen challenge with the old certificate's key, then make the new key pair (sensitive, never
    extractable, CKA_ID = SHA-1 of the public key) and a CSR signed by it. Nothing is left behind on failure
    after the key pair was made. Raises key_mismatch when the old private key is not on the token."""
    old_key = single_private_key(session, bytes.fromhex(old_certificate["cka_id"]), "介质中没有原证书的私钥，无法续期")
    old_signature = sign(old_key, challenge)
    old_cert = x509.load_pem_x509_certificate(old_certificate["pem"].encode())
    cka_id, public, private = generate_key_pair(session, label=f"renew-{order_id}")
    try:
        csr = build_csr(rsa_public_key(public), private, common_name=common_name(old_cert, token_serial))
    except BaseException:
        for obj in (private, public):
            try:
                obj.destroy()
            except pkcs11.exceptions.PKCS11Error:
                log.warning("could not remove a half-made key pair %s", cka_id.hex())
        raise
    log.info("new key pair %s made for order %s", cka_id.hex(), order_id)
    return {"csr": csr, "old_signature": base64.b64encode(old_signature).decode(), "new_key_id": cka_id.hex(),
            "certificate_serial": old_certificate["serial"], "medium_number": token_serial}


def install_certificate(session: pkcs11.Session, cert: x509.Certificate, challenge: bytes, label: str) -> bytes:
    """Write the certificate beside its private key (same CKA_ID) unless the identical object is already there,
    and return the install challenge signed by that key. The signature is checked against the certificate first,
    so a certificate is never written beside a key that does not match. Raises key_mismatch / write_failed."""
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise HelperError("key_mismatch", "新证书的密钥类型不受支持")
    cka_id = key_id(public_key)
    private = single_private_key(session, cka_id, "介质中没有与新证书匹配的私钥（介质可能已重新初始化，或插入的不是"
                                                  "办理续期的介质），证书未写入")
    signature = sign(private, challenge)
    try:
        public_key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise HelperError("key_mismatch", "介质中的私钥与新证书不匹配，证书未写入") from None
    der = cert.public_bytes(serialization.Encoding.DER)
    if any(bytes(obj[Attribute.VALUE]) == der for obj in objects_with_id(session, ObjectClass.CERTIFICATE, cka_id)):
        log.info("certificate %X already on the token", cert.serial_number)
        return signature
    try:
        write_certificate(session, cert, cka_id, label=label)
    except pkcs11.exceptions.PKCS11Error:
        log.exception("writing certificate %X failed", cert.serial_number)
        raise HelperError("write_failed") from None
    log.info("certificate %X written beside key %s", cert.serial_number, cka_id.hex())
    return signature


@dataclass
class _CertificateObject:
    obj: object
    der: bytes
    cka_id: bytes
    serial: str


def _certificate_objects(session: pkcs11.Session) -> list[_CertificateObject]:
    found = []
    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509}):
        der = bytes(obj[Attribute.VALUE])
        try:
            serial = format(x509.load_der_x509_certificate(der).serial_number, "X")
        except ValueError:
            continue
        found.append(_CertificateObject(obj, der, bytes(obj[Attribute.ID]), serial))
    return found


def remove_old_certificate(session: pkcs11.Session, old_serial: str, new_hash: str) -> dict | None:
    """Delete the old certificate and its key pair, only when the new certificate (by hash) is on the token with
    its private key. The keys go first and the certificate last, so that an interrupted cleanup can be run again
    (the certificate still names the keys). Keys another certificate still uses are kept. Returns what was
    removed, or None when the old certificate is already gone. Raises new_certificate_missing / key_mismatch /
    write_failed."""
    certificates = _certificate_objects(session)
    new = next((c for c in certificates if hashlib.sha256(c.der).hexdigest() == new_hash.lower()), None)
    if new is None:
        raise HelperError("new_certificate_missing")
    if not objects_with_id(session, ObjectClass.PRIVATE_KEY, new.cka_id):
        raise HelperError("new_certificate_missing", "介质中没有新证书的私钥，原证书已保留")
    old = [c for c in certificates if c.serial == old_serial.upper()]
    if not old:
        return None
    old_id = old[0].cka_id
    if any(c.cka_id == new.cka_id or c.der == new.der for c in old):
        raise HelperError("key_mismatch", "原证书与新证书使用同一密钥，未删除任何内容")
    others_using_key = [c for c in certificates if c.cka_id == old_id and c.serial != old[0].serial]
    try:
        if old_id and not others_using_key:
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for obj in objects_with_id(session, object_class, old_id):
                    obj.destroy()
        for cert in old:
            cert.obj.destroy()
    except pkcs11.exceptions.PKCS11Error:
        log.exception("removing the old certificate %s failed", old_serial)
        raise HelperError("write_failed", "删除原证书失败，请勿拔出介质后重试") from None
    log.info("old certificate %s and key %s removed", old_serial, old_id.hex())
    return {"certificate": old[0].serial, "key_id": old_id.hex()}
