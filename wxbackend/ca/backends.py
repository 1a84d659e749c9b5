"""Where certificates come from (CA_BACKEND): the embedded local CA, or the CA's own licensed CA system over CMP.

Both behind one interface: `issue` (a CSR with the subject and validity the backend decided), `revoke` and
`status`. Either way every certificate is recorded as an `IssuedCertificate` and revocations land there too, so
the CRL, the OCSP responder and the renewal flow read one table.

The CMP backend journals each transaction (`CmpTransaction`) before it sends anything and keeps the journal when
the unit of work rolls back after an error, so a retry of the same request (`request_ref`, e.g. the order) never
gets a second certificate for it: a certificate already confirmed is reused, one received but not yet confirmed
is confirmed now, and a request whose answer never came is abandoned — we never confirmed it, so the CA system
treats it as not accepted (RFC 4210 certificate confirmation) — before a new one is sent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app

from wxbackend.ca.cmp import CmpClient, CmpError, CmpRefused, CmpSettings, CmpUnavailable
from wxbackend.ca.models import CmpTransaction, CmpTransactionStatus, IssuedCertificate, IssuedStatus
from wxbackend.ca.service import (
    CertSubject,
    check_csr,
    get_authority,
    issue_certificate,
    revoke_certificate,
    serial_hex,
)
from wxbackend.ca.status import REASON_FLAGS, CertificateStatus, certificate_status
from wxbackend.ca.transitions import CMP_STATES
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError, NotFound
from wxbackend.core.uow import keep_after_rollback


class CaBackend(Protocol):
    def issue(self, csr_pem: str | bytes, subject: CertSubject, not_before: datetime, not_after: datetime, *,
              request_ref: str) -> IssuedCertificate: ...

    def revoke(self, serial: str, reason: str | None = None, *, void: bool = False) -> IssuedCertificate: ...

    def status(self, serial: str) -> CertificateStatus: ...

    def chain(self) -> list[x509.Certificate]:
        """The CA certificates above what this backend issues, issuing CA first (what the key stores with it)."""
        ...


class UnknownBackend(DomainError):
    code, message, status = "ca_backend_unknown", "CA_BACKEND 配置无效（local 或 cmp）", 503


def get_backend() -> CaBackend:
    """The backend CA_BACKEND names."""
    kind = current_app.config.get("CA_BACKEND", "local")
    if kind == "local":
        return LocalBackend()
    if kind == "cmp":
        return CmpBackend(CmpClient(CmpSettings.from_config(current_app.config)))
    raise UnknownBackend()


class LocalBackend:
    """The embedded local CA (wxbackend.ca.service)."""

    def issue(self, csr_pem, subject, not_before, not_after, *, request_ref: str = "") -> IssuedCertificate:
        return issue_certificate(csr_pem, subject, not_before, not_after)

    def revoke(self, serial: str, reason: str | None = None, *, void: bool = False) -> IssuedCertificate:
        return revoke_certificate(serial, reason, void=void)

    def status(self, serial: str) -> CertificateStatus:
        return certificate_status(int(serial, 16))

    def chain(self) -> list[x509.Certificate]:
        return get_authority().chain


def _keep(journal: CmpTransaction) -> None:
    """The journal row as it is now survives a rollback of the unit of work (the edge then commits it)."""
    values = {column.key: getattr(journal, column.key) for column in CmpTransaction.__table__.columns}
    keep_after_rollback(lambda: db.session.merge(CmpTransaction(**values)))


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class CmpBackend:
    """The CA system at CA_CMP_URL. Raises CmpUnavailable (retryable) or CmpRefused (final) besides CsrRejected."""

    def __init__(self, client: CmpClient):
        self.client = client

    def issue(self, csr_pem, subject, not_before, not_after, *, request_ref: str) -> IssuedCertificate:
        if not_after <= not_before:
            raise DomainError("有效期无效", code="invalid_validity")
        csr = check_csr(csr_pem)
        spki = _spki(csr.public_key())
        key_hash = hashlib.sha256(spki).hexdigest()
        name = subject.to_name()

        previous = db.session.scalars(
            sa.select(CmpTransaction).where(CmpTransaction.request_ref == request_ref, CmpTransaction.kind == "issue")
            .order_by(CmpTransaction.id.desc()).limit(1)).first()
        if previous is not None and previous.public_key_sha256 == key_hash:
            if previous.status == CmpTransactionStatus.CONFIRMED:
                return self._record(x509.load_pem_x509_certificate(previous.cert_pem.encode()))
            if previous.status == CmpTransactionStatus.CERTIFIED:
                reused = self._confirm_again(previous)
                if reused is not None:
                    return reused
        if previous is not None and previous.status in (CmpTransactionStatus.SENT, CmpTransactionStatus.CERTIFIED):
            previous.error = "未经确认，由新的请求取代"
            CMP_STATES.move(previous, CmpTransactionStatus.ABANDONED)
            _keep(previous)

        transaction_id = self.client.new_transaction_id()
        journal = CmpTransaction(transaction_id=transaction_id.hex(), kind="issue", request_ref=request_ref,
                                 public_key_sha256=key_hash, status=CmpTransactionStatus.SENT, error="")
        db.session.add(journal)
        db.session.flush()
        try:
            certified = self.client.certify(transaction_id, spki, name, not_before, not_after)
        except CmpError as error:
            self._failed(journal, error)
            raise
        certificate = certified.certificate
        mismatch = self.client.check_certificate(certificate, spki, name, not_before, not_after)
        if mismatch:
            try:  # tell the CA system we do not accept it
                self.client.confirm(transaction_id, certificate, certified.server_nonce, reject_reason=mismatch)
            except CmpError:
                pass
            refused = CmpRefused(f"CA 系统签发的证书与请求不符：{mismatch}", code="ca_certificate_mismatch")
            self._failed(journal, refused)
            raise refused
        journal.serial = serial_hex(certificate.serial_number)
        journal.cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        journal.server_nonce = certified.server_nonce.hex()
        CMP_STATES.move(journal, CmpTransactionStatus.CERTIFIED)
        try:
            self.client.confirm(transaction_id, certificate, certified.server_nonce)
        except CmpError as error:
            self._failed(journal, error)
            raise
        CMP_STATES.move(journal, CmpTransactionStatus.CONFIRMED)
        return self._record(certificate)

    def _confirm_again(self, journal: CmpTransaction) -> IssuedCertificate | None:
        """certConf once more for a certificate received earlier; None when the CA system no longer knows it."""
        certificate = x509.load_pem_x509_certificate(journal.cert_pem.encode())
        try:
            self.client.confirm(bytes.fromhex(journal.transaction_id), certificate,
                                bytes.fromhex(journal.server_nonce or ""))
        except CmpUnavailable as error:
            self._failed(journal, error)
            raise
        except CmpRefused:
            return None
        CMP_STATES.move(journal, CmpTransactionStatus.CONFIRMED)
        return self._record(certificate)

    def revoke(self, serial: str, reason: str | None = None, *, void: bool = False) -> IssuedCertificate:
        record = db.session.scalar(sa.select(IssuedCertificate).where(IssuedCertificate.serial == serial))
        if record is None:
            raise NotFound("没有找到该证书")
        if record.status != IssuedStatus.ISSUED:
            return record
        certificate = x509.load_pem_x509_certificate(record.pem.encode())
        transaction_id = self.client.new_transaction_id()
        journal = CmpTransaction(transaction_id=transaction_id.hex(), kind="revoke", request_ref=f"serial:{serial}",
                                 serial=serial, status=CmpTransactionStatus.SENT, error="")
        db.session.add(journal)
        db.session.flush()
        try:
            self.client.revoke(transaction_id, certificate, REASON_FLAGS.get(reason))
        except CmpRefused as error:
            if "cert_revoked" not in error.failures:  # revoked already (an earlier answer was lost): done
                self._failed(journal, error)
                raise
        except CmpError as error:
            self._failed(journal, error)
            raise
        CMP_STATES.move(journal, CmpTransactionStatus.CONFIRMED)
        return revoke_certificate(serial, reason, void=void)

    def status(self, serial: str) -> CertificateStatus:
        return certificate_status(int(serial, 16))

    def chain(self) -> list[x509.Certificate]:
        return list(self.client.settings.chain)

    @staticmethod
    def _failed(journal: CmpTransaction, error: CmpError) -> None:
        journal.error = error.message[:200]
        if not error.retryable:
            CMP_STATES.move(journal, CmpTransactionStatus.REFUSED)
        db.session.flush()
        _keep(journal)

    @staticmethod
    def _record(certificate: x509.Certificate) -> IssuedCertificate:
        serial = serial_hex(certificate.serial_number)
        existing = db.session.scalar(sa.select(IssuedCertificate).where(IssuedCertificate.serial == serial))
        if existing is not None:
            return existing
        record = IssuedCertificate(serial=serial, subject=certificate.subject.rfc4514_string(),
                                   not_before=certificate.not_valid_before_utc,
                                   not_after=certificate.not_valid_after_utc,
                                   pem=certificate.public_bytes(serialization.Encoding.PEM).decode())
        db.session.add(record)
        db.session.flush()
        return record
