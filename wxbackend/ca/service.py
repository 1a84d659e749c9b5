"""The CA's operations: set up, issue from a CSR, revoke or void, publish the CRL and the chain.

The caller decides the subject and the validity; the CSR only proves possession of the key and carries the
public key. Serials are 128 random bits (the top bit cleared so the DER integer stays positive).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import current_app

from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.ca.signers import FileSigner, Pkcs11Signer, Signer
from wxbackend.ca.transitions import ISSUED_STATES
from wxbackend.ca.x509build import sign_certificate, sign_crl
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError, NotFound
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.core.uow import after_commit

ROOT_KEY = "root.key.pem"
ROOT_CERT = "root.crt.pem"
ISSUING_KEY = "issuing.key.pem"
ISSUING_CERT = "issuing.crt.pem"
CRL_CACHE_KEY = "ca:crl:der"
CRL_VALIDITY = timedelta(days=7)
MIN_RSA_BITS = 2048


class CsrRejected(DomainError):
    code, message = "csr_rejected", "证书请求无效"


class CaNotInitialised(DomainError):
    code, message, status = "ca_not_initialised", "CA 尚未初始化（flask ca init）", 503


@dataclass(frozen=True)
class CertSubject:
    """The subject the backend decides for a customer certificate."""

    organisation: str
    common_name: str
    locality: str = ""
    province: str = ""
    email: str = ""
    country: str = "CN"

    def to_name(self) -> x509.Name:
        parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, self.country)]
        if self.province:
            parts.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, self.province))
        if self.locality:
            parts.append(x509.NameAttribute(NameOID.LOCALITY_NAME, self.locality))
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation))
        parts.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        if self.email:
            parts.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, self.email))
        return x509.Name(parts)


@dataclass
class Authority:
    root: x509.Certificate
    issuing: x509.Certificate
    signer: Signer

    @property
    def chain(self) -> list[x509.Certificate]:
        return [self.issuing, self.root]

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


def random_serial() -> int:
    """128-bit serial: the top bit set so every serial has the same length, the other 127 bits random."""
    return secrets.randbits(127) | (1 << 127)


def serial_hex(serial: int) -> str:
    return format(serial, "X")


def _ca_name(config: dict, cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, config["CA_NAME"]),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _ca_builder(subject: x509.Name, issuer: x509.Name, public_key, issuer_key, years: int,
                path_length: int) -> x509.CertificateBuilder:
    now = utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False)
    )


def init_ca(config: dict) -> bool:
    """Create the root and the issuing CA in CA_DIR; False (and nothing changed) when they already exist.

    With CA_SIGNER=pkcs11 the issuing key is generated inside the HSM token CA_HSM_TOKEN_LABEL.
    """
    ca_dir = Path(config["CA_DIR"])
    if (ca_dir / ISSUING_CERT).exists():
        return False
    ca_dir.mkdir(parents=True, exist_ok=True)
    passphrase = config["CA_KEY_PASSPHRASE"]
    root_signer = FileSigner.create(ca_dir / ROOT_KEY, passphrase)
    root_name = _ca_name(config, f"{config['CA_NAME']} 根CA")
    root_pub = root_signer.public_key()
    root = sign_certificate(_ca_builder(root_name, root_name, root_pub, root_pub, 20, 1), root_signer)
    (ca_dir / ROOT_CERT).write_bytes(root.public_bytes(serialization.Encoding.PEM))

    if config["CA_SIGNER"] == "pkcs11":
        issuing_signer: Signer = Pkcs11Signer.generate(config["CA_HSM_MODULE"], config["CA_HSM_TOKEN_LABEL"],
                                                       config["CA_HSM_PIN"], config["CA_HSM_KEY_LABEL"])
    else:
        issuing_signer = FileSigner.create(ca_dir / ISSUING_KEY, passphrase)
    issuing_name = _ca_name(config, f"{config['CA_NAME']} 证书签发CA")
    issuing = sign_certificate(
        _ca_builder(issuing_name, root_name, issuing_signer.public_key(), root_pub, 10, 0), root_signer)
    (ca_dir / ISSUING_CERT).write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    return True


def load_authority(config: dict) -> Authority:
    ca_dir = Path(config["CA_DIR"])
    if not (ca_dir / ISSUING_CERT).exists():
        raise CaNotInitialised()
    root = x509.load_pem_x509_certificate((ca_dir / ROOT_CERT).read_bytes())
    issuing = x509.load_pem_x509_certificate((ca_dir / ISSUING_CERT).read_bytes())
    if config["CA_SIGNER"] == "pkcs11":
        signer: Signer = Pkcs11Signer(config["CA_HSM_MODULE"], config["CA_HSM_TOKEN_LABEL"], config["CA_HSM_PIN"],
                                      config["CA_HSM_KEY_LABEL"])
    else:
        signer = FileSigner.load(ca_dir / ISSUING_KEY, config["CA_KEY_PASSPHRASE"])
    if signer.public_key().public_numbers() != issuing.public_key().public_numbers():
        raise CaNotInitialised("签发CA的私钥与证书不匹配")
    return Authority(root=root, issuing=issuing, signer=signer)


def get_authority() -> Authority:
    """The app's CA, loaded once per process."""
    authority = current_app.extensions.get("ca_authority")
    if authority is None:
        authority = load_authority(current_app.config)
        current_app.extensions["ca_authority"] = authority
    return authority


def check_csr(csr_pem: str | bytes) -> x509.CertificateSigningRequest:
    """Parse a CSR and check its self-signature and key policy (RSA ≥ 2048 bits). Raises CsrRejected."""
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise CsrRejected("证书请求格式无效") from None
    if not csr.is_signature_valid:
        raise CsrRejected("证书请求签名无效")
    key = csr.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise CsrRejected("证书请求的密钥不符合要求（需 RSA 2048 位及以上）")
    return csr


def issue_certificate(csr_pem: str | bytes, subject: CertSubject, not_before: datetime, not_after: datetime,
                      authority: Authority | None = None) -> IssuedCertificate:
    """Issue an end-entity certificate for the CSR's key with the given subject and validity; record it.

    Raises CsrRejected for a bad CSR or key, DomainError for an empty validity. `authority` defaults to the
    app's CA.
    """
    if not_after <= not_before:
        raise DomainError("有效期无效", code="invalid_validity")
    csr = check_csr(csr_pem)
    authority = authority or get_authority()
    public_key = csr.public_key()
    base_url = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject.to_name())
        .issuer_name(authority.issuing.subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.issuing.public_key()),
                       critical=False)
        .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(f"{base_url}/ca/crl")], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    )
    cert = sign_certificate(builder, authority.signer)
    record = IssuedCertificate(
        serial=serial_hex(cert.serial_number), subject=cert.subject.rfc4514_string(),
        not_before=not_before, not_after=not_after,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )
    db.session.add(record)
    db.session.flush()
    return record


def _issued(serial: str) -> IssuedCertificate:
    record = db.session.scalar(sa.select(IssuedCertificate).where(IssuedCertificate.serial == serial)
                               .with_for_update().execution_options(populate_existing=True))
    if record is None:
        raise NotFound("没有找到该证书")
    return record


def _crl_changed() -> None:
    """The cached CRL is stale: dropped now and again once the change commits (a CRL built meanwhile from the
    uncommitted state of another connection would otherwise be kept)."""
    get_redis().delete(CRL_CACHE_KEY)
    after_commit(lambda: get_redis().delete(CRL_CACHE_KEY))


def revoke_certificate(serial: str, reason: str = "unspecified", *, void: bool = False,
                       invalidity_date: datetime | None = None) -> IssuedCertificate:
    """Put an issued certificate on the CRL (revoked, or voided when it was never installed); a certificate on
    hold becomes revoked. Idempotent for one already revoked or voided.

    A customer's certificate is revoked through `certificates.revocation`, which keeps its status and this record
    together; this function alone is for certificates no customer holds (an unused renewal certificate)."""
    record = _issued(serial)
    if record.status in (IssuedStatus.ISSUED, IssuedStatus.ON_HOLD):
        ISSUED_STATES.move(record, IssuedStatus.VOIDED if void else IssuedStatus.REVOKED)
        record.revoked_at = utcnow()
        record.revocation_reason = reason
        record.invalidity_date = invalidity_date
        db.session.flush()
        _crl_changed()
    return record


def hold_certificate(serial: str, held_at: datetime) -> IssuedCertificate:
    """Suspend an issued certificate: on the next CRL with reason certificateHold, revocation date `held_at`.
    IllegalIssuedTransition unless it is issued (and not already on hold, revoked or voided)."""
    record = _issued(serial)
    ISSUED_STATES.move(record, IssuedStatus.ON_HOLD)
    record.revoked_at = held_at
    record.revocation_reason = "certificate_hold"
    db.session.flush()
    _crl_changed()
    return record


def release_hold(serial: str) -> IssuedCertificate:
    """Lift a hold: the certificate is issued again and simply absent from the next CRL (removeFromCRL
    semantics). IllegalIssuedTransition unless it is on hold."""
    record = _issued(serial)
    ISSUED_STATES.move(record, IssuedStatus.ISSUED)
    record.revoked_at = None
    record.revocation_reason = None
    db.session.flush()
    _crl_changed()
    return record


def find_issued(serial: str) -> IssuedCertificate | None:
    """What the CA issued under `serial` (upper-case hex), or None."""
    return db.session.scalar(sa.select(IssuedCertificate).where(IssuedCertificate.serial == serial))


REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
}


def build_crl() -> bytes:
    """The current CRL (DER) listing revoked, voided and held certificates; cached in Redis until the next change."""
    cached = get_redis().get(CRL_CACHE_KEY)
    if cached:
        return cached
    authority = get_authority()
    now = utcnow()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.issuing.subject)
        .last_update(now)
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.issuing.public_key()),
                       critical=False)
    )
    rows = db.session.scalars(sa.select(IssuedCertificate).where(IssuedCertificate.status != IssuedStatus.ISSUED))
    for row in rows:
        reason = REASONS.get(row.revocation_reason or "", x509.ReasonFlags.unspecified)
        entry = (x509.RevokedCertificateBuilder().serial_number(int(row.serial, 16)).revocation_date(row.revoked_at)
                 .add_extension(x509.CRLReason(reason), critical=False))
        if row.invalidity_date is not None:
            entry = entry.add_extension(x509.InvalidityDate(row.invalidity_date.replace(tzinfo=None)), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    der = sign_crl(builder, authority.signer).public_bytes(serialization.Encoding.DER)
    get_redis().set(CRL_CACHE_KEY, der, ex=int(CRL_VALIDITY.total_seconds() // 2))
    return der
