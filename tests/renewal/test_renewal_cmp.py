"""Renewal with CA_BACKEND=cmp: the renewed certificate comes from the CA system (OpenSSL's CMP mock server)."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography import x509

from tests.ca.test_cmp import SECRET, CaSystem
from tests.renewal.test_renewal import issue, keygen, paid_order, start  # noqa: F401  (paid_order: a fixture)
from wxbackend.ca.models import CmpTransaction, IssuedCertificate
from wxbackend.ca.service import CertSubject
from wxbackend.core.times import utcnow
from wxbackend.orders.models import OrderStatus


def test_renewal_issues_through_cmp_once(app, pc, helper, demo_key, paid_order, db_session, tmp_path,  # noqa: F811
                                         monkeypatch):
    ca_system = CaSystem(tmp_path)
    try:
        started = start(pc, helper)
        assert started.status_code == 200, started.json
        made = keygen(helper, started.json)
        assert made.status_code == 200, made.text
        # the mock answers with one prepared certificate: for the key the token just made, with the subject and
        # validity the backend decides (the old certificate's subject, up to the order's new end)
        csr = x509.load_pem_x509_csr(made.json()["csr"].encode())
        old = demo_key.certificate
        subject = CertSubject(organisation=old.subject_o, common_name=old.subject_cn, locality=old.subject_l,
                              province=old.subject_st, email=old.email).to_name()
        rsp = ca_system.certificate_for(csr.public_key(), subject, utcnow().replace(microsecond=0),
                                        paid_order.new_not_after)
        url = ca_system.start(rsp)
        for key, value in {"CA_BACKEND": "cmp", "CA_CMP_URL": url, "CA_CMP_SECRET": SECRET,
                           "CA_CMP_CA_CERT": str(ca_system.cert_path)}.items():
            monkeypatch.setitem(app.config, key, value)

        issued = issue(pc, started.json, made.json())
        assert issued.status_code == 200, issued.json
        assert x509.load_pem_x509_certificate(issued.json["certificate_pem"].encode()) == rsp
        chain = issued.json["chain_pem"]  # what the key stores with it: the CA system's CA, not the local one
        chain = [x509.load_pem_x509_certificate(p.encode()) for p in chain] if isinstance(chain, list) else \
            x509.load_pem_x509_certificates(chain.encode())
        assert chain == [ca_system.cert]
        db_session.refresh(paid_order)
        assert paid_order.status == OrderStatus.ISSUED
        assert paid_order.issued_certificate.serial == format(rsp.serial_number, "X")
        [entry] = db_session.scalars(sa.select(CmpTransaction)).all()
        assert (entry.request_ref, entry.status) == (f"order:{paid_order.id}", "confirmed")
        assert db_session.scalar(sa.select(sa.func.count()).select_from(IssuedCertificate)
                                 .where(IssuedCertificate.serial == entry.serial)) == 1
    finally:
        ca_system.stop()
