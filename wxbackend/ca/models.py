"""What the CA has issued. The CRL is built from these rows."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class IssuedStatus(enum.StrEnum):
    ISSUED = "issued"
    REVOKED = "revoked"
    VOIDED = "voided"  # issued but never installed (its key was lost); listed in the CRL too
    ON_HOLD = "on_hold"  # reported lost (挂失): on the CRL as certificateHold until lifted or revoked


ISSUED_STATUS_LABELS = {IssuedStatus.ISSUED: "已签发", IssuedStatus.REVOKED: "已吊销", IssuedStatus.VOIDED: "已作废",
                        IssuedStatus.ON_HOLD: "已挂失"}


class IssuedCertificate(db.Model):
    """Every certificate the issuing CA signed, by upper-case hex serial. While on hold, `revoked_at` is when the
    hold was placed; once revoked, `invalidity_date` (when set) is when the key is known or suspected to have been
    compromised (RFC 5280 §5.3.2)."""

    __tablename__ = "ca_issued_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(sa.String(64), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(500))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    pem: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default=IssuedStatus.ISSUED, index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(32))
    invalidity_date: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CrlNumber(db.Model):
    """The last CRL number each CA used (RFC 5280 §5.2.3: monotonically increasing). Taken with a row lock in
    the unit of work that signs the CRL, so a number is only ever spent by a CRL that was committed."""

    __tablename__ = "ca_crl_numbers"

    issuer: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # "issuing" | "root"
    last_number: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class RootCrl(db.Model):
    """A CRL the root CA signed (at a key ceremony when its key is offline); the newest is served at
    /ca/root.crl until the next one."""

    __tablename__ = "ca_root_crls"

    id: Mapped[int] = mapped_column(primary_key=True)
    crl_number: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(sa.LargeBinary)


class RevokedAuthority(db.Model):
    """A CA certificate the root revoked (an issuing CA certificate); listed on the root's CRL. Rows are only
    added: revoking a CA certificate is final."""

    __tablename__ = "ca_revoked_authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(sa.String(64), unique=True)
    subject: Mapped[str] = mapped_column(sa.String(500))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(32))


class CmpTransactionStatus(enum.StrEnum):
    SENT = "sent"  # the request is on its way (or its answer was lost)
    CERTIFIED = "certified"  # the CA system sent a certificate we checked; our certConf not yet acknowledged
    CONFIRMED = "confirmed"  # done: pkiConf for an issue, an accepted rp for a revocation
    REFUSED = "refused"  # the CA system said no, or its answer was not what was asked for
    ABANDONED = "abandoned"  # never confirmed by us, so never in use; a later request replaced it


CMP_TRANSACTION_STATUS_LABELS = {
    CmpTransactionStatus.SENT: "已发送", CmpTransactionStatus.CERTIFIED: "待确认",
    CmpTransactionStatus.CONFIRMED: "已完成", CmpTransactionStatus.REFUSED: "被拒绝",
    CmpTransactionStatus.ABANDONED: "已放弃",
}


class CmpTransaction(db.Model):
    """One CMP transaction with the CA system (CA_BACKEND=cmp), written before the request is sent and kept when
    the unit of work rolls back, so a retry of the same request (`request_ref`) reuses what the CA system already
    answered instead of asking it twice."""

    __tablename__ = "ca_cmp_transactions"
    __table_args__ = (sa.Index("ix_ca_cmp_transactions_request", "request_ref", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[str] = mapped_column(sa.String(32), unique=True)  # hex of the 16-byte transactionID
    kind: Mapped[str] = mapped_column(sa.String(8))  # issue | revoke
    request_ref: Mapped[str] = mapped_column(sa.String(64))  # e.g. "order:17" or "serial:ABCD…"
    status: Mapped[str] = mapped_column(sa.String(16), default=CmpTransactionStatus.SENT)
    public_key_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    serial: Mapped[str | None] = mapped_column(sa.String(64))
    cert_pem: Mapped[str | None] = mapped_column(sa.Text)
    server_nonce: Mapped[str | None] = mapped_column(sa.String(128))
    error: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
