"""Renewal on the real helper with a SoftHSM2 key (DESIGN §5): keygen → issue → install → cleanup with one PIN,
the held session and its time limit, and everything that must be refused without touching the old certificate."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass

from ukey_helper.app import HELPER
from ukey_helper.renewal import HeldSession
from ukey_helper.token import PresentToken

PIN = "12345678"
WRONG = "99999999"
ORDER = 4242


def der_hash(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def serial_of(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "X")


def verify(cert_or_key, signature_b64: str, data: bytes) -> None:
    key = cert_or_key.public_key() if isinstance(cert_or_key, x509.Certificate) else cert_or_key
    key.verify(base64.b64decode(signature_b64), data, padding.PKCS1v15(), hashes.SHA256())


def keygen_ticket(demo_key, order_id: int = ORDER, op: str = "keygen"):
    from wxbackend.tickets.service import issue_ticket

    return issue_ticket(op, token_serial=demo_key.serial, cert_serial=demo_key.certificate.serial, order_id=order_id)


def install_ticket(demo_key, cert: x509.Certificate, order_id: int = ORDER):
    from wxbackend.tickets.service import issue_ticket

    return issue_ticket("install", token_serial=demo_key.serial, cert_serial=serial_of(cert), order_id=order_id,
                        cert_hash=der_hash(cert))


def cleanup_ticket(demo_key, new_cert: x509.Certificate, order_id: int = ORDER):
    from wxbackend.tickets.service import issue_ticket

    return issue_ticket("cleanup", token_serial=demo_key.serial, cert_serial=demo_key.certificate.serial,
                        order_id=order_id, cert_hash=der_hash(new_cert))


def issue_renewed(csr_pem: str) -> x509.Certificate:
    """What the backend's issue step does: the subject decided by the backend, the CSR's public key."""
    from wxbackend.ca.service import CertSubject, issue_certificate
    from wxbackend.core.times import utcnow

    now = utcnow().replace(microsecond=0)
    subject = CertSubject(organisation="广州某某科技有限公司", common_name="广州某某科技有限公司",
                          locality="广州市", province="广东省")
    issued = issue_certificate(csr_pem, subject, now - timedelta(minutes=5), now + timedelta(days=365))
    return x509.load_pem_x509_certificate(issued.pem.encode())


def chain_pems() -> list[str]:
    from wxbackend.ca.service import get_authority

    return [c.public_bytes(serialization.Encoding.PEM).decode() for c in get_authority().chain]


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def keygen(helper, ticket: str, pin: str | None = PIN, **extra):
    body = {"ticket": ticket, **extra}
    if pin is not None:
        body["pin"] = pin
    return helper.request("POST", "/v1/keygen", json=body)


def install(helper, ticket: str, cert: x509.Certificate, chain: list[str] | None = None, **extra):
    return helper.request("POST", "/v1/install", json={"ticket": ticket, "certificate": pem(cert),
                                                       "chain": chain_pems() if chain is None else chain, **extra})


def cleanup(helper, ticket: str, **extra):
    return helper.request("POST", "/v1/cleanup", json={"ticket": ticket, **extra})


@dataclass
class KeyObject:
    cka_id: str
    sensitive: bool | None = None
    extractable: bool | None = None


@dataclass
class TokenContents:
    certificates: dict[str, str]  # serial -> CKA_ID (hex)
    private_keys: list[KeyObject]
    public_keys: list[KeyObject]

    def private_ids(self) -> list[str]:
        return sorted(k.cka_id for k in self.private_keys)

    def public_ids(self) -> list[str]:
        return sorted(k.cka_id for k in self.public_keys)


def read_token(softhsm_store, serial: str) -> TokenContents:
    """Everything on the key, read with python-pkcs11 in the test process (logged in, to see private keys)."""
    lib = softhsm_store.lib()
    [token] = [t for t in (s.get_token() for s in lib.get_slots(token_present=True))
               if PresentToken(t, "").serial == serial]
    with token.open(user_pin=PIN) as session:
        certificates = {
            serial_of(x509.load_der_x509_certificate(bytes(o[Attribute.VALUE]))): bytes(o[Attribute.ID]).hex()
            for o in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})}
        private_keys = [KeyObject(bytes(o[Attribute.ID]).hex(), o[Attribute.SENSITIVE], o[Attribute.EXTRACTABLE])
                        for o in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})]
        public_keys = [KeyObject(bytes(o[Attribute.ID]).hex())
                       for o in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY})]
    return TokenContents(certificates, private_keys, public_keys)


@pytest.fixture
def old_key_id(demo_key) -> str:
    cert = x509.load_pem_x509_certificate(demo_key.certificate.pem.encode())
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest.hex()


def test_token_lists_the_key_ids_of_its_key_pairs(helper, old_key_id):
    body = helper.get("/v1/token").json()
    assert body["key_ids"] == [old_key_id]
    assert body["certificates"][0]["cka_id"] == old_key_id


def test_renewal_with_one_pin(helper, demo_key, softhsm_store, old_key_id):
    old_cert = x509.load_pem_x509_certificate(demo_key.certificate.pem.encode())
    issued_keygen = keygen_ticket(demo_key)
    made = keygen(helper, issued_keygen.ticket)
    assert made.status_code == 200, made.text
    body = made.json()
    assert set(body) == {"csr", "old_signature", "new_key_id", "certificate_serial", "medium_number"}
    assert body["certificate_serial"] == demo_key.certificate.serial
    assert body["medium_number"] == demo_key.serial
    verify(old_cert, body["old_signature"], issued_keygen.challenge)  # proof by the OLD key
    csr = x509.load_pem_x509_csr(body["csr"].encode())
    assert csr.is_signature_valid
    assert csr.public_key().key_size == 2048
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "广州某某科技有限公司"
    new_key_id = body["new_key_id"]
    assert new_key_id == x509.SubjectKeyIdentifier.from_public_key(csr.public_key()).digest.hex() != old_key_id

    # listing while the session is held must not reinitialise the module (that would end the session)
    listed = helper.get("/v1/token").json()
    assert listed["key_ids"] == sorted([old_key_id, new_key_id])
    assert [c["serial"] for c in listed["certificates"]] == [demo_key.certificate.serial]

    new_cert = issue_renewed(body["csr"])
    issued_install = install_ticket(demo_key, new_cert)
    installed = install(helper, issued_install.ticket, new_cert)  # no PIN: the held session
    assert installed.status_code == 200, installed.text
    assert installed.json()["certificate_serial"] == serial_of(new_cert)
    verify(new_cert, installed.json()["signature"], issued_install.challenge)  # proof by the NEW key

    again = install(helper, install_ticket(demo_key, new_cert).ticket, new_cert)  # idempotent: no second object
    assert again.status_code == 200, again.text
    contents = read_token(softhsm_store, demo_key.serial)
    assert contents.certificates == {demo_key.certificate.serial: old_key_id, serial_of(new_cert): new_key_id}

    cleaned = cleanup(helper, cleanup_ticket(demo_key, new_cert).ticket)  # still no PIN
    assert cleaned.status_code == 200, cleaned.text
    assert cleaned.json() == {"removed": {"certificate": demo_key.certificate.serial, "key_id": old_key_id}}

    contents = read_token(softhsm_store, demo_key.serial)
    assert contents.certificates == {serial_of(new_cert): new_key_id}
    assert contents.private_ids() == contents.public_ids() == [new_key_id]
    [private] = contents.private_keys
    assert private.sensitive is True and private.extractable is False
    assert helper.get("/v1/token").json()["key_ids"] == [new_key_id]

    # cleanup ended the held session; a second cleanup needs the PIN and finds nothing left to remove
    assert cleanup(helper, cleanup_ticket(demo_key, new_cert).ticket).json()["code"] == "pin_required"
    repeated = cleanup(helper, cleanup_ticket(demo_key, new_cert).ticket, pin=PIN)
    assert repeated.status_code == 200 and repeated.json() == {"removed": None}
    assert PIN not in helper.log()


def test_held_session_expires_and_install_needs_the_pin_again(demo_key, start_helper, softhsm_store):
    helper = start_helper(HELPER_SESSION_HOLD_SECONDS="2")
    made = keygen(helper, keygen_ticket(demo_key).ticket)
    assert made.status_code == 200, made.text
    new_cert = issue_renewed(made.json()["csr"])
    ticket = install_ticket(demo_key, new_cert).ticket
    time.sleep(2.5)
    assert "closed (expired)" in helper.log()  # by the timer, before anything asked for it
    refused = install(helper, ticket, new_cert)
    assert refused.status_code == 401
    assert refused.json() == {"code": "pin_required", "message": "请输入U-KEY的PIN码", "helper": HELPER}
    assert serial_of(new_cert) not in read_token(softhsm_store, demo_key.serial).certificates

    installed = install(helper, ticket, new_cert, pin=PIN)  # pin_required did not spend the ticket
    assert installed.status_code == 200, installed.text
    # the session logged in by install is held in turn for cleanup
    cleaned = cleanup(helper, cleanup_ticket(demo_key, new_cert).ticket)
    assert cleaned.status_code == 200, cleaned.text
    assert list(read_token(softhsm_store, demo_key.serial).certificates) == [serial_of(new_cert)]


def test_install_in_a_later_visit_needs_the_pin(demo_key, start_helper, softhsm_store):
    """Resume: the certificate was issued, then the helper restarted (or the key was re-plugged)."""
    first = start_helper()
    made = keygen(first, keygen_ticket(demo_key).ticket)
    new_cert = issue_renewed(made.json()["csr"])
    first.process.terminate()
    first.process.wait(timeout=5)

    later = start_helper()
    assert made.json()["new_key_id"] in later.get("/v1/token").json()["key_ids"]
    assert install(later, install_ticket(demo_key, new_cert).ticket, new_cert).json()["code"] == "pin_required"
    resumed = install(later, install_ticket(demo_key, new_cert).ticket, new_cert, pin=PIN)
    assert resumed.status_code == 200, resumed.text


def test_install_refuses_a_certificate_the_ticket_does_not_name(helper, demo_key, softhsm_store, old_key_id):
    made = keygen(helper, keygen_ticket(demo_key).ticket)
    new_cert = issue_renewed(made.json()["csr"])
    other = issue_renewed(made.json()["csr"])  # same key, another certificate: not the one the ticket names
    refused = install(helper, install_ticket(demo_key, new_cert).ticket, other)
    assert refused.status_code == 403 and refused.json()["code"] == "ticket_invalid"
    old_cert = x509.load_pem_x509_certificate(demo_key.certificate.pem.encode())
    swapped = install(helper, install_ticket(demo_key, new_cert).ticket, old_cert)
    assert swapped.json()["code"] == "ticket_invalid"
    assert read_token(softhsm_store, demo_key.serial).certificates == {demo_key.certificate.serial: old_key_id}


def test_install_refuses_a_certificate_whose_key_is_not_on_the_token(helper, demo_key, softhsm_store, old_key_id):
    made = keygen(helper, keygen_ticket(demo_key).ticket)
    assert made.status_code == 200, made.text
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign_csr = (x509.CertificateSigningRequestBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another key")]))
                   .sign(foreign_key, hashes.SHA256()))
    foreign_cert = issue_renewed(foreign_csr.public_bytes(serialization.Encoding.PEM).decode())
    refused = install(helper, install_ticket(demo_key, foreign_cert).ticket, foreign_cert)
    assert refused.status_code == 409
    assert refused.json()["code"] == "key_mismatch"
    assert "没有与新证书匹配的私钥" in refused.json()["message"]
    assert read_token(softhsm_store, demo_key.serial).certificates == {demo_key.certificate.serial: old_key_id}

    # the refusal did not end the flow: the right certificate still installs without the PIN
    new_cert = issue_renewed(made.json()["csr"])
    assert install(helper, install_ticket(demo_key, new_cert).ticket, new_cert).status_code == 200


def test_install_refuses_a_broken_chain(helper, demo_key, softhsm_store, old_key_id):
    made = keygen(helper, keygen_ticket(demo_key).ticket)
    new_cert = issue_renewed(made.json()["csr"])
    issuing, root = chain_pems()
    self_made_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    self_made = (x509.CertificateBuilder().subject_name(new_cert.issuer).issuer_name(new_cert.issuer)
                 .public_key(self_made_key.public_key()).serial_number(1)
                 .not_valid_before(new_cert.not_valid_before_utc).not_valid_after(new_cert.not_valid_after_utc)
                 .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                 .sign(self_made_key, hashes.SHA256()))
    for chain in ([root, issuing], [issuing], [pem(self_made)], [issuing, pem(self_made)], []):
        refused = install(helper, install_ticket(demo_key, new_cert).ticket, new_cert, chain=chain)
        assert refused.status_code == 400, chain
        assert refused.json()["code"] == "chain_invalid"
        assert refused.json()["message"].startswith("证书链")
    assert read_token(softhsm_store, demo_key.serial).certificates == {demo_key.certificate.serial: old_key_id}


def test_cleanup_before_the_new_certificate_is_on_the_token_is_refused(helper, demo_key, softhsm_store,
                                                                      old_key_id):
    made = keygen(helper, keygen_ticket(demo_key).ticket)
    new_key_id = made.json()["new_key_id"]
    new_cert = issue_renewed(made.json()["csr"])
    refused = cleanup(helper, cleanup_ticket(demo_key, new_cert).ticket)
    assert refused.status_code == 409
    assert refused.json() == {"code": "new_certificate_missing", "message": "新证书尚未写入介质，原证书已保留",
                              "helper": HELPER}
    contents = read_token(softhsm_store, demo_key.serial)
    assert contents.certificates == {demo_key.certificate.serial: old_key_id}
    assert contents.private_ids() == contents.public_ids() == sorted([old_key_id, new_key_id])


def test_keygen_with_a_wrong_pin_makes_no_key(helper, demo_key, softhsm_store, old_key_id):
    refused = keygen(helper, keygen_ticket(demo_key).ticket, pin=WRONG)
    assert refused.status_code == 401
    assert refused.json() == {"code": "pin_incorrect", "message": "PIN码错误，还可尝试2次", "tries_left": 2,
                              "helper": HELPER}
    contents = read_token(softhsm_store, demo_key.serial)
    assert contents.private_ids() == contents.public_ids() == [old_key_id]
    assert WRONG not in helper.log()


def test_keygen_for_a_certificate_not_on_the_token_is_key_mismatch(helper, demo_key, softhsm_store, old_key_id):
    from wxbackend.tickets.service import issue_ticket

    ticket = issue_ticket("keygen", token_serial=demo_key.serial, cert_serial="0123456789ABCDEF", order_id=ORDER)
    refused = keygen(helper, ticket.ticket)
    assert refused.status_code == 409 and refused.json()["code"] == "key_mismatch"
    assert read_token(softhsm_store, demo_key.serial).private_ids() == [old_key_id]


def test_tickets_for_another_operation_or_replayed_are_refused(helper, demo_key):
    sign_ticket = keygen_ticket(demo_key, op="sign").ticket
    assert keygen(helper, sign_ticket).json()["code"] == "ticket_invalid"
    from wxbackend.tickets.service import issue_ticket

    no_order = issue_ticket("keygen", token_serial=demo_key.serial, cert_serial=demo_key.certificate.serial)
    assert keygen(helper, no_order.ticket).json()["code"] == "ticket_invalid"

    ticket = keygen_ticket(demo_key).ticket
    made = keygen(helper, ticket)
    assert made.status_code == 200, made.text
    replay = keygen(helper, ticket)
    assert replay.status_code == 403 and replay.json()["code"] == "ticket_invalid"

    new_cert = issue_renewed(made.json()["csr"])
    assert install(helper, keygen_ticket(demo_key).ticket, new_cert).json()["code"] == "ticket_invalid"
    assert install(helper, cleanup_ticket(demo_key, new_cert).ticket, new_cert).json()["code"] == "ticket_invalid"
    install_once = install_ticket(demo_key, new_cert).ticket
    assert install(helper, install_once, new_cert).status_code == 200
    assert install(helper, install_once, new_cert).json()["code"] == "ticket_invalid"
    assert cleanup(helper, install_ticket(demo_key, new_cert).ticket).json()["code"] == "ticket_invalid"
    cleanup_once = cleanup_ticket(demo_key, new_cert).ticket
    assert cleanup(helper, cleanup_once).status_code == 200
    assert cleanup(helper, cleanup_once, pin=PIN).json()["code"] == "ticket_invalid"


def test_held_session_is_per_order(helper, demo_key):
    made = keygen(helper, keygen_ticket(demo_key, order_id=ORDER).ticket)
    new_cert = issue_renewed(made.json()["csr"])
    other_order = install(helper, install_ticket(demo_key, new_cert, order_id=ORDER + 1).ticket, new_cert)
    assert other_order.status_code == 401 and other_order.json()["code"] == "pin_required"
    assert install(helper, install_ticket(demo_key, new_cert).ticket, new_cert).status_code == 200


class FakeSession:
    def __init__(self, fails: bool = False):
        self.closed = 0
        self.fails = fails

    def close(self):
        self.closed += 1
        if self.fails:
            raise pkcs11.exceptions.SessionHandleInvalid()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_held_session_matches_token_and_order_and_expires_lazily():
    tokens = SimpleNamespace(lock=threading.Lock(), session_held=False)
    clock = Clock()
    held = HeldSession(tokens, hold_seconds=120, clock=clock)
    session = FakeSession()
    held.hold("SERIAL1", ORDER, session, logged_in_at=clock.now - 20)  # the hold counts from login
    assert tokens.session_held is True
    assert held.take("SERIAL1", ORDER) is session
    assert held.take("SERIAL2", ORDER) is None and held.take("SERIAL1", ORDER + 1) is None
    assert held.take("SERIAL1", None) is None and session.closed == 0
    clock.now += 100
    assert held.take("SERIAL1", ORDER) is None  # 120 s after login: closed on this use
    assert session.closed == 1 and tokens.session_held is False
    held.release()
    assert session.closed == 1


def test_held_session_is_closed_by_its_timer_and_when_replaced():
    tokens = SimpleNamespace(lock=threading.Lock(), session_held=False)
    held = HeldSession(tokens, hold_seconds=0.2)
    first, second = FakeSession(), FakeSession(fails=True)
    held.hold("SERIAL1", ORDER, first, logged_in_at=held.clock())
    held.hold("SERIAL1", ORDER + 1, second, logged_in_at=held.clock())
    assert first.closed == 1 and tokens.session_held is True
    deadline = time.monotonic() + 5
    while tokens.session_held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert second.closed == 1 and tokens.session_held is False  # a session already gone closes quietly
    assert held.take("SERIAL1", ORDER + 1) is None
