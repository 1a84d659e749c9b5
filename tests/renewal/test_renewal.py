"""Writing the renewed certificate (DESIGN §5) through the real helper on SoftHSM2 and the backend's PC API."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, Mechanism, ObjectClass

from helper_protocol.tickets import unb64url
from tests.support.factories import bind, make_user
from tests.support.flows import run_jobs
from tests.support.pkilint_check import lint_certificate, lint_chain
from tests.support.x509check import verify_chain
from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.ca.service import build_crl, get_authority
from wxbackend.certificates.models import Binding, Certificate
from wxbackend.orders.eligibility import new_validity
from wxbackend.orders.models import OrderStatus
from wxbackend.orders.service import create_order, mark_paid

PIN = "12345678"


@pytest.fixture
def paid_order(demo_key, db_session):
    user = make_user("张三")
    bind(user, demo_key.certificate)
    order = create_order(user.id, demo_key.certificate.id, 1)
    mark_paid(order.id, "wechat", "test")
    db_session.commit()  # as the payment notification's request would: its notices are enqueued now
    return order


def token_view(helper) -> dict:
    answer = helper.get("/v1/token")
    assert answer.status_code == 200, answer.text
    return answer.json()


def start(pc, helper, order_no=None, pem=None):
    view = token_view(helper)
    return pc.post("/pc/api/renew/start", json={"certificate": pem or view["certificates"][0]["pem"],
                                                "key_ids": view["key_ids"], "order_no": order_no})


def keygen(helper, started: dict, pin=PIN):
    return helper.request("POST", "/v1/keygen", json={"ticket": started["ticket"], "pin": pin})


def issue(pc, started: dict, made: dict, csr: str | None = None):
    return pc.post("/pc/api/renew/issue", json={"ticket_id": started["ticket_id"],
                                                "old_signature": made["old_signature"], "csr": csr or made["csr"]})


def install(helper, step: dict, **extra):
    return helper.request("POST", "/v1/install", json={"ticket": step["ticket"], "certificate": step["certificate_pem"],
                                                       "chain": step["chain_pem"], **extra})


def confirm(pc, step: dict, signature: str):
    return pc.post("/pc/api/renew/confirm", json={"ticket_id": step["ticket_id"], "signature": signature})


def renew_until_issued(pc, helper) -> tuple[dict, dict]:
    started = start(pc, helper)
    assert started.status_code == 200, started.json
    assert started.json["mode"] == "keygen"
    made = keygen(helper, started.json)
    assert made.status_code == 200, made.text
    issued = issue(pc, started.json, made.json())
    assert issued.status_code == 200, issued.json
    return started.json, issued.json


def token_objects(softhsm_store, serial: str) -> dict:
    """What is on the token, read with python-pkcs11 (logged in: private keys too)."""
    lib = softhsm_store.lib()
    token = next(t for t in (s.get_token() for s in lib.get_slots(token_present=True))
                 if (t.serial.decode() if isinstance(t.serial, bytes) else t.serial).strip() == serial)
    with token.open(user_pin=PIN) as session:
        certs = {}
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
            cert = x509.load_der_x509_certificate(obj[Attribute.VALUE])
            certs[format(cert.serial_number, "X")] = (bytes(obj[Attribute.ID]).hex(), cert)
        private = {bytes(k[Attribute.ID]).hex(): (k[Attribute.SENSITIVE], k[Attribute.EXTRACTABLE])
                   for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})}
    return {"certificates": certs, "private_keys": private}


def sign_on_token(softhsm_store, serial: str, key_id_hex: str, data: bytes) -> str:
    lib = softhsm_store.lib()
    token = next(t for t in (s.get_token() for s in lib.get_slots(token_present=True))
                 if (t.serial.decode() if isinstance(t.serial, bytes) else t.serial).strip() == serial)
    with token.open(user_pin=PIN) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(key_id_hex))
        return base64.b64encode(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)).decode()


def ticket_challenge(ticket: str) -> bytes:
    return unb64url(json.loads(unb64url(ticket.split(".")[0]))["ch"])


def test_paid_order_is_renewed_onto_the_key(pc, helper, demo_key, paid_order, softhsm_store, db_session, wechat):
    old_pem = demo_key.certificate.pem
    old = x509.load_pem_x509_certificate(old_pem.encode())
    started, issued = renew_until_issued(pc, helper)
    assert started["order"]["order_no"] == paid_order.order_no
    written = install(helper, issued)  # the session of keygen is still held: no PIN again
    assert written.status_code == 200, written.text
    done = confirm(pc, issued, written.json()["signature"])
    assert done.status_code == 200, done.json
    cleaned = helper.request("POST", "/v1/cleanup", json={"ticket": done.json["cleanup_ticket"]})
    assert cleaned.status_code == 200, cleaned.text

    on_token = token_objects(softhsm_store, demo_key.serial)
    [(serial, (cka_id, new))] = on_token["certificates"].items()
    assert serial != demo_key.certificate.serial
    assert list(on_token["private_keys"]) == [cka_id]  # the new key pair only; the old one is gone
    assert on_token["private_keys"][cka_id] == (True, False)  # sensitive, not extractable
    authority = get_authority()
    assert "OK" in verify_chain(new, authority.issuing, authority.root)
    assert new.subject == old.subject
    assert new.not_valid_after_utc == new_validity(old.not_valid_after_utc, 1)
    assert lint_certificate(new) == "" and lint_chain(authority.issuing, new) == ""  # pkilint: no warning, no error

    db_session.refresh(paid_order)
    assert paid_order.status == OrderStatus.COMPLETED
    db_session.refresh(demo_key.certificate)
    assert demo_key.certificate.status == "superseded"
    record = db_session.scalar(sa.select(Certificate).where(Certificate.serial == serial))
    assert record.previous_id == demo_key.certificate.id and record.apps  # 应用 carried over
    bindings = db_session.scalars(sa.select(Binding).where(Binding.status == "active")).all()
    assert [b.certificate_id for b in bindings] == [record.id]
    run_jobs()
    assert [m["template_id"] for m in wechat.messages()][-1] == "TPL-renewal_done"


def test_unpaid_order_gets_no_keygen_ticket(pc, helper, demo_key, db_session):
    user = make_user()
    bind(user, demo_key.certificate)
    order = create_order(user.id, demo_key.certificate.id, 1)  # 待支付
    refused = start(pc, helper)
    assert refused.status_code == 404 and refused.json["code"] == "no_paid_order"
    refused = start(pc, helper, order_no=order.order_no)
    assert refused.status_code == 404 and "待支付" in refused.json["message"]


def test_the_key_of_another_certificate_is_not_the_key_ordered(pc, helper, paid_order, db_session):
    from wxbackend.demo.service import make_demo_key

    other = make_demo_key(organisation="深圳另一家公司", expires_in_days=40)
    refused = pc.post("/pc/api/renew/start", json={"certificate": other.certificate.pem, "key_ids": [],
                                                   "order_no": paid_order.order_no})
    assert refused.status_code == 400 and refused.json["code"] == "not_the_key_ordered"


def test_helper_killed_after_issue_installs_the_same_certificate_next_visit(
        pc, helper, start_helper, demo_key, paid_order, db_session):
    _, issued = renew_until_issued(pc, helper)
    serial = x509.load_pem_x509_certificate(issued["certificate_pem"].encode()).serial_number
    helper.process.kill()  # the PC lost power, or the key was pulled out and the page closed
    helper.process.wait()
    again = start_helper()
    resumed = start(pc, again)
    assert resumed.status_code == 200 and resumed.json["mode"] == "install"
    assert x509.load_pem_x509_certificate(resumed.json["certificate_pem"].encode()).serial_number == serial
    assert install(again, resumed.json).json()["code"] == "pin_required"  # a new flow: the PIN once more
    written = install(again, resumed.json, pin=PIN)
    assert written.status_code == 200, written.text
    assert confirm(pc, resumed.json, written.json()["signature"]).status_code == 200
    assert db_session.scalar(sa.select(sa.func.count()).select_from(IssuedCertificate)
                             .where(IssuedCertificate.subject.like("%广州某某科技有限公司%"))) == 2  # old + one new


def test_issued_certificate_whose_key_is_gone_is_voided_and_the_flow_starts_over(
        pc, helper, demo_key, paid_order, softhsm_store, db_session):
    _, issued = renew_until_issued(pc, helper)
    lost = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
    view = token_view(helper)
    gone_id = x509.SubjectKeyIdentifier.from_public_key(lost.public_key()).digest.hex()
    keys_without_new = [k for k in view["key_ids"] if k != gone_id]
    again = pc.post("/pc/api/renew/start", json={"certificate": view["certificates"][0]["pem"],
                                                 "key_ids": keys_without_new})
    assert again.status_code == 200 and again.json["mode"] == "keygen"
    voided = db_session.scalar(sa.select(IssuedCertificate).where(
        IssuedCertificate.serial == format(lost.serial_number, "X")))
    assert voided.status == IssuedStatus.VOIDED
    crl = x509.load_der_x509_crl(build_crl())
    assert crl.get_revoked_certificate_by_serial_number(lost.serial_number) is not None
    db_session.refresh(paid_order)
    assert paid_order.status == OrderStatus.READY_TO_WRITE


def test_order_is_never_issued_twice(pc, helper, demo_key, paid_order, db_session):
    first = start(pc, helper).json
    second = start(pc, helper).json
    made = keygen(helper, first).json()
    issued = issue(pc, first, made)
    assert issued.status_code == 200, issued.json
    made_again = keygen(helper, second).json()
    refused = issue(pc, second, made_again)
    assert refused.status_code == 409 and refused.json["code"] == "already_issued"


def test_csr_with_another_subject_is_ignored(pc, helper, demo_key, paid_order, db_session):
    started = start(pc, helper).json
    made = keygen(helper, started).json()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = (x509.CertificateSigningRequestBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "冒名公司"),
                                       x509.NameAttribute(NameOID.COMMON_NAME, "冒名公司")]))
              .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    issued = issue(pc, started, made, csr=forged)
    assert issued.status_code == 200, issued.json
    cert = x509.load_pem_x509_certificate(issued.json["certificate_pem"].encode())
    assert cert.subject == x509.load_pem_x509_certificate(demo_key.certificate.pem.encode()).subject
    # and a certificate for a key that is not on the token is refused by the helper; the old one stays
    refused = install(helper, issued.json)
    assert refused.status_code in (400, 403, 409) and refused.json()["code"] == "key_mismatch", refused.text
    assert demo_key.certificate.serial in token_view(helper)["certificates"][0]["serial"]


def test_another_certificate_sent_to_install_is_refused(pc, helper, demo_key, paid_order, db_session):
    from wxbackend.ca.service import CertSubject, issue_certificate
    from wxbackend.core.times import utcnow

    _, issued = renew_until_issued(pc, helper)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    other = issue_certificate(csr, CertSubject("另一家公司", "另一家公司"), utcnow(), new_validity(utcnow(), 1))
    swapped = dict(issued, certificate_pem=other.pem)
    refused = install(helper, swapped)
    assert refused.status_code in (400, 403) and refused.json()["code"] == "ticket_invalid"
    serials = [c["serial"] for c in token_view(helper)["certificates"]]
    assert serials == [demo_key.certificate.serial]


def test_confirm_with_the_old_keys_signature_is_refused(pc, helper, demo_key, paid_order, softhsm_store,
                                                         db_session):
    _, issued = renew_until_issued(pc, helper)
    assert install(helper, issued).status_code == 200
    [old_key_id] = [c["cka_id"] for c in token_view(helper)["certificates"]
                    if c["serial"] == demo_key.certificate.serial]
    forged = sign_on_token(softhsm_store, demo_key.serial, old_key_id, ticket_challenge(issued["ticket"]))
    refused = confirm(pc, issued, forged)
    assert refused.status_code == 400 and refused.json["code"] == "renewal_refused"
    db_session.refresh(paid_order)
    assert paid_order.status == OrderStatus.ISSUED


def test_cleanup_needs_the_ticket_only_confirm_hands_out(pc, helper, demo_key, paid_order, db_session):
    _, issued = renew_until_issued(pc, helper)
    refused = helper.request("POST", "/v1/cleanup", json={"ticket": issued["ticket"]})  # the install ticket
    assert refused.status_code in (400, 403) and refused.json()["code"] == "ticket_invalid"
    assert demo_key.certificate.serial in [c["serial"] for c in token_view(helper)["certificates"]]



# --- proof of possession at issue: the old key must sign this challenge, the new key must be new (issue 20) ---


def order_events(db_session, order) -> list[tuple[str | None, str]]:
    from wxbackend.orders.models import OrderEvent

    db_session.expire_all()
    return [(e.from_status, e.to_status) for e in db_session.scalars(
        sa.select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id))]


def issued_count(db_session) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(IssuedCertificate))


def issue_audits(db_session, order) -> list[tuple[str, str]]:
    from wxbackend.audit.models import AuditLog

    return [(a.action, a.result) for a in db_session.scalars(
        sa.select(AuditLog).where(AuditLog.target == f"order:{order.id}", AuditLog.action.like("renewal.issue%"))
        .order_by(AuditLog.id))]


def old_key_id(helper, demo_key) -> str:
    [cka_id] = [c["cka_id"] for c in token_view(helper)["certificates"] if c["serial"] == demo_key.certificate.serial]
    return cka_id


def assert_refused_and_unchanged(db_session, order, refused, before: dict, audit: tuple[str, str]):
    assert refused.status_code == 400 and refused.json["code"] == "renewal_refused", refused.json
    db_session.expire_all()
    db_session.refresh(order)
    assert order.status == OrderStatus.READY_TO_WRITE and order.issued_certificate_id is None
    assert order_events(db_session, order) == before["events"]
    assert issued_count(db_session) == before["issued"]
    assert issue_audits(db_session, order) == [audit]  # the refusal's audit row outlived the rollback


def test_old_signature_by_another_key_is_refused_and_nothing_is_issued(pc, helper, demo_key, paid_order,
                                                                       db_session):
    from cryptography.hazmat.primitives.asymmetric import padding

    started = start(pc, helper).json
    made = keygen(helper, started).json()
    before = {"events": order_events(db_session, paid_order), "issued": issued_count(db_session)}
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = base64.b64encode(stranger.sign(ticket_challenge(started["ticket"]), padding.PKCS1v15(),
                                            hashes.SHA256())).decode()
    refused = issue(pc, started, dict(made, old_signature=forged))
    assert_refused_and_unchanged(db_session, paid_order, refused, before, ("renewal.issue", "bad_old_signature"))
    assert "原证书签名验证失败" in refused.json["message"]


def test_old_signature_over_another_challenge_is_refused(pc, helper, demo_key, paid_order, softhsm_store,
                                                         db_session):
    first = start(pc, helper).json
    made = keygen(helper, first).json()
    second = start(pc, helper).json  # another keygen ticket: its challenge is not the first one's
    assert ticket_challenge(second["ticket"]) != ticket_challenge(first["ticket"])
    before = {"events": order_events(db_session, paid_order), "issued": issued_count(db_session)}
    over_other = sign_on_token(softhsm_store, demo_key.serial, old_key_id(helper, demo_key),
                               ticket_challenge(second["ticket"]))  # the right key, the wrong challenge
    refused = issue(pc, first, dict(made, old_signature=over_other))
    assert_refused_and_unchanged(db_session, paid_order, refused, before, ("renewal.issue", "bad_old_signature"))


def test_csr_reusing_the_old_key_is_refused_and_nothing_is_issued(pc, helper, demo_key, paid_order, softhsm_store,
                                                                  db_session):
    from ukey_helper.token import build_csr

    started = start(pc, helper).json
    made = keygen(helper, started).json()  # a valid old-key signature over this ticket's challenge
    before = {"events": order_events(db_session, paid_order), "issued": issued_count(db_session)}
    old_public = x509.load_pem_x509_certificate(demo_key.certificate.pem.encode()).public_key()
    lib = softhsm_store.lib()
    token = next(t for t in (s.get_token() for s in lib.get_slots(token_present=True))
                 if (t.serial.decode() if isinstance(t.serial, bytes) else t.serial).strip() == demo_key.serial)
    with token.open(user_pin=PIN) as session:
        old_private = session.get_key(object_class=ObjectClass.PRIVATE_KEY,
                                      id=bytes.fromhex(old_key_id(helper, demo_key)))
        old_key_csr = build_csr(old_public, old_private, "广州某某科技有限公司")
    assert x509.load_pem_x509_csr(old_key_csr.encode()).is_signature_valid  # a well-formed request…
    refused = issue(pc, started, made, csr=old_key_csr)  # …for the key being replaced
    assert_refused_and_unchanged(db_session, paid_order, refused, before, ("renewal.issue", "old_key_reused"))
    assert "新证书必须使用新生成的密钥" in refused.json["message"]


def test_a_paid_three_year_order_is_renewed_to_old_not_after_plus_three_years(pc, helper, demo_key, softhsm_store,
                                                                              db_session):
    user = make_user("三年")
    bind(user, demo_key.certificate)
    order = create_order(user.id, demo_key.certificate.id, 3)
    assert order.years == 3 and order.amount_fen == 90000  # 300.00 元 a year for org_sign
    assert mark_paid(order.id, "wechat", "test")
    db_session.commit()
    old_not_after = x509.load_pem_x509_certificate(demo_key.certificate.pem.encode()).not_valid_after_utc
    expected = new_validity(old_not_after, 3)
    assert expected.year == old_not_after.year + 3

    started, issued = renew_until_issued(pc, helper)
    assert started["order"]["order_no"] == order.order_no
    new = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
    assert new.not_valid_after_utc == expected
    written = install(helper, issued)
    assert written.status_code == 200, written.text
    done = confirm(pc, issued, written.json()["signature"])
    assert done.status_code == 200, done.json

    db_session.expire_all()
    db_session.refresh(order)
    assert order.status == OrderStatus.COMPLETED
    record = db_session.get(Certificate, order.new_certificate_id)
    assert record.serial == format(new.serial_number, "X") and record.not_after == expected
    assert record.previous_id == demo_key.certificate.id
    assert order_events(db_session, order)[-3:] == [("paid", "ready_to_write"), ("ready_to_write", "issued"),
                                                    ("issued", "completed")]
    assert record.serial in token_objects(softhsm_store, demo_key.serial)["certificates"]  # written on the key
