"""挂失 on the phone in headless Chromium: the user reports the key lost from 证书详情 → the CRL served at /ca/crl
carries certificateHold for that serial and `openssl verify -crl_check` refuses the certificate → 解除挂失 → the
certificate verifies again."""

from __future__ import annotations

import subprocess

import pytest
import requests
import sqlalchemy as sa
from cryptography import x509

from tests.support.live import make_demo_key, shot, wechat_phone
from wxbackend.certificates.models import Binding, Certificate
from wxbackend.core.db import db
from wxbackend.users.models import User

pytestmark = pytest.mark.browser


def crl_and_verdict(base: str, cert_pem: str, tmp_path) -> tuple[x509.CertificateRevocationList,
                                                                 subprocess.CompletedProcess]:
    crl_der = requests.get(f"{base}/ca/crl", timeout=10).content
    (tmp_path / "chain.pem").write_text(requests.get(f"{base}/ca/chain.pem", timeout=10).text)
    (tmp_path / "cert.pem").write_text(cert_pem)
    (tmp_path / "crl.der").write_bytes(crl_der)
    subprocess.run(["openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-out", tmp_path / "crl.pem"],
                   check=True, capture_output=True)
    verdict = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", tmp_path / "chain.pem", "-CRLfile",
                              tmp_path / "crl.pem", tmp_path / "cert.pem"], capture_output=True, text=True)
    return x509.load_der_x509_crl(crl_der), verdict


def test_report_lost_on_the_phone_then_withdraw(live_app, browser, tmp_path):
    _, cert_id, _ = make_demo_key(live_app)
    with live_app.app_context():
        user = User(openid="oLostKey0001", nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        db.session.add(Binding(user_id=user.id, certificate_id=cert_id))
        db.session.commit()
        cert_pem = db.session.scalar(sa.select(Certificate.pem).where(Certificate.id == cert_id))
    base = live_app.base_url
    number = x509.load_pem_x509_certificate(cert_pem.encode()).serial_number
    crl, verdict = crl_and_verdict(base, cert_pem, tmp_path)
    assert crl.get_revoked_certificate_by_serial_number(number) is None and verdict.returncode == 0, verdict.stdout

    phone = wechat_phone(browser, live_app, "oLostKey0001")
    phone.goto(f"{base}/h5/certificates/{cert_id}")
    phone.wait_for_selector("#report-lost")
    phone.click("#unbind-btn")  # the page's script (a static file, no inline script) opens and closes the dialog
    assert phone.is_visible("#unbind-dialog")
    phone.click("#unbind-cancel")
    assert phone.is_hidden("#unbind-dialog")
    phone.click("#report-lost")
    phone.wait_for_selector("#report-lost-confirm")
    shot(phone, "phone-report-lost-confirm")
    phone.click("#report-lost-confirm")
    phone.wait_for_selector("#withdraw-hold")
    assert "已挂失" in phone.text_content("body") and phone.locator("#renew").count() == 0
    shot(phone, "phone-report-lost-done")

    crl, verdict = crl_and_verdict(base, cert_pem, tmp_path)
    entry = crl.get_revoked_certificate_by_serial_number(number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.certificate_hold
    assert verdict.returncode != 0 and "certificate revoked" in verdict.stdout + verdict.stderr

    phone.click("#withdraw-hold")
    phone.wait_for_selector("#report-lost")
    assert "已解除挂失" in phone.text_content("body") and phone.locator("#renew").count() == 1
    crl, verdict = crl_and_verdict(base, cert_pem, tmp_path)
    assert crl.get_revoked_certificate_by_serial_number(number) is None
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
