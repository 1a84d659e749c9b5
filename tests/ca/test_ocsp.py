"""The OCSP responder, served live and asked by tools nobody on the project wrote: `openssl ocsp` and
pyhanko-certvalidator (revocation required, OCSP only)."""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

from tests.ca.test_ca import SUBJECT, make_csr
from wxbackend.ca.models import IssuedCertificate
from wxbackend.ca.ocsp import OCSP_CERT
from wxbackend.ca.service import (
    get_authority,
    init_ca,
    issue_certificate,
    load_root_signer,
    revoke_certificate,
    sign_root_crl,
)
from wxbackend.core.db import db
from wxbackend.core.times import utcnow


@pytest.fixture(scope="module")
def responder(live):
    """The live app with its CA and a delegated OCSP signer made by `flask ca ocsp-signer`."""
    with live.app_context():
        init_ca(live.config)
    return live


@pytest.fixture
def ocsp_app(responder, live_db, tmp_path):
    result = responder.test_cli_runner().invoke(args=["ca", "ocsp-signer", "--force"])
    assert result.exit_code == 0, result.output
    assert "OCSP signer issued" in result.output
    with responder.app_context():
        authority = get_authority()
        (tmp_path / "issuing.pem").write_bytes(authority.issuing.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "chain.pem").write_text(authority.chain_pem())
    responder.tmp = tmp_path
    return responder


def issue_live(app, name: str) -> tuple[str, x509.Certificate]:
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        record = issue_certificate(make_csr()[1], SUBJECT, now - timedelta(minutes=1), now + timedelta(days=365))
        db.session.commit()
        pem = record.pem
    path = app.tmp / f"{name}.pem"
    path.write_text(pem)
    return str(path), x509.load_pem_x509_certificate(pem.encode())


def revoke_live(app, cert: x509.Certificate, reason: str = "key_compromise") -> None:
    with app.app_context():
        revoke_certificate(format(cert.serial_number, "X"), reason)
        db.session.commit()


def openssl_ocsp(app, *args: str) -> subprocess.CompletedProcess:
    tmp: Path = app.tmp
    return subprocess.run(["openssl", "ocsp", "-issuer", str(tmp / "issuing.pem"), "-CAfile", str(tmp / "chain.pem"),
                           "-url", f"{app.base_url}/ca/ocsp", "-timeout", "10", *args],
                          capture_output=True, text=True, timeout=30)


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def get_ocsp(app, request_der: bytes) -> requests.Response:
    encoded = requests.utils.quote(base64.b64encode(request_der).decode(), safe="")
    return requests.get(f"{app.base_url}/ca/ocsp/{encoded}", timeout=10)


def test_openssl_ocsp_gets_good_revoked_and_unknown_with_its_nonce_echoed(ocsp_app):
    good_path, _ = issue_live(ocsp_app, "good")
    revoked_path, revoked = issue_live(ocsp_app, "revoked")
    revoke_live(ocsp_app, revoked)

    done = openssl_ocsp(ocsp_app, "-cert", good_path)
    assert done.returncode == 0, done.stderr
    assert "Response verify OK" in done.stderr
    assert "WARNING" not in done.stderr  # openssl warns when the nonce is missing or differs
    assert f"{good_path}: good" in done.stdout

    done = openssl_ocsp(ocsp_app, "-cert", revoked_path)
    assert done.returncode == 0, done.stderr
    assert "Response verify OK" in done.stderr
    assert f"{revoked_path}: revoked" in done.stdout
    assert "Reason: keyCompromise" in done.stdout
    assert "Revocation Time:" in done.stdout

    done = openssl_ocsp(ocsp_app, "-cert", good_path, "-cert", revoked_path, "-serial", "0x7F3A55AA01")
    assert done.returncode == 0, done.stderr  # several certificates in one request, answered in order
    assert "Response verify OK" in done.stderr and "WARNING" not in done.stderr
    assert re.search(rf"{good_path}: good.*{revoked_path}: revoked.*0x7F3A55AA01: unknown", done.stdout, re.S)

    done = openssl_ocsp(ocsp_app, "-serial", "0x7F3A55AA01")
    assert done.returncode == 0, done.stderr
    assert "Response verify OK" in done.stderr
    assert re.search(r"0x7F3A55AA01: unknown", done.stdout)


def test_nonce_is_echoed_and_the_response_is_signed_by_the_delegated_signer(ocsp_app):
    _, cert = issue_live(ocsp_app, "ee")
    with ocsp_app.app_context():
        issuing = get_authority().issuing
    nonce = b"\x01\x02 nonce of sixteen"[:16]
    answer = requests.post(f"{ocsp_app.base_url}/ca/ocsp", data=ocsp_request(cert, issuing, nonce), timeout=10,
                           headers={"Content-Type": "application/ocsp-request"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/ocsp-response"
    response = ocsp.load_der_ocsp_response(answer.content)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD

    signer = response.certificates[0]
    assert signer.serial_number != issuing.serial_number
    signer.verify_directly_issued_by(issuing)
    assert ExtendedKeyUsageOID.OCSP_SIGNING in signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert signer.extensions.get_extension_for_class(x509.OCSPNoCheck)
    assert signer.public_key().public_numbers() != issuing.public_key().public_numbers()
    with ocsp_app.app_context():  # recorded like every certificate the issuing CA signs
        assert db.session.query(IssuedCertificate).filter_by(serial=format(signer.serial_number, "X")).one()


def issue_with_ocsp_aia(app) -> x509.Certificate:
    """An end-entity certificate issued as the product issues it, its AIA naming the live responder (CA_OCSP_URL)."""
    saved = app.config["CA_OCSP_URL"]
    app.config["CA_OCSP_URL"] = f"{app.base_url}/ca/ocsp"
    try:
        now = utcnow().replace(microsecond=0)
        with app.app_context():
            record = issue_certificate(make_csr()[1], SUBJECT, now - timedelta(minutes=1), now + timedelta(days=30))
            db.session.commit()
            pem = record.pem
    finally:
        app.config["CA_OCSP_URL"] = saved
    return x509.load_pem_x509_certificate(pem.encode())


def test_pyhanko_certvalidator_requires_ocsp_and_refuses_the_revoked_certificate(ocsp_app):
    good, revoked = issue_with_ocsp_aia(ocsp_app), issue_with_ocsp_aia(ocsp_app)
    revoke_live(ocsp_app, revoked, "superseded")
    with ocsp_app.app_context():
        authority = get_authority()
        root_crl = sign_root_crl(ocsp_app.config, load_root_signer(ocsp_app.config)).der
        db.session.commit()

    def asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    def validate(cert: x509.Certificate):
        # the end entity's status only from OCSP, fetched by the validator from the live responder (with its
        # nonce); the issuing CA's from the root's CRL; both required
        policy = CertRevTrustPolicy(RevocationCheckingPolicy(ee_certificate_rule=RevocationCheckingRule.OCSP_REQUIRED,
                                                             intermediate_ca_cert_rule=RevocationCheckingRule.CRL_REQUIRED))
        context = ValidationContext(trust_roots=[asn1(authority.root)], other_certs=[asn1(authority.issuing)],
                                    crls=[root_crl], revinfo_policy=policy, allow_fetching=True)
        return asyncio.run(CertificateValidator(asn1(cert), validation_context=context).async_validate_usage(set()))

    path = validate(good)
    assert path.leaf.serial_number == good.serial_number
    with pytest.raises(RevokedError):
        validate(revoked)


def test_get_is_cached_until_the_status_changes(ocsp_app):
    _, cert = issue_live(ocsp_app, "ee")
    with ocsp_app.app_context():
        issuing = get_authority().issuing
    request_der = ocsp_request(cert, issuing)
    first, second = get_ocsp(ocsp_app, request_der), get_ocsp(ocsp_app, request_der)
    assert first.content == second.content  # the same signed response, from the cache
    assert "max-age=" in first.headers["Cache-Control"]
    assert ocsp.load_der_ocsp_response(first.content).certificate_status == ocsp.OCSPCertStatus.GOOD

    revoke_live(ocsp_app, cert, "key_compromise")
    after = ocsp.load_der_ocsp_response(get_ocsp(ocsp_app, request_der).content)
    assert after.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert after.revocation_reason == x509.ReasonFlags.key_compromise
    assert after.revocation_time_utc <= utcnow()


@pytest.mark.parametrize("body", [b"", b"not an OCSP request", b"\x30\x03\x02\x01\x01", b"\x30" + b"\x82" * 20_000])
def test_malformed_posts_get_malformed_request_not_an_error_page(ocsp_app, body):
    answer = requests.post(f"{ocsp_app.base_url}/ca/ocsp", data=body, timeout=10,
                           headers={"Content-Type": "application/ocsp-request"})
    assert answer.status_code == 200
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_malformed_gets_and_oversized_nonces_get_malformed_request(ocsp_app):
    _, cert = issue_live(ocsp_app, "ee")
    with ocsp_app.app_context():
        issuing = get_authority().issuing
    for path in ("%%%", "bm90IGFuIE9DU1AgcmVxdWVzdA==", "MIIB//8+a//", "MA%3D%3D"):
        answer = requests.get(f"{ocsp_app.base_url}/ca/ocsp/{path}", timeout=10)
        assert answer.status_code == 200, path
        assert ocsp.load_der_ocsp_response(answer.content).response_status == \
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    too_long = get_ocsp(ocsp_app, ocsp_request(cert, issuing, b"n" * 64))
    assert ocsp.load_der_ocsp_response(too_long.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_a_request_for_another_ca_is_unauthorized(ocsp_app):
    _, cert = issue_live(ocsp_app, "ee")
    with ocsp_app.app_context():
        root = get_authority().root  # the root is not the issuer this responder answers for
    answer = get_ocsp(ocsp_app, ocsp_request(cert, root))
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_ocsp_signer_command_renews_only_when_due(ocsp_app):
    runner = ocsp_app.test_cli_runner()
    before = (Path(ocsp_app.config["CA_DIR"]) / OCSP_CERT).read_bytes()
    result = runner.invoke(args=["ca", "ocsp-signer"])
    assert result.exit_code == 0 and "nothing changed" in result.output
    assert (Path(ocsp_app.config["CA_DIR"]) / OCSP_CERT).read_bytes() == before

    _, cert = issue_live(ocsp_app, "ee")
    result = runner.invoke(args=["ca", "ocsp-signer", "--force"])
    assert result.exit_code == 0 and "OCSP signer issued" in result.output
    renewed = x509.load_pem_x509_certificate((Path(ocsp_app.config["CA_DIR"]) / OCSP_CERT).read_bytes())
    with ocsp_app.app_context():
        issuing = get_authority().issuing
    response = ocsp.load_der_ocsp_response(get_ocsp(ocsp_app, ocsp_request(cert, issuing)).content)
    assert response.certificates[0].serial_number == renewed.serial_number  # the new signer answers at once


def test_ca_init_makes_the_ocsp_signer_of_the_new_ca(app, db_session, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CA_DIR", str(tmp_path / "ca"))
    result = app.test_cli_runner().invoke(args=["ca", "init"])
    assert result.exit_code == 0, result.output
    assert "OCSP signer issued" in result.output
    issuing = x509.load_pem_x509_certificate((tmp_path / "ca" / "issuing.crt.pem").read_bytes())
    signer = x509.load_pem_x509_certificate((tmp_path / "ca" / OCSP_CERT).read_bytes())
    signer.verify_directly_issued_by(issuing)
    assert signer.not_valid_after_utc - signer.not_valid_before_utc <= timedelta(days=31)
    assert db_session.query(IssuedCertificate).filter_by(serial=format(signer.serial_number, "X")).one()


def test_without_a_signer_the_responder_says_try_later(app, client, tmp_path, monkeypatch):
    now = utcnow().replace(microsecond=0)
    record = issue_certificate(make_csr()[1], SUBJECT, now, now + timedelta(days=30))
    cert = x509.load_pem_x509_certificate(record.pem.encode())
    monkeypatch.setitem(app.config, "CA_DIR", str(tmp_path))  # the CA's files are there, the signer's are not
    answer = client.post("/ca/ocsp", data=ocsp_request(cert, get_authority().issuing),
                         content_type="application/ocsp-request")
    assert answer.status_code == 200
    assert ocsp.load_der_ocsp_response(answer.data).response_status == ocsp.OCSPResponseStatus.TRY_LATER


def test_the_daily_job_renews_the_signer_only_when_due(app, db_session, tmp_path, monkeypatch):
    from wxbackend.ca.tasks import renew_ocsp_signer

    monkeypatch.setitem(app.config, "CA_DIR", str(tmp_path / "ca"))
    init_ca(app.config)  # a CA without a signer yet
    first = renew_ocsp_signer()
    assert first is not None
    assert renew_ocsp_signer() is None  # a second run keeps the fresh signer
    monkeypatch.setitem(app.config, "CA_OCSP_RENEW_DAYS", 31)  # now within the renewal window
    second = renew_ocsp_signer()
    assert second not in (None, first)
    signer = x509.load_pem_x509_certificate((tmp_path / "ca" / OCSP_CERT).read_bytes())
    assert format(signer.serial_number, "X") == second
