"""Making a demo key: a SoftHSM2 token with a key pair made on it and a certificate from the local CA."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from flask import current_app

from wxbackend.ca.service import CertSubject, issue_certificate
from wxbackend.certificates.models import Certificate
from wxbackend.certificates.service import record_certificate
from wxbackend.core.times import utcnow
from wxbackend.demo import softhsm, token


@dataclass
class DemoKey:
    serial: str
    pin: str
    certificate: Certificate


def make_demo_key(*, organisation: str, expires_in_days: int, legal_representative: str = "张三",
                  locality: str = "广州市", province: str = "广东省", email: str = "", credit_code: str = "",
                  label: str = "DEMO UKEY",
                  pin: str = "12345678", so_pin: str = "87654321",
                  apps: list[tuple[str, datetime]] | None = None) -> DemoKey:
    """Create a token in the configured SoftHSM2 store that looks like a customer's key: an RSA key pair made on
    the token, a certificate from the local CA beside it with the same CKA_ID, recorded with its 应用."""
    conf = softhsm.ensure_conf(current_app.config["SOFTHSM2_CONF"])
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the module at C_Initialize
    serial = softhsm.init_token(conf, label, pin, so_pin)
    demo_token = token.find_token(current_app.config["PKCS11_MODULE"].split(",")[0].strip(), serial)

    not_after = (utcnow() + timedelta(days=expires_in_days)).replace(microsecond=0)
    not_before = not_after - timedelta(days=365)
    subject = CertSubject(organisation=organisation, common_name=organisation, locality=locality,
                          province=province, email=email, credit_code=credit_code)
    with demo_token.open(rw=True, user_pin=pin) as session:
        cka_id, csr_pem = token.make_key_pair(session, label="signing key", common_name=serial)
        issued = issue_certificate(csr_pem, subject, not_before, not_after)
        cert = x509.load_pem_x509_certificate(issued.pem.encode())
        token.write_certificate(session, cert, cka_id, label="signing certificate")
    if apps is None:
        apps = [("广东省政府采购网", not_after), ("广州公共资源交易中心", not_after - timedelta(days=20))]
    record = record_certificate(cert, medium_number=serial, legal_representative=legal_representative,
                                apps=apps)
    return DemoKey(serial=serial, pin=pin, certificate=record)

