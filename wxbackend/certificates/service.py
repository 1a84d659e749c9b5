"""Certificate services shared by views, jobs and commands."""

from __future__ import annotations

import base64
import logging
from datetime import datetime

import sqlalchemy as sa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from wxbackend.audit.service import record_audit
from wxbackend.ca.service import credit_code_of, get_authority
from wxbackend.certificates import transitions
from wxbackend.certificates.models import Binding, BindingStatus, CertApp, CertAppStatus, Certificate, CertificateStatus
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.times import utcnow

log = logging.getLogger(__name__)


def mark_expired_certificates(now: datetime | None = None) -> int:
    """Mark valid certificates and active 应用 whose validity has ended as expired (the bulk moves of
    `certificates.transitions`, DESIGN §3).

    Safe to run twice: only rows still marked valid/active and past their end change. Returns how many
    certificates changed.
    """
    now = now or utcnow()
    expired_ids = transitions.expire_certificates(now)
    transitions.expire_apps(now)
    for cert_id in expired_ids:
        record_audit("system", "certificate.expired", target=f"certificate:{cert_id}")
    db.session.flush()
    log.info("marked %d certificates expired", len(expired_ids))
    return len(expired_ids)


def record_certificate(cert: x509.Certificate, *, medium_number: str, legal_representative: str = "",
                       cert_type: str = "org_sign", previous_id: int | None = None,
                       apps: list[tuple[str, datetime]] | None = None) -> Certificate:
    """Store a customer certificate (and its 应用) read from its X.509 form. The subject fields come from the
    certificate itself; the serial is upper-case hex."""

    def field(oid) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""

    record = Certificate(
        serial=format(cert.serial_number, "X"),
        subject_o=field(NameOID.ORGANIZATION_NAME),
        subject_cn=field(NameOID.COMMON_NAME),
        subject_l=field(NameOID.LOCALITY_NAME),
        subject_st=field(NameOID.STATE_OR_PROVINCE_NAME),
        email=field(NameOID.EMAIL_ADDRESS),
        legal_representative=legal_representative,
        credit_code=credit_code_of(cert.subject),
        cert_type=cert_type,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        medium_number=medium_number,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        previous_id=previous_id,
    )
    db.session.add(record)
    for name, expires_at in apps or []:
        record.apps.append(CertApp(name=name, expires_at=expires_at))
    db.session.flush()
    return record


def lock_certificate(certificate_id: int) -> Certificate:
    """The certificate, its row locked until the caller commits (re-read from the database). NotFound."""
    certificate = db.session.scalar(sa.select(Certificate).where(Certificate.id == certificate_id).with_for_update()
                                    .execution_options(populate_existing=True))
    if certificate is None:
        raise NotFound("没有找到该证书")
    return certificate


def supersede(old_certificate_id: int, new_certificate: Certificate, *, replacing_revoked: bool = False) -> Certificate:
    """Put `new_certificate` in the place of the certificate `old_certificate_id` (renewal, DESIGN §5; lost-key
    replacement, §11), all at once under the old certificate's row lock:

    - the new certificate is stored with the old one as its predecessor (`previous_id`: the lineage);
    - every 应用 of the old certificate moves to the new one, keeping its own expiry and status;
    - every active binding of the old certificate is ended and made again on the new one (same users);
    - the old certificate becomes superseded; or, with `replacing_revoked` (a lost key replaced, §11: the old
      certificate was revoked when the replacement was approved), it stays revoked.

    Returns the new certificate, flushed. IllegalCertificateTransition (nothing changed) when the old certificate
    may not be superseded (it already is, or it is revoked; with `replacing_revoked`: when it is not revoked);
    Conflict when the new certificate already descends from another certificate or is the old one itself, or a
    revoked certificate already has its replacement; NotFound when there is no such old certificate."""
    old = lock_certificate(old_certificate_id)
    if replacing_revoked:
        if old.status != CertificateStatus.REVOKED:
            raise transitions.IllegalCertificateTransition("原证书尚未吊销，不能补办")
        if db.session.scalar(sa.select(Certificate.id).where(Certificate.previous_id == old.id)) is not None:
            raise Conflict("该证书已补办过新证书", code="lineage_conflict")
    else:
        transitions.CERTIFICATE_STATES.check(old, CertificateStatus.SUPERSEDED)
    if new_certificate is old or new_certificate.previous_id not in (None, old.id):
        raise Conflict("新证书已属于另一证书的续期链，不能替换该证书", code="lineage_conflict")
    new_certificate.previous_id = old.id
    db.session.add(new_certificate)
    db.session.flush()
    for app in list(old.apps):
        app.certificate = new_certificate
    for binding in db.session.scalars(sa.select(Binding).where(Binding.certificate_id == old.id,
                                                               Binding.status == BindingStatus.ACTIVE)).all():
        end_binding(binding)
        db.session.add(Binding(user_id=binding.user_id, certificate_id=new_certificate.id))
    if not replacing_revoked:
        transitions.CERTIFICATE_STATES.move(old, CertificateStatus.SUPERSEDED)
    db.session.flush()
    return new_certificate


def end_binding(binding: Binding) -> None:
    """The user no longer sees the certificate (unbinding, or a superseded certificate). Flushes;
    IllegalBindingTransition when the binding has already ended."""
    transitions.BINDING_STATES.move(binding, BindingStatus.UNBOUND)
    binding.unbound_at = utcnow()
    db.session.flush()


def bound_user_ids(certificate_id: int) -> list[int]:
    """The users with an active binding to the certificate, by id."""
    return list(db.session.scalars(sa.select(Binding.user_id).where(
        Binding.certificate_id == certificate_id, Binding.status == BindingStatus.ACTIVE).order_by(Binding.user_id)))


def renew_app(app: CertApp, expires_at: datetime) -> None:
    """A paid 应用续期: the 应用's own expiry becomes `expires_at` and it is active again (DESIGN §3). Flushes."""
    app.expires_at = expires_at
    if app.status != CertAppStatus.ACTIVE:
        transitions.APP_STATES.move(app, CertAppStatus.ACTIVE)
    db.session.flush()


def user_certificates(user_id: int) -> list[Certificate]:
    """The certificates the user has an active binding to, soonest expiry first."""
    return list(db.session.scalars(
        sa.select(Certificate).join(Binding, Binding.certificate_id == Certificate.id)
        .where(Binding.user_id == user_id, Binding.status == BindingStatus.ACTIVE)
        .order_by(Certificate.not_after)
    ))


def user_certificate(user_id: int, certificate_id: int) -> Certificate:
    """One certificate the user is bound to; NotFound otherwise (another user's certificate stays hidden)."""
    certificate = db.session.scalar(
        sa.select(Certificate).join(Binding, Binding.certificate_id == Certificate.id)
        .where(Binding.user_id == user_id, Binding.status == BindingStatus.ACTIVE, Certificate.id == certificate_id)
    )
    if certificate is None:
        raise NotFound("没有找到该证书")
    return certificate


class CertificateRefused(DomainError):
    code, message = "certificate_refused", "该证书无法办理"


def certificate_from_key(cert_pem: object) -> Certificate:
    """The record of a certificate read from a key: a PEM issued by our CA and on record exactly. Raises
    CertificateRefused with the reason; status rules are the caller's."""

    if not isinstance(cert_pem, str) or len(cert_pem) > 20000:
        raise CertificateRefused("证书格式无效")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise CertificateRefused("证书格式无效") from None
    try:
        cert.verify_directly_issued_by(get_authority().issuing)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateRefused("该证书不是本CA签发的证书") from None
    serial = format(cert.serial_number, "X")
    record = db.session.scalar(sa.select(Certificate).where(Certificate.serial == serial))
    if record is None or x509.load_pem_x509_certificate(record.pem.encode()) != cert:
        raise CertificateRefused("系统中没有该证书的记录，请联系客服")
    return record


def signed_by_certificate(cert_pem: str, data: bytes, signature_b64: object) -> bool:
    """Whether `signature_b64` is an RSA PKCS#1 v1.5 SHA-256 signature over `data` by the certificate's key."""
    try:
        signature = base64.b64decode(signature_b64, validate=True) if isinstance(signature_b64, str) else b""
        public_key = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey) or not signature:
            return False
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (ValueError, InvalidSignature):
        return False
