"""One status for a certificate (issue 14) and 挂失: every consumer — the H5 pages, the API, eligibility, order
creation, binding (start, claim, confirm), renewal (start, issue) and the CRL — reads the certificate's status, which
changes only together with the CA's record."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from helper_protocol.tickets import unb64url
from tests.support.factories import bind, contacts_json, make_certificate, make_user
from tests.support.flows import sign_in
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.audit.models import AuditLog
from wxbackend.binding import service as binding
from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.ca.service import CertSubject, build_crl, get_authority, issue_certificate
from wxbackend.certificates import revocation
from wxbackend.certificates.models import Binding, BindingStatus, CertificateHold, CertificateStatus, HoldStatus
from wxbackend.certificates.service import record_certificate, supersede
from wxbackend.certificates.transitions import IllegalCertificateTransition
from wxbackend.core.errors import NotFound
from wxbackend.core.times import utcnow
from wxbackend.orders.eligibility import check_eligibility
from wxbackend.orders.service import NotRenewable, create_order, mark_paid, todo_items
from wxbackend.renewal import service as renewal
from wxbackend.users.models import User


class Issued:
    """A certificate our CA really issued, on record as a customer's, with its private key (the key on the U-KEY)."""

    def __init__(self, expires_in_days: int = 60, organisation: str = "广州某某科技有限公司"):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = utcnow().replace(microsecond=0)
        record = issue_certificate(csr_for(self.key), CertSubject(organisation=organisation, common_name=organisation),
                                   now - timedelta(days=300), now + timedelta(days=expires_in_days))
        self.x509 = x509.load_pem_x509_certificate(record.pem.encode())
        self.pem = record.pem
        self.certificate = record_certificate(self.x509, medium_number="TOKEN" + record.serial[:8])

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()

    @property
    def key_id(self) -> str:
        return x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()).digest.hex()


def csr_for(key) -> str:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ukey")]))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())


def challenge_of(ticket: str) -> bytes:
    return unb64url(json.loads(unb64url(ticket.split(".")[0]))["ch"])


def crl_entry(data: bytes, cert: x509.Certificate) -> x509.RevokedCertificate | None:
    return x509.load_der_x509_crl(data).get_revoked_certificate_by_serial_number(cert.serial_number)


def reason_of(entry: x509.RevokedCertificate) -> x509.ReasonFlags:
    return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason


def openssl_verify(tmp_path, cert: x509.Certificate, crl_der: bytes) -> subprocess.CompletedProcess:
    """`openssl verify -crl_check` of the certificate against our chain and the CRL as served."""
    authority = get_authority()
    (tmp_path / "chain.pem").write_text(authority.chain_pem())
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "crl.der").write_bytes(crl_der)
    subprocess.run(["openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-out", tmp_path / "crl.pem"],
                   check=True, capture_output=True)
    return subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", tmp_path / "chain.pem", "-CRLfile",
                           tmp_path / "crl.pem", tmp_path / "cert.pem"], capture_output=True, text=True)


def ca_status(db_session, serial: str) -> str:
    return db_session.scalar(sa.select(IssuedCertificate.status).where(IssuedCertificate.serial == serial))


def dev_user(db_session, name: str) -> User:
    return db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))


def signed_in_and_bound(client, db_session, name: str, issued: Issued) -> tuple[str, User]:
    csrf = sign_in(client, name)
    user = dev_user(db_session, name)
    user.identity_verified = True
    bind(user, issued.certificate)
    return csrf, user


def form_csrf(page_text: str) -> str:
    return page_text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


# --- the phone page ------------------------------------------------------------------------------------------


def test_report_lost_from_the_detail_page_puts_the_hold_on_the_crl_and_withdrawing_lifts_it(
        client, db_session, tmp_path):
    issued = Issued()
    _, user = signed_in_and_bound(client, db_session, "张挂失", issued)
    cert_id = issued.certificate.id
    assert openssl_verify(tmp_path, issued.x509, client.get("/ca/crl").data).returncode == 0

    detail = client.get(f"/h5/certificates/{cert_id}").text
    assert "挂失（U-KEY 丢失）" in detail and 'id="renew"' in detail and "<script>" not in detail
    confirm_page = client.get(f"/h5/certificates/{cert_id}/report-lost")
    assert confirm_page.status_code == 200 and "确认挂失" in confirm_page.text
    forged = client.post(f"/h5/certificates/{cert_id}/report-lost", data={})
    assert forged.status_code == 400 and issued.certificate.status == CertificateStatus.VALID

    done = client.post(f"/h5/certificates/{cert_id}/report-lost", data={"csrf_token": form_csrf(confirm_page.text)})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/h5/certificates/{cert_id}")
    db_session.expire_all()
    assert issued.certificate.status == CertificateStatus.ON_HOLD
    assert ca_status(db_session, issued.certificate.serial) == IssuedStatus.ON_HOLD
    held = client.get(f"/h5/certificates/{cert_id}").text
    assert "挂失成功" in held and "已挂失" in held and "钥匙找到了，解除挂失" in held
    assert 'id="renew"' not in held and "应用续期" not in held
    assert "已挂失" in client.get("/h5/certificates").text
    hold = db_session.scalar(sa.select(CertificateHold).where(CertificateHold.certificate_id == cert_id))
    assert hold.status == HoldStatus.ACTIVE and hold.reported_by == f"user:{user.id}"
    assert db_session.scalar(sa.select(AuditLog).where(AuditLog.action == "certificate.hold",
                                                       AuditLog.target == f"certificate:{cert_id}")).actor == \
        f"user:{user.id}"

    crl = client.get("/ca/crl").data
    entry = crl_entry(crl, issued.x509)
    assert entry is not None and reason_of(entry) == x509.ReasonFlags.certificate_hold
    refused = openssl_verify(tmp_path, issued.x509, crl)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr

    withdrawn = client.post(f"/h5/certificates/{cert_id}/withdraw-hold", data={"csrf_token": form_csrf(held)})
    assert withdrawn.status_code == 302
    db_session.expire_all()
    assert issued.certificate.status == CertificateStatus.VALID and hold.status == HoldStatus.WITHDRAWN
    assert ca_status(db_session, issued.certificate.serial) == IssuedStatus.ISSUED
    assert "已解除挂失" in client.get(f"/h5/certificates/{cert_id}").text
    crl = client.get("/ca/crl").data
    assert crl_entry(crl, issued.x509) is None
    assert openssl_verify(tmp_path, issued.x509, crl).returncode == 0


def test_withdraw_without_a_hold_is_refused_on_the_page(client, db_session):
    issued = Issued()
    signed_in_and_bound(client, db_session, "张无挂失", issued)
    page = client.get(f"/h5/certificates/{issued.certificate.id}").text
    answer = client.post(f"/h5/certificates/{issued.certificate.id}/withdraw-hold",
                         data={"csrf_token": form_csrf(page)})
    assert answer.status_code == 302
    assert "该证书没有挂失，无需解除" in client.get(answer.headers["Location"]).text


# --- the API -------------------------------------------------------------------------------------------------


def test_api_hold_and_withdraw_with_every_hostile_case(client, db_session, app):
    issued = Issued()
    csrf, user = signed_in_and_bound(client, db_session, "李挂失", issued)
    headers = {"X-CSRFToken": csrf}
    cert_id = issued.certificate.id

    held = client.post(f"/api/certificates/{cert_id}/hold", headers=headers)
    assert held.status_code == 201, held.json
    assert held.json["status"] == "active" and held.json["status_label"] == "挂失中"
    assert held.json["certificate_status"] == "on_hold" and held.json["certificate_status_label"] == "已挂失"
    listed = client.get("/api/certificates").json
    assert [(c["id"], c["status"], c["status_label"]) for c in listed] == [(cert_id, "on_hold", "已挂失")]
    assert client.get(f"/api/certificates/{cert_id}").json["status_label"] == "已挂失"

    twice = client.post(f"/api/certificates/{cert_id}/hold", headers=headers)
    assert twice.status_code == 409 and twice.json["code"] == "already_on_hold"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(CertificateHold)
                             .where(CertificateHold.certificate_id == cert_id)) == 1

    lifted = client.delete(f"/api/certificates/{cert_id}/hold", headers=headers)
    assert lifted.status_code == 200 and lifted.json["status"] == "valid" and lifted.json["status_label"] == "有效"
    again = client.delete(f"/api/certificates/{cert_id}/hold", headers=headers)
    assert again.status_code == 409 and again.json == {"code": "not_on_hold", "message": "该证书没有挂失，无需解除"}

    others = Issued(organisation="深圳别家有限公司")
    bind(make_user("别人"), others.certificate)
    for method in (client.post, client.delete):
        answer = method(f"/api/certificates/{others.certificate.id}/hold", headers=headers)
        assert answer.status_code == 404 and answer.json["code"] == "not_found"
        assert client.post("/api/certificates/999999999/hold", headers=headers).status_code == 404
    assert others.certificate.status == CertificateStatus.VALID

    binding_row = db_session.scalar(sa.select(Binding).where(Binding.user_id == user.id))
    binding.unbind(user.id, cert_id)  # no longer bound: as if it were someone else's
    assert binding_row.status == BindingStatus.UNBOUND
    assert client.post(f"/api/certificates/{cert_id}/hold", headers=headers).status_code == 404
    assert client.post(f"/api/certificates/{cert_id}/hold").status_code == 400  # cookie without CSRF token

    paths = client.get("/api/openapi.json").json["paths"]
    assert {"post", "delete"} <= set(paths["/api/certificates/{certificate_id}/hold"])


# --- every consumer refuses a held certificate, and a revoked one ------------------------------------------


def paid_order_for(issued: Issued, user: User):
    order = create_order(user.id, issued.certificate.id, 1, agreement_version=SERVICE_AGREEMENT.version)
    mark_paid(order.id, "wechat", "test")
    return order


@pytest.mark.parametrize("how", ["hold", "revoke"])
def test_a_held_or_revoked_certificate_on_every_customer_route(client, db_session, how):
    issued = Issued()
    csrf, user = signed_in_and_bound(client, db_session, f"王{how}", issued)
    cert = issued.certificate
    order = paid_order_for(issued, user)  # paid before the key was lost
    started = binding.start_binding(issued.pem, "127.0.0.1")  # the PC read the key before it was reported lost
    opened = binding.open_binding_session(started["ticket_id"], issued.sign(challenge_of(started["ticket"])),
                                          "127.0.0.1")
    keygen = renewal.start(issued.pem, [issued.key_id], order.order_no, "127.0.0.1")
    assert keygen.mode == "keygen"

    if how == "hold":
        revocation.report_lost(user.id, cert.id)
        label, code, says = "已挂失", "on_hold", "该证书已挂失"
    else:
        revocation.revoke(cert.serial, "key_compromise", "test")
        label, code, says = "已吊销", "revoked", "该证书已吊销"
    assert cert.status == code and ca_status(db_session, cert.serial) == code  # the two never disagree

    # the pages and the API
    assert label in client.get(f"/h5/certificates/{cert.id}").text
    assert label in client.get("/h5/certificates").text
    assert client.get(f"/api/certificates/{cert.id}").json["status"] == code
    # eligibility, the quote, order creation, 待办
    eligibility = check_eligibility(cert)
    assert eligibility.code == code and not eligibility.renewable and eligibility.message.startswith(says)
    assert client.get(f"/api/certificates/{cert.id}/quote?years=1").json["eligibility"]["code"] == code
    order.status = "completed"  # (a closed order no longer blocks a new one: only the status can refuse it)
    db_session.flush()
    made = client.post("/api/orders", json={"certificate_id": cert.id, "years": 1, "contacts": contacts_json()},
                       headers={"X-CSRFToken": csrf})
    assert made.status_code >= 400 and made.json["code"] == code, made.json
    with pytest.raises(NotRenewable):
        create_order(user.id, cert.id, 1)
    assert all(f"/h5/certificates/{cert.id}/renew" not in item.link for item in todo_items(user.id))
    # binding: start, and a session opened before the hold can be neither claimed nor confirmed
    with pytest.raises(revocation.CertificateNotInUse, match=says):
        binding.start_binding(issued.pem, "127.0.0.1")
    claimer = make_user("认领人")
    with pytest.raises(revocation.CertificateNotInUse, match=says):
        binding.claim_by_code(claimer.id, opened.code, opened.medium_last4, "127.0.0.1")
    assert binding.pc_session_state(opened.session_id, opened.pc_token)["state"] == "rejected"
    assert db_session.scalar(sa.select(Binding).where(Binding.user_id == claimer.id)) is None
    # renewal: start, and a keygen ticket handed out before the hold cannot issue
    order.status = "ready_to_write"
    db_session.flush()
    with pytest.raises(revocation.CertificateNotInUse, match=says):
        renewal.start(issued.pem, [issued.key_id], order.order_no, "127.0.0.1")
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(revocation.CertificateNotInUse, match=says):
        renewal.issue(keygen.ticket_id, issued.sign(challenge_of(keygen.ticket)), csr_for(new_key), "127.0.0.1")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(IssuedCertificate)) >= 1
    assert order.issued_certificate_id is None
    # the CRL
    entry = crl_entry(build_crl(), issued.x509)
    assert entry is not None
    assert reason_of(entry) == (x509.ReasonFlags.certificate_hold if how == "hold" else x509.ReasonFlags.key_compromise)


def test_a_renewal_certificate_issued_onto_the_lost_key_is_voided_by_the_hold(db_session):
    issued = Issued()
    user = make_user()
    user.identity_verified = True
    bind(user, issued.certificate)
    order = paid_order_for(issued, user)
    keygen = renewal.start(issued.pem, [issued.key_id], order.order_no, "127.0.0.1")
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    made = renewal.issue(keygen.ticket_id, issued.sign(challenge_of(keygen.ticket)), csr_for(new_key), "127.0.0.1")
    new_cert = x509.load_pem_x509_certificate(made.certificate_pem.encode())
    assert order.status == "issued" and crl_entry(build_crl(), new_cert) is None  # written onto the key, not confirmed

    revocation.report_lost(user.id, issued.certificate.id)
    assert order.status == "ready_to_write" and order.issued_certificate_id is None
    assert ca_status(db_session, format(new_cert.serial_number, "X")) == IssuedStatus.VOIDED
    assert reason_of(crl_entry(build_crl(), new_cert)) == x509.ReasonFlags.key_compromise
    assert reason_of(crl_entry(build_crl(), issued.x509)) == x509.ReasonFlags.certificate_hold
    with pytest.raises(revocation.CertificateNotInUse):
        renewal.start(issued.pem, [issued.key_id], order.order_no, "127.0.0.1")
    revocation.withdraw_hold(user.id, issued.certificate.id)  # the key was found: renewal starts over
    assert renewal.start(issued.pem, [issued.key_id], order.order_no, "127.0.0.1").mode == "keygen"


def test_binding_confirmed_on_the_pc_after_a_hold_is_refused(db_session):
    issued = Issued()
    owner, claimer = make_user("原主"), make_user("新来的")
    bind(owner, issued.certificate)
    started = binding.start_binding(issued.pem, "127.0.0.1")
    opened = binding.open_binding_session(started["ticket_id"], issued.sign(challenge_of(started["ticket"])),
                                          "127.0.0.1")
    binding.claim_by_code(claimer.id, opened.code, opened.medium_last4, "127.0.0.1")
    revocation.report_lost(owner.id, issued.certificate.id)
    with pytest.raises(revocation.CertificateNotInUse, match="已挂失"):
        binding.confirm_binding(opened.session_id, opened.pc_token, True, "127.0.0.1")
    assert db_session.scalar(sa.select(Binding).where(Binding.user_id == claimer.id)) is None


# --- the service's rules -------------------------------------------------------------------------------------


def test_hold_refusals_change_nothing(db_session):
    user = make_user()
    cert = make_certificate()  # no CA record (issued elsewhere): its own status changes alone
    bind(user, cert)
    with pytest.raises(revocation.NotOnHold):
        revocation.withdraw_hold(user.id, cert.id)
    revocation.report_lost(user.id, cert.id)
    assert cert.status == CertificateStatus.ON_HOLD
    with pytest.raises(revocation.AlreadyOnHold):
        revocation.report_lost(user.id, cert.id)
    with pytest.raises(NotFound):
        revocation.report_lost(make_user("路人").id, cert.id)
    with pytest.raises(NotFound):
        revocation.withdraw_hold(make_user("路人乙").id, cert.id)
    with pytest.raises(IllegalCertificateTransition):  # a held certificate is not renewed onto a new one
        supersede(cert.id, make_certificate())
    revocation.withdraw_hold(user.id, cert.id)
    assert cert.status == CertificateStatus.VALID

    expired = make_certificate(expires_in_days=-5)
    bind(user, expired)
    revocation.report_lost(user.id, expired.id)
    revocation.withdraw_hold(user.id, expired.id)
    assert expired.status == CertificateStatus.EXPIRED  # back to what its dates say

    revoked = make_certificate()
    bind(user, revoked)
    revocation.revoke(revoked.serial, "unspecified", "test")
    with pytest.raises(revocation.CertificateNotInUse, match="已吊销"):
        revocation.report_lost(user.id, revoked.id)
    assert revocation.revoke(revoked.serial, "unspecified", "test").status == CertificateStatus.REVOKED  # again: no-op


def test_confirming_the_loss_revokes_as_key_compromise_with_the_time_reported_as_invalidity_date(db_session):
    issued = Issued()
    user = make_user()
    bind(user, issued.certificate)
    hold = revocation.report_lost(user.id, issued.certificate.id)
    hold.reported_at = reported = utcnow().replace(microsecond=0) - timedelta(hours=30)  # reported yesterday
    db_session.flush()
    revocation.confirm_lost(issued.certificate.id, "staff:1")
    assert issued.certificate.status == CertificateStatus.REVOKED and hold.status == HoldStatus.REVOKED
    assert ca_status(db_session, issued.certificate.serial) == IssuedStatus.REVOKED
    entry = crl_entry(build_crl(), issued.x509)
    assert reason_of(entry) == x509.ReasonFlags.key_compromise
    invalidity = entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date
    assert invalidity == reported.replace(tzinfo=None)
    assert entry.revocation_date_utc > reported
    with pytest.raises(revocation.NotOnHold):
        revocation.withdraw_hold(user.id, issued.certificate.id)
    with pytest.raises(revocation.NotOnHold):
        revocation.confirm_lost(issued.certificate.id, "staff:1")


def test_flask_ca_revoke_changes_the_certificate_and_the_crl_together(app, db_session, client):
    issued = Issued()
    user = make_user()
    bind(user, issued.certificate)
    serial = issued.certificate.serial
    result = app.test_cli_runner().invoke(args=["ca", "revoke", serial, "--reason", "key_compromise"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{serial}: revoked"
    db_session.expire_all()
    assert issued.certificate.status == CertificateStatus.REVOKED
    assert ca_status(db_session, serial) == IssuedStatus.REVOKED
    assert check_eligibility(issued.certificate).code == "revoked"
    assert reason_of(crl_entry(client.get("/ca/crl").data, issued.x509)) == x509.ReasonFlags.key_compromise
    unknown = app.test_cli_runner().invoke(args=["ca", "revoke", "ABCDEF"])
    assert unknown.exit_code == 1 and "没有找到该证书" in unknown.output
    again = app.test_cli_runner().invoke(args=["ca", "revoke", serial])
    assert again.exit_code == 0 and again.output.strip() == f"{serial}: revoked"  # idempotent


def test_a_serial_no_customer_holds_is_revoked_on_the_ca_record_alone(db_session):
    now = utcnow()
    record = issue_certificate(csr_for(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                               CertSubject(organisation="某单位", common_name="某单位"), now, now + timedelta(days=30))
    assert revocation.revoke(record.serial, None, "cli").status == IssuedStatus.REVOKED
    entry = x509.load_der_x509_crl(build_crl()).get_revoked_certificate_by_serial_number(int(record.serial, 16))
    assert entry is not None and list(entry.extensions) == []  # no reason given: no reasonCode
