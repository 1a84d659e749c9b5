"""The revocation status of one certificate the CA issued, read from its issued-certificate record.

This is the only place that turns an `IssuedCertificate` row into good / revoked / unknown: the OCSP responder and
the CA backends ask here, so a new status (a hold, say) is decided once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from cryptography import x509

from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.core.db import db


class RevocationState(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # the CA never issued this serial


REASON_FLAGS = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
    "privilege_withdrawn": x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True)
class CertificateStatus:
    state: RevocationState
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None  # None: no reason given ("unspecified" is never sent, RFC 5280 §5.3.1)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything a status answer says changes (the OCSP cache keys on it)."""
        when = self.revoked_at.isoformat() if self.revoked_at else ""
        return f"{self.state}|{when}|{self.reason.value if self.reason else ''}"


def certificate_status(serial: int) -> CertificateStatus:
    """Good, revoked (with time and reason) or unknown for the certificate with this serial."""
    row = db.session.execute(
        sa.select(IssuedCertificate.status, IssuedCertificate.revoked_at, IssuedCertificate.revocation_reason)
        .where(IssuedCertificate.serial == format(serial, "X"))
    ).first()
    if row is None:
        return CertificateStatus(RevocationState.UNKNOWN)
    if row.status == IssuedStatus.ISSUED:
        return CertificateStatus(RevocationState.GOOD)
    # revoked and voided are both on the CRL: both are revoked to a relying party
    return CertificateStatus(RevocationState.REVOKED, row.revoked_at, REASON_FLAGS.get(row.revocation_reason or ""))
