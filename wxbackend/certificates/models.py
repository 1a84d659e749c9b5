"""Certificates on customers' keys, who is bound to them, and the 应用 enabled on them."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    EXPIRED = "expired"
    ON_HOLD = "on_hold"  # reported lost (挂失): suspended, on the CRL as certificateHold


CERTIFICATE_STATUS_LABELS = {
    CertificateStatus.VALID: "有效",
    CertificateStatus.SUPERSEDED: "已更新",
    CertificateStatus.REVOKED: "已吊销",
    CertificateStatus.EXPIRED: "已过期",
    CertificateStatus.ON_HOLD: "已挂失",
}
# The certificate still works for its holder: it may be bound, renewed or ordered for (subject to eligibility).
IN_USE_STATUSES = (CertificateStatus.VALID, CertificateStatus.EXPIRED)


class Certificate(db.Model):
    """A customer certificate. `serial` is upper-case hex and case-sensitive; `medium_number` is the
    serial of the token (U-KEY) holding it; `previous_id` links a renewed certificate to the one it replaced.

    `status` is the one truth about the certificate (on hold, revoked, superseded…) for every page, the API,
    eligibility, binding and renewal; the CA's record of the same serial (`ca_issued_certificates`, which the CRL
    is built from) follows it, changed only together with it by `certificates.revocation`."""

    __tablename__ = "certificates"
    __table_args__ = (
        # substring search on the organisation (staff order search): trigrams on PostgreSQL (pg_trgm)
        sa.Index("ix_certificates_subject_o_trgm", "subject_o", postgresql_using="gin",
                 postgresql_ops={"subject_o": "gin_trgm_ops"}),
        # the expiry reminders' scan (reminders.service): one day's range of not_after, keyset on (not_after, id)
        sa.Index("ix_certificates_not_after_id", "not_after", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(sa.String(64), unique=True)
    subject_o: Mapped[str] = mapped_column(sa.String(200))
    subject_cn: Mapped[str] = mapped_column(sa.String(200))
    subject_l: Mapped[str] = mapped_column(sa.String(100), default="")
    subject_st: Mapped[str] = mapped_column(sa.String(100), default="")
    email: Mapped[str] = mapped_column(sa.String(200), default="")
    legal_representative: Mapped[str] = mapped_column(sa.String(100), default="")
    # 统一社会信用代码 (GB 32100), in the subject as organizationIdentifier "NTRCN-<code>"; empty when none
    credit_code: Mapped[str] = mapped_column(sa.String(18), default="", server_default="")
    cert_type: Mapped[str] = mapped_column(sa.String(32), default="org_sign")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    medium_number: Mapped[str] = mapped_column(sa.String(64), index=True)
    pem: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default=CertificateStatus.VALID, index=True)
    previous_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    previous: Mapped[Certificate | None] = relationship(remote_side=[id])
    apps: Mapped[list[CertApp]] = relationship(back_populates="certificate", order_by="CertApp.id")

    @property
    def status_label(self) -> str:
        return CERTIFICATE_STATUS_LABELS[CertificateStatus(self.status)]

    @property
    def medium_last4(self) -> str:
        return self.medium_number[-4:]


class BindingStatus(enum.StrEnum):
    ACTIVE = "active"
    UNBOUND = "unbound"


BINDING_STATUS_LABELS = {BindingStatus.ACTIVE: "已绑定", BindingStatus.UNBOUND: "已解绑"}


class Binding(db.Model):
    """A user sees a certificate in WeChat. Several users may bind one certificate; one active binding per
    pair."""

    __tablename__ = "bindings"
    __table_args__ = (
        sa.Index("uq_bindings_active_pair", "user_id", "certificate_id", unique=True,
                 postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=BindingStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    certificate: Mapped[Certificate] = relationship()


class CertAppStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    DISABLED = "disabled"


CERT_APP_STATUS_LABELS = {CertAppStatus.ACTIVE: "正常", CertAppStatus.EXPIRED: "已到期",
                          CertAppStatus.DISABLED: "已停用"}


class CertApp(db.Model):
    """An application (我的应用) enabled on a certificate, e.g. a tendering platform, with its own expiry."""

    __tablename__ = "cert_apps"
    __table_args__ = (
        # the expiry reminders' scan (reminders.service): one day's range of expires_at, keyset on (expires_at, id)
        sa.Index("ix_cert_apps_expires_at_id", "expires_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16), default=CertAppStatus.ACTIVE)

    certificate: Mapped[Certificate] = relationship(back_populates="apps")

    @property
    def status_label(self) -> str:
        return CERT_APP_STATUS_LABELS.get(self.status, self.status)


class HoldStatus(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"


HOLD_STATUS_LABELS = {HoldStatus.ACTIVE: "挂失中", HoldStatus.WITHDRAWN: "已解除挂失", HoldStatus.REVOKED: "已转为吊销"}


class CertificateHold(db.Model):
    """One report that a certificate's key is lost (挂失): who reported it (a bound user or a staff member for a
    caller whose identity they checked), when (the invalidity date if it becomes a revocation), why; and how it
    ended (withdrawn: the key was found; revoked: the loss was confirmed). At most one active hold per
    certificate."""

    __tablename__ = "certificate_holds"
    __table_args__ = (
        sa.Index("uq_certificate_holds_active", "certificate_id", unique=True,
                 postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=HoldStatus.ACTIVE)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reported_by: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(sa.String(64))

    certificate: Mapped[Certificate] = relationship()

    @property
    def status_label(self) -> str:
        return HOLD_STATUS_LABELS.get(self.status, self.status)
