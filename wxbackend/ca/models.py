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


ISSUED_STATUS_LABELS = {IssuedStatus.ISSUED: "已签发", IssuedStatus.REVOKED: "已吊销", IssuedStatus.VOIDED: "已作废"}


class IssuedCertificate(db.Model):
    """Every certificate the issuing CA signed, by upper-case hex serial."""

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
