from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.support.x509check import verify_chain
from wxbackend.ca.models import IssuedCertificate
from wxbackend.ca.service import CertSubject, CsrRejected, get_authority, issue_certificate, revoke_certificate
from wxbackend.core.times import utcnow

SUBJECT = CertSubject(organisation="广州某某科技有限公司", common_name="广州某某科技有限公司", locality="广州市",
                      province="广东省", email="it@example.cn")


def make_csr(bits=2048, cn="anything the client says"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "攻击者公司"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def issue(**kw):
    now = utcnow().replace(microsecond=0)
    _, csr = make_csr()
    record = issue_certificate(csr, SUBJECT, now, now + timedelta(days=365), **kw)
    return record, x509.load_pem_x509_certificate(record.pem.encode())


def test_issued_certificate_verifies_against_the_chain(db_session):
    record, cert = issue()
    authority = get_authority()
    assert verify_chain(cert, authority.issuing, authority.root).endswith(": OK")
    authority.issuing.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                          hashes.SHA256())
    assert db_session.get(IssuedCertificate, record.id).serial == format(cert.serial_number, "X")


def test_subject_comes_from_the_caller_not_the_csr(db_session):
    _, cert = issue()
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "广州某某科技有限公司"
    assert "攻击者公司" not in cert.subject.rfc4514_string()
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_serials_are_unique_random_and_at_least_64_bits(db_session):
    serials = [issue()[1].serial_number for _ in range(8)]
    assert len(set(serials)) == len(serials)
    assert all(s.bit_length() >= 64 for s in serials)
    assert all(s.bit_length() == 128 for s in serials)


def test_csr_with_a_broken_signature_is_rejected(db_session):
    _, csr_pem = make_csr()
    der = bytearray(x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    now = utcnow()
    with pytest.raises(CsrRejected, match="签名无效"):
        issue_certificate(broken, SUBJECT, now, now + timedelta(days=1))


def test_weak_key_and_garbage_are_rejected(db_session):
    _, weak = make_csr(bits=1024)
    now = utcnow()
    with pytest.raises(CsrRejected, match="2048"):
        issue_certificate(weak, SUBJECT, now, now + timedelta(days=1))
    with pytest.raises(CsrRejected, match="格式无效"):
        issue_certificate("not a csr", SUBJECT, now, now + timedelta(days=1))


def test_revoked_serial_is_listed_in_the_crl_served_at_a_stable_url(client, db_session):
    revoked, revoked_cert = issue()
    _, kept_cert = issue()
    before = x509.load_der_x509_crl(client.get("/ca/crl").data)
    assert before.get_revoked_certificate_by_serial_number(revoked_cert.serial_number) is None

    revoke_certificate(revoked.serial, "key_compromise")
    response = client.get("/ca/crl")
    assert response.status_code == 200
    assert response.mimetype == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.data)
    entry = crl.get_revoked_certificate_by_serial_number(revoked_cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(kept_cert.serial_number) is None
    assert crl.is_signature_valid(get_authority().issuing.public_key())
    dp = revoked_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0]
    assert dp.full_name[0].value == "http://127.0.0.1:5000/ca/crl"


def test_chain_is_published(client, db_session):
    response = client.get("/ca/chain.pem")
    certs = x509.load_pem_x509_certificates(response.data)
    assert [c.subject for c in certs] == [get_authority().issuing.subject, get_authority().root.subject]


def test_unknown_serial_cannot_be_revoked(client, db_session):
    from wxbackend.core.errors import NotFound

    with pytest.raises(NotFound):
        revoke_certificate("ABCDEF")


def test_issuing_not_after_is_read_once_and_again_when_the_file_changes(tmp_path):
    """Every eligibility check asks when the issuing CA ends: it is kept while the file is unchanged, and a
    replaced issuing certificate (written by another process) is read again."""
    from wxbackend.ca import service

    def write_ca(days: int) -> x509.Certificate:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"issuing {days}")])
        now = utcnow().replace(microsecond=0)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + timedelta(days=days)).sign(key, hashes.SHA256()))
        (tmp_path / service.ISSUING_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert

    config = {"CA_DIR": str(tmp_path)}
    assert service.issuing_not_after(config) is None  # before `flask ca init`
    first = write_ca(3650)
    assert service.issuing_not_after(config) == first.not_valid_after_utc
    assert service.issuing_not_after(config) == first.not_valid_after_utc  # from the cache
    replaced = write_ca(400)
    assert service.issuing_not_after(config) == replaced.not_valid_after_utc
