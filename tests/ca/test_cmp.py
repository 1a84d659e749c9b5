"""CA_BACKEND=cmp against OpenSSL's own CMP mock server (`openssl cmp -port …`), started by the tests.

The mock answers every certificate request with the one certificate it was started with (`-rsp_cert`), so a test
prepares that certificate, signed by a test "CA system", for the key and subject of its CSR; message protection is
the password-based MAC under a shared secret, both ways."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.ca.test_ca import SUBJECT, make_csr
from tests.conftest import free_port
from wxbackend.ca.backends import CmpBackend, LocalBackend, get_backend
from wxbackend.ca.cmp import CmpNotConfigured, CmpRefused, CmpUnavailable
from wxbackend.ca.models import CmpTransaction, IssuedCertificate
from wxbackend.ca.service import CertSubject
from wxbackend.ca.status import RevocationState
from wxbackend.core.times import utcnow
from wxbackend.core.uow import rollback

SECRET = "cmp-shared-secret-for-tests"


class CaSystem:
    """A CA of its own standing in for the CA's licensed CA system, and the mock server speaking for it."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "持证CA系统"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "持证CA系统 签发CA")])
        now = utcnow()
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                     .not_valid_after(now + timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = directory / "cmp-ca.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.process: subprocess.Popen | None = None
        self.log = directory / "mock.log"

    def certificate_for(self, public_key, subject: x509.Name, not_before, not_after) -> x509.Certificate:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))

    def start(self, rsp_cert: x509.Certificate, secret: str = SECRET, *extra: str) -> str:
        path = self.dir / "rsp.pem"
        path.write_bytes(rsp_cert.public_bytes(serialization.Encoding.PEM))
        port = free_port()
        self.process = subprocess.Popen(
            ["openssl", "cmp", "-port", str(port), "-srv_ref", "ca-system", "-srv_secret", f"pass:{secret}",
             "-rsp_cert", str(path), "-accept_raverified", "-verbosity", "7", *extra],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return f"http://127.0.0.1:{port}/"
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"openssl cmp mock did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def seen(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def ca_system(tmp_path):
    system = CaSystem(tmp_path)
    yield system
    system.stop()


@pytest.fixture
def use_cmp(app, monkeypatch, ca_system):
    """CA_BACKEND=cmp pointed at a URL the test sets; returns a function giving the backend for a URL."""
    def configure(url: str, secret: str = SECRET):
        for key, value in {"CA_BACKEND": "cmp", "CA_CMP_URL": url, "CA_CMP_SECRET": secret,
                           "CA_CMP_REFERENCE": "cagj-ra", "CA_CMP_CA_CERT": str(ca_system.cert_path),
                           "CA_CMP_TIMEOUT_SECONDS": 3}.items():
            monkeypatch.setitem(app.config, key, value)
        backend = get_backend()
        assert isinstance(backend, CmpBackend)
        return backend
    return configure


def validity():
    now = utcnow().replace(microsecond=0)
    return now, now + timedelta(days=365)


def request():
    key, csr = make_csr()
    not_before, not_after = validity()
    return key, csr, not_before, not_after


def journal(db_session, **where) -> list[CmpTransaction]:
    return list(db_session.scalars(sa.select(CmpTransaction).filter_by(**where).order_by(CmpTransaction.id)))


def issued_count(db_session) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(IssuedCertificate))


def test_issue_with_cert_conf_then_revoke_round_trip(db_session, ca_system, use_cmp):
    key, csr, not_before, not_after = request()
    expected = ca_system.certificate_for(key.public_key(), SUBJECT.to_name(), not_before, not_after)
    backend = use_cmp(ca_system.start(expected))

    record = backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4101")
    assert record.serial == format(expected.serial_number, "X")
    assert x509.load_pem_x509_certificate(record.pem.encode()) == expected
    assert record.status == "issued"
    [entry] = journal(db_session, request_ref="order:4101")
    assert entry.status == "confirmed" and entry.serial == record.serial
    log = ca_system.seen()
    assert "received CR" in log and "received CERTCONF" in log and "sending PKICONF" in log
    assert backend.status(record.serial).state == RevocationState.GOOD

    # the same request again (a retried job, a double click): the certificate already confirmed, no new request
    again = backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4101")
    assert again.id == record.id
    assert log.count("received CR") == ca_system.seen().count("received CR") == 1

    revoked = backend.revoke(record.serial, "key_compromise")
    assert revoked.status == "revoked" and revoked.revocation_reason == "key_compromise"
    assert "received RR" in ca_system.seen() and "sending RP" in ca_system.seen()
    status = backend.status(record.serial)
    assert status.state == RevocationState.REVOKED and status.reason == x509.ReasonFlags.key_compromise
    assert [e.status for e in journal(db_session, kind="revoke")] == ["confirmed"]


@pytest.mark.parametrize("wrong", ["key", "subject"])
def test_a_certificate_for_another_key_or_subject_is_refused_and_nothing_recorded(db_session, ca_system, use_cmp,
                                                                                  wrong):
    key, csr, not_before, not_after = request()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_subject = CertSubject(organisation="别的公司", common_name="别的公司")
    rsp = ca_system.certificate_for(other_key.public_key() if wrong == "key" else key.public_key(),
                                    (other_subject if wrong == "subject" else SUBJECT).to_name(), not_before, not_after)
    backend = use_cmp(ca_system.start(rsp))
    before = issued_count(db_session)

    with pytest.raises(CmpRefused) as refused:
        backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4102")
    assert refused.value.code == "ca_certificate_mismatch"
    assert ("公钥" if wrong == "key" else "主题") in refused.value.message
    rollback()  # what the edge does with a refusal
    assert issued_count(db_session) == before
    assert db_session.scalar(sa.select(IssuedCertificate).filter_by(serial=format(rsp.serial_number, "X"))) is None
    [entry] = journal(db_session, request_ref="order:4102")  # the refused transaction stays on file
    assert entry.status == "refused" and entry.serial is None
    assert "received CERTCONF" in ca_system.seen()  # the CA system was told: a rejecting certConf


def test_a_wrong_shared_secret_is_refused_both_ways(db_session, ca_system, use_cmp):
    key, csr, not_before, not_after = request()
    url = ca_system.start(ca_system.certificate_for(key.public_key(), SUBJECT.to_name(), not_before, not_after))
    before = issued_count(db_session)
    backend = use_cmp(url, secret="not-the-shared-secret")
    with pytest.raises(CmpRefused) as refused:
        backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4103")
    # the CA system refused our MAC, and its answer (under its secret) fails ours
    assert refused.value.code == "ca_protection_failed"
    assert "PBM" in ca_system.seen() or "protection" in ca_system.seen()
    rollback()
    assert issued_count(db_session) == before


def test_an_unprotected_answer_is_refused(db_session, ca_system, use_cmp):
    key, csr, not_before, not_after = request()
    rsp = ca_system.certificate_for(key.public_key(), SUBJECT.to_name(), not_before, not_after)
    backend = use_cmp(ca_system.start(rsp, SECRET, "-send_unprotected"))
    before = issued_count(db_session)
    with pytest.raises(CmpRefused) as refused:
        backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4104")
    assert "完整性保护" in refused.value.message
    rollback()
    assert issued_count(db_session) == before


def test_an_unreachable_ca_system_is_retryable_and_the_retry_issues_once(db_session, ca_system, use_cmp):
    key, csr, not_before, not_after = request()
    backend = use_cmp(f"http://127.0.0.1:{free_port()}/")  # nobody listens there
    with pytest.raises(CmpUnavailable) as unavailable:
        backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4105")
    assert unavailable.value.retryable and unavailable.value.status == 503
    rollback()
    [lost] = journal(db_session, request_ref="order:4105")  # written before sending, kept across the rollback
    assert lost.status == "sent"
    before = issued_count(db_session)

    rsp = ca_system.certificate_for(key.public_key(), SUBJECT.to_name(), not_before, not_after)
    backend = use_cmp(ca_system.start(rsp))
    record = backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4105")
    assert record.serial == format(rsp.serial_number, "X")
    assert issued_count(db_session) == before + 1
    assert [e.status for e in journal(db_session, request_ref="order:4105")] == ["abandoned", "confirmed"]


def test_an_error_answer_of_the_ca_system_is_a_final_refusal(db_session, ca_system, use_cmp):
    key, csr, not_before, not_after = request()
    rsp = ca_system.certificate_for(key.public_key(), SUBJECT.to_name(), not_before, not_after)
    backend = use_cmp(ca_system.start(rsp, SECRET, "-send_error"))
    with pytest.raises(CmpRefused) as refused:
        backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4106")
    assert not refused.value.retryable
    assert refused.value.message.startswith("CA 系统拒绝了该请求")


def test_the_local_backend_is_the_default_and_cmp_needs_its_settings(app, db_session, monkeypatch):
    assert isinstance(get_backend(), LocalBackend)
    monkeypatch.setitem(app.config, "CA_BACKEND", "cmp")
    monkeypatch.setitem(app.config, "CA_CMP_URL", "")
    with pytest.raises(CmpNotConfigured):
        get_backend()


def test_an_answer_that_is_not_cmp_is_refused(db_session, ca_system, use_cmp, fake_wechat_server):
    key, csr, not_before, not_after = request()
    backend = use_cmp(fake_wechat_server.base_url + "cgi-bin/token")  # an HTTP server that does not speak CMP
    before = issued_count(db_session)
    with pytest.raises((CmpRefused, CmpUnavailable)) as refused:
        backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4107")
    assert refused.value.code in ("ca_refused", "ca_unavailable")
    rollback()
    assert issued_count(db_session) == before


def test_a_delayed_answer_is_polled_for(db_session, ca_system, use_cmp):
    key, csr, not_before, not_after = request()
    rsp = ca_system.certificate_for(key.public_key(), SUBJECT.to_name(), not_before, not_after)
    backend = use_cmp(ca_system.start(rsp, SECRET, "-poll_count", "2", "-check_after", "1"))
    record = backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4108")
    assert record.serial == format(rsp.serial_number, "X")
    assert ca_system.seen().count("received POLLREQ") == 2


def test_an_answer_delayed_beyond_the_timeout_is_retryable(db_session, ca_system, use_cmp):
    key, csr, not_before, not_after = request()
    rsp = ca_system.certificate_for(key.public_key(), SUBJECT.to_name(), not_before, not_after)
    backend = use_cmp(ca_system.start(rsp, SECRET, "-poll_count", "50", "-check_after", "1"))  # 3 s timeout
    with pytest.raises(CmpUnavailable) as waiting:
        backend.issue(csr, SUBJECT, not_before, not_after, request_ref="order:4109")
    assert "仍在处理" in waiting.value.message
    rollback()
    assert [e.status for e in journal(db_session, request_ref="order:4109")] == ["sent"]
