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


CERTIFICATE_STATUS_LABELS = {
    CertificateStatus.VALID: "有效",
    CertificateStatus.SUPERSEDED: "已更新",
    CertificateStatus.REVOKED: "已吊销",
    CertificateStatus.EXPIRED: "已过期",
}


class Certificate(db.Model):
    """A customer certificate. `serial` is upper-case hex and case-sensitive; `medium_number` is the
    serial of the token (U-KEY) holding it; `previous_id` links a renewed certificate to the one it replaced."""

    __tablename__ = "certificates"
    __table_args__ = (
        # substring search on the organisation (staff order search): trigrams on PostgreSQL (pg_trgm)
        sa.Index("ix_certificates_subject_o_trgm", "subject_o", postgresql_using="gin",
                 postgresql_ops={"subject_o": "gin_trgm_ops"}),
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
    previous_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"))
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

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16), default=CertAppStatus.ACTIVE)

    certificate: Mapped[Certificate] = relationship(back_populates="apps")

    @property
    def status_label(self) -> str:
        return CERT_APP_STATUS_LABELS.get(self.status, self.status)
