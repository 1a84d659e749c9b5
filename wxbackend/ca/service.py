"""The CA's operations (DESIGN §6, §17): set up, issue from a CSR, revoke or void, publish the CRLs and the chain.

The caller decides the subject and the validity; the CSR only proves possession of the key and carries the
public key. Serials are 128 random bits (the top bit cleared so the DER integer stays positive). The extensions
of every kind of certificate are in `profiles`.

The hierarchy: a root CA whose key can live offline (`flask ca init --root-key-out`), and the issuing CA whose
key is online (a file or an HSM). The issuing CA's CRL (`/ca/crl`) is signed on demand and numbered from a
database counter; the root's CRL (`/ca/root.crl`) is signed at a ceremony (`flask ca root-crl`) and kept in the
database; it lists the issuing CA certificates the root revoked.
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
from cryptography.x509.oid import NameOID
from flask import current_app, has_app_context

from wxbackend.ca import profiles
from wxbackend.ca.models import CrlNumber, IssuedCertificate, IssuedStatus, RevokedAuthority, RootCrl
from wxbackend.ca.signers import FileSigner, Pkcs11Signer, Signer
from wxbackend.ca.transitions import ISSUED_STATES
from wxbackend.ca.x509build import sign_certificate, sign_crl
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError, NotFound
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.core.uow import after_commit
from wxbackend.core.validation import credit_code_problem

ROOT_KEY = "root.key.pem"
ROOT_CERT = "root.crt.pem"
ISSUING_KEY = "issuing.key.pem"
ISSUING_CERT = "issuing.crt.pem"
CRL_CACHE_KEY = "ca:crl:der"
CRL_VALIDITY = timedelta(days=7)
ROOT_CRL_VALIDITY = timedelta(days=365)  # signed at a ceremony: re-sign at least every six months
MIN_RSA_BITS = 2048


class CsrRejected(DomainError):
    code, message = "csr_rejected", "证书请求无效"


class CaNotInitialised(DomainError):
    code, message, status = "ca_not_initialised", "CA 尚未初始化（flask ca init）", 503


class RootKeyUnavailable(DomainError):
    code, message, status = "root_key_unavailable", "根CA私钥不可用（离线保存时请用 --root-key 指定）", 503


class RootCrlMissing(DomainError):
    code, message, status = "root_crl_missing", "根CA尚未签发CRL（flask ca root-crl）", 404


CREDIT_CODE_PREFIX = "NTRCN-"  # ETSI EN 319 412-1 §5.1.4: national trade register (NTR), China (CN)


def credit_code_of(name: x509.Name) -> str:
    """The unified social credit code in a subject's organizationIdentifier, or ""."""
    for attribute in name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER):
        value = str(attribute.value)
        if value.startswith(CREDIT_CODE_PREFIX):
            return value[len(CREDIT_CODE_PREFIX):]
    return ""


@dataclass(frozen=True)
class CertSubject:
    """The subject the backend decides for a customer certificate."""

    organisation: str
    common_name: str
    locality: str = ""
    province: str = ""
    email: str = ""
    country: str = "CN"
    credit_code: str = ""  # 统一社会信用代码 (GB 32100), as organizationIdentifier NTRCN-<code> (ETSI EN 319 412-1)

    def to_name(self) -> x509.Name:
        parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, self.country)]
        if self.province:
            parts.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, self.province))
        if self.locality:
            parts.append(x509.NameAttribute(NameOID.LOCALITY_NAME, self.locality))
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation))
        if self.credit_code:
            parts.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, CREDIT_CODE_PREFIX + self.credit_code))
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


def _builder(subject: x509.Name, issuer: x509.Name, public_key, not_before: datetime,
             not_after: datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(random_serial()).not_valid_before(not_before).not_valid_after(not_after))


def _issuing_certificate(config: dict, subject: x509.Name, public_key, root: x509.Certificate, root_signer: Signer,
                         not_after: datetime) -> x509.Certificate:
    builder = _builder(subject, root.subject, public_key, utcnow() - timedelta(minutes=5),
                       min(not_after, root.not_valid_after_utc))
    extensions = profiles.issuing_ca_extensions(public_key, root.public_key(), profiles.PkiUrls.from_config(config))
    return sign_certificate(profiles.with_extensions(builder, extensions), root_signer)


def init_ca(config: dict, root_key_path: Path | str | None = None) -> bool:
    """Create the root and the issuing CA in CA_DIR; False (and nothing changed) when they already exist.

    With CA_SIGNER=pkcs11 the issuing key is generated inside the HSM token CA_HSM_TOKEN_LABEL. The root key goes
    to `root_key_path` when given (removable media: CA_DIR then holds no root key), else into CA_DIR.
    """
    ca_dir = Path(config["CA_DIR"])
    if (ca_dir / ISSUING_CERT).exists():
        return False
    ca_dir.mkdir(parents=True, exist_ok=True)
    passphrase = config["CA_KEY_PASSPHRASE"]
    root_signer = FileSigner.create(Path(root_key_path) if root_key_path else ca_dir / ROOT_KEY, passphrase)
    root_name = _ca_name(config, f"{config['CA_NAME']} 根CA")
    root_pub = root_signer.public_key()
    now = utcnow()
    root_builder = _builder(root_name, root_name, root_pub, now - timedelta(minutes=5), now + timedelta(days=365 * 20))
    root = sign_certificate(profiles.with_extensions(root_builder, profiles.root_ca_extensions(root_pub)), root_signer)
    (ca_dir / ROOT_CERT).write_bytes(root.public_bytes(serialization.Encoding.PEM))

    if config["CA_SIGNER"] == "pkcs11":
        issuing_signer: Signer = Pkcs11Signer.generate(config["CA_HSM_MODULE"], config["CA_HSM_TOKEN_LABEL"],
                                                       config["CA_HSM_PIN"], config["CA_HSM_KEY_LABEL"])
    else:
        issuing_signer = FileSigner.create(ca_dir / ISSUING_KEY, passphrase)
    issuing_name = _ca_name(config, f"{config['CA_NAME']} 证书签发CA")
    issuing = _issuing_certificate(config, issuing_name, issuing_signer.public_key(), root, root_signer,
                                   now + timedelta(days=365 * 10))
    (ca_dir / ISSUING_CERT).write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    return True


def _root_certificate(config: dict) -> x509.Certificate:
    path = Path(config["CA_DIR"]) / ROOT_CERT
    if not path.exists():
        raise CaNotInitialised()
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_root_signer(config: dict, root_key_path: Path | str | None = None) -> FileSigner:
    """The root CA's key, from `root_key_path` (the offline media) or CA_DIR; RootKeyUnavailable when it is not
    there or is not the root certificate's key."""
    path = Path(root_key_path) if root_key_path else Path(config["CA_DIR"]) / ROOT_KEY
    if not path.exists():
        raise RootKeyUnavailable()
    try:
        signer = FileSigner.load(path, config["CA_KEY_PASSPHRASE"])
    except ValueError:
        raise RootKeyUnavailable("根CA私钥无法读取（文件或口令不对）") from None
    if signer.public_key().public_numbers() != _root_certificate(config).public_key().public_numbers():
        raise RootKeyUnavailable("该私钥不是本CA根证书的私钥")
    return signer


def issuing_certificates(config: dict) -> list[x509.Certificate]:
    """Every issuing CA certificate the root signed that CA_DIR keeps: the current one first, then those it
    replaced (`issuing.<SERIAL>.crt.pem`)."""
    ca_dir = Path(config["CA_DIR"])
    if not (ca_dir / ISSUING_CERT).exists():
        raise CaNotInitialised()
    paths = [ca_dir / ISSUING_CERT, *sorted(ca_dir.glob("issuing.*.crt.pem"))]
    return [x509.load_pem_x509_certificate(path.read_bytes()) for path in paths]


_CURRENT_ISSUING: dict[str, tuple[bytes, datetime]] = {}  # the issuing certificate file → (its bytes, not_after)


def issuing_not_after(config: dict) -> datetime | None:
    """When the current issuing CA certificate ends: nothing it issues outlasts it. None before `flask ca init`.
    Every eligibility check asks (待办事项 once per certificate): the file is read each time (a reissued
    certificate, written by another process, counts at once) but parsed only when its bytes changed."""
    path = Path(config["CA_DIR"]) / ISSUING_CERT
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    cached = _CURRENT_ISSUING.get(str(path))
    if cached is not None and cached[0] == pem:
        return cached[1]
    not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    _CURRENT_ISSUING[str(path)] = (pem, not_after)
    return not_after


def issuing_certificate_is_revocable(config: dict) -> bool:
    """Whether the current issuing CA certificate names the root's CRL (those made before issue 17 do not)."""
    try:
        issuing_certificates(config)[0].extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return False
    return True


def reissue_issuing_certificate(config: dict, root_signer: Signer) -> x509.Certificate:
    """Sign a new certificate for the same issuing key with today's profile (the root CRL's distribution point,
    the policy), keeping its subject and not_after; the old one is kept as `issuing.<SERIAL>.crt.pem`. Every
    certificate the issuing CA signed chains to either. Other processes load it when restarted."""
    ca_dir = Path(config["CA_DIR"])
    old = issuing_certificates(config)[0]
    root = _root_certificate(config)
    new = _issuing_certificate(config, old.subject, old.public_key(), root, root_signer, old.not_valid_after_utc)
    (ca_dir / f"issuing.{serial_hex(old.serial_number)}.crt.pem").write_bytes(
        old.public_bytes(serialization.Encoding.PEM))
    (ca_dir / ISSUING_CERT).write_bytes(new.public_bytes(serialization.Encoding.PEM))
    if has_app_context():
        current_app.extensions.pop("ca_authority", None)
    return new


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

    Raises CsrRejected for a bad CSR or key, DomainError for an empty validity or a bad credit code. The validity
    ends at the issuing CA's not_after at the latest. `authority` defaults to the app's CA.
    """
    if not_after <= not_before:
        raise DomainError("有效期无效", code="invalid_validity")
    if subject.credit_code and (problem := credit_code_problem(subject.credit_code)):
        raise DomainError(problem, code="invalid_credit_code")
    csr = check_csr(csr_pem)
    authority = authority or get_authority()
    # never beyond the issuing CA itself (an order may buy more years than the CA has left)
    not_after = min(not_after, authority.issuing.not_valid_after_utc)
    if not_after <= not_before:
        raise DomainError("签发CA的有效期不足，无法签发该证书", code="issuing_ca_expiring")
    public_key = csr.public_key()
    builder = _builder(subject.to_name(), authority.issuing.subject, public_key, not_before, not_after)
    extensions = profiles.signing_extensions(public_key, authority.issuing.public_key(),
                                             profiles.PkiUrls.from_config(current_app.config), subject.email)
    builder = profiles.with_extensions(builder, extensions)
    cert = sign_certificate(builder, authority.signer)
    record = IssuedCertificate(
        serial=serial_hex(cert.serial_number), subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
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


def revoke_certificate(serial: str, reason: str | None = None, *, void: bool = False,
                       invalidity_date: datetime | None = None) -> IssuedCertificate:
    """Put an issued certificate on the CRL (revoked, or voided when it was never installed); a certificate on
    hold becomes revoked. Idempotent for one already revoked or voided. No reason (or "unspecified") puts no
    reasonCode on the CRL entry (RFC 5280 §5.3.1); `invalidity_date` becomes the entry's invalidityDate.

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
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
}


def next_crl_number(issuer: str) -> int:
    """The next CRL number of `issuer` ("issuing" | "root"), from the database counter; the row stays locked
    until the unit of work commits, so two CRLs never share a number."""
    number = db.session.execute(
        sa.update(CrlNumber).where(CrlNumber.issuer == issuer).values(last_number=CrlNumber.last_number + 1)
        .returning(CrlNumber.last_number)).scalar()
    if number is None:
        db.session.add(CrlNumber(issuer=issuer, last_number=1))
        db.session.flush()
        number = 1
    return number


def _revoked_entry(serial: str, revoked_at: datetime, reason: str | None,
                   invalidity_date: datetime | None = None) -> x509.RevokedCertificate:
    entry = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(revoked_at)
    if reason in REASONS:  # "unspecified" and no reason: no reasonCode extension (RFC 5280 §5.3.1)
        entry = entry.add_extension(x509.CRLReason(REASONS[reason]), critical=False)
    if invalidity_date is not None:  # when the key was lost, for a hold made a revocation (RFC 5280 §5.3.2)
        entry = entry.add_extension(x509.InvalidityDate(invalidity_date.replace(tzinfo=None)), critical=False)
    return entry.build()


def _crl_builder(issuer: x509.Certificate, this_update: datetime, validity: timedelta,
                 number: int) -> x509.CertificateRevocationListBuilder:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(this_update + validity)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
    )


def build_crl(authority: Authority | None = None) -> bytes:
    """The issuing CA's current CRL (DER) listing revoked, voided and held certificates, numbered from the database.
    The app's CRL is cached in Redis (from the commit of the unit of work that numbered it) until the next
    change; an explicitly given `authority` gets a fresh one."""
    cache = authority is None
    if cache and (cached := get_redis().get(CRL_CACHE_KEY)):
        return cached
    authority = authority or get_authority()
    now = utcnow().replace(microsecond=0)
    builder = _crl_builder(authority.issuing, now, CRL_VALIDITY, next_crl_number("issuing"))
    rows = db.session.scalars(sa.select(IssuedCertificate).where(IssuedCertificate.status != IssuedStatus.ISSUED))
    for row in rows:
        builder = builder.add_revoked_certificate(_revoked_entry(row.serial, row.revoked_at, row.revocation_reason,
                                                                 row.invalidity_date))
    der = sign_crl(builder, authority.signer).public_bytes(serialization.Encoding.DER)
    if cache:
        after_commit(lambda: get_redis().set(CRL_CACHE_KEY, der, ex=int(CRL_VALIDITY.total_seconds() // 2)))
    return der


def revoke_issuing_ca(config: dict, serial: str, reason: str | None = None) -> RevokedAuthority:
    """Record that the root revokes the issuing CA certificate `serial` (current or replaced); it is on the next
    root CRL (`sign_root_crl`). Idempotent; NotFound for a serial that is no issuing certificate of this CA."""
    certificate = next((c for c in issuing_certificates(config) if serial_hex(c.serial_number) == serial.upper()),
                       None)
    if certificate is None:
        raise NotFound("没有找到该签发CA证书")
    record = db.session.scalar(sa.select(RevokedAuthority).where(RevokedAuthority.serial == serial.upper()))
    if record is None:
        record = RevokedAuthority(serial=serial.upper(), subject=certificate.subject.rfc4514_string(),
                                  revoked_at=utcnow().replace(microsecond=0), revocation_reason=reason)
        db.session.add(record)
        db.session.flush()
    return record


def sign_root_crl(config: dict, root_signer: Signer) -> RootCrl:
    """Sign the root CA's CRL now (the revoked CA certificates, valid ROOT_CRL_VALIDITY) and keep it as the one
    /ca/root.crl serves."""
    root = _root_certificate(config)
    now = utcnow().replace(microsecond=0)
    builder = _crl_builder(root, now, ROOT_CRL_VALIDITY, next_crl_number("root"))
    for row in db.session.scalars(sa.select(RevokedAuthority).order_by(RevokedAuthority.id)):
        builder = builder.add_revoked_certificate(_revoked_entry(row.serial, row.revoked_at, row.revocation_reason))
    crl = sign_crl(builder, root_signer)
    record = RootCrl(crl_number=crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number,
                     this_update=now, next_update=now + ROOT_CRL_VALIDITY,
                     der=crl.public_bytes(serialization.Encoding.DER))
    db.session.add(record)
    db.session.flush()
    return record


def current_root_crl() -> RootCrl:
    """The newest root CRL; RootCrlMissing before the first ceremony."""
    record = db.session.scalar(sa.select(RootCrl).order_by(RootCrl.crl_number.desc()).limit(1))
    if record is None:
        raise RootCrlMissing()
    return record
