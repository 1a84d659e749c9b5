"""申请资料: an application behind one order, its revisions (every submitted version kept) and its uploads."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.certificates.models import Binding, BindingStatus
from wxbackend.core.crypto import mask_organisation
from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class ApplicationKind(enum.StrEnum):
    EXPIRED_RENEWAL = "expired_renewal"  # 网厅续期（有效期外）
    REPLACEMENT = "replacement"  # 介质遗失补办 (issue 14)


KIND_LABELS = {ApplicationKind.EXPIRED_RENEWAL: "过期证书续期", ApplicationKind.REPLACEMENT: "介质遗失补办"}


class UploadKind(enum.StrEnum):
    FORM = "form"  # the printed application form, signed and sealed
    LICENCE = "licence"  # 营业执照
    ID_FRONT = "id_front"  # 经办人身份证人像面: deleted once the liveness check is done
    ID_BACK = "id_back"  # 经办人身份证国徽面: deleted once the liveness check is done


UPLOAD_LABELS = {UploadKind.FORM: "申请表（签字盖章扫描件）", UploadKind.LICENCE: "营业执照"}
ID_PHOTO_LABELS = {UploadKind.ID_FRONT: "经办人身份证人像面", UploadKind.ID_BACK: "经办人身份证国徽面"}
ALL_UPLOAD_LABELS = {**UPLOAD_LABELS, **ID_PHOTO_LABELS}


class Application(db.Model):
    """The materials of one reviewed order (one application per order; the order's partial unique index keeps one
    open order, so one open application, per certificate). The agreement and the separate consent to sensitive
    personal data are recorded (version, time) before any ID number, photo or bank account is taken. `revision` is
    the number of the newest `ApplicationRevision`; the status is the order's."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    agreement_version: Mapped[str | None] = mapped_column(sa.String(32))
    agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_version: Mapped[str | None] = mapped_column(sa.String(32))
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order = relationship("Order")
    certificate = relationship("Certificate")
    revisions: Mapped[list[ApplicationRevision]] = relationship(back_populates="application",
                                                                order_by="ApplicationRevision.number")
    uploads: Mapped[list[ApplicationUpload]] = relationship(back_populates="application",
                                                            order_by="ApplicationUpload.id")

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[ApplicationKind(self.kind)]

    @property
    def current(self) -> ApplicationRevision | None:
        return self.revisions[-1] if self.revisions else None

    @property
    def applicant_sees_certificate(self) -> bool:
        """Whether the applicant may see the certificate as its holder does: always for an expired renewal (only
        bound users start one); for a replacement looked up by serial, only while bound to it."""
        if self.kind != ApplicationKind.REPLACEMENT:
            return True
        return db.session.scalar(sa.select(sa.func.count(Binding.id)).where(
            Binding.user_id == self.user_id, Binding.certificate_id == self.certificate_id,
            Binding.status == BindingStatus.ACTIVE)) > 0

    @property
    def organisation_shown(self) -> str:
        """The organisation as the applicant's pages show it: in full when they may see the certificate or have
        typed it themselves (the materials must match it), else masked."""
        if self.applicant_sees_certificate:
            return self.certificate.subject_o
        if self.current is not None:
            return self.current.fields.get("org_name", "")
        return mask_organisation(self.certificate.subject_o)


class ApplicationRevision(db.Model):
    """One version of the materials. `fields` holds the plain fields and the masks of the sensitive ones;
    `sensitive_enc` the sensitive ones themselves (ID numbers, mobiles, bank account), AES-GCM encrypted as one JSON
    object. A revision is edited in place until it is submitted; after that, a change makes the next revision."""

    __tablename__ = "application_revisions"
    __table_args__ = (sa.UniqueConstraint("application_id", "number", name="uq_application_revisions_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"))
    number: Mapped[int] = mapped_column(sa.Integer)
    fields: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    sensitive_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship(back_populates="revisions")


class ApplicationUpload(db.Model):
    """An uploaded image, checked and re-encoded (EXIF gone), in the file store. Reached only through its random
    `public_id` and only by staff; a newer upload of the same kind replaces it (`replaced_at`), every one is kept."""

    __tablename__ = "application_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    store_key: Mapped[str] = mapped_column(sa.String(128))
    content_type: Mapped[str] = mapped_column(sa.String(32))  # what we re-encoded to, never what was sent
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # ID photos: the file is gone after liveness

    application: Mapped[Application] = relationship(back_populates="uploads")

    @property
    def kind_label(self) -> str:
        return ALL_UPLOAD_LABELS[UploadKind(self.kind)]


class VerificationStatus(enum.StrEnum):
    PAYOUT_PENDING = "payout_pending"  # recorded with its idempotency key; the payout job has not confirmed it
    AWAITING_CODE = "awaiting_code"  # 0.01 yuan paid; the user types the code from the remark
    VERIFIED = "verified"
    FAILED = "failed"  # 3 wrong codes, or 7 days passed
    PAYOUT_FAILED = "payout_failed"  # the bank could not pay the account (wrong number, closed account)


VERIFICATION_LABELS = {VerificationStatus.PAYOUT_PENDING: "打款中", VerificationStatus.AWAITING_CODE: "待输入随机码",
                       VerificationStatus.VERIFIED: "已通过", VerificationStatus.FAILED: "未通过",
                       VerificationStatus.PAYOUT_FAILED: "打款失败"}


class FinVerification(db.Model):
    """One 金融认证 attempt: 0.01 yuan to the basic account with a random code in the remark. The row, its
    idempotency key and the code (encrypted; only its keyed hash is compared) are committed before the bank is
    called, so a crash or a second run pays with the same key — never twice."""

    __tablename__ = "fin_verifications"
    __table_args__ = (sa.UniqueConstraint("application_id", "attempt", name="uq_fin_verifications_attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    account_name: Mapped[str] = mapped_column(sa.String(200))
    bank_name: Mapped[str] = mapped_column(sa.String(100))
    account_masked: Mapped[str] = mapped_column(sa.String(40))
    amount_fen: Mapped[int]
    code_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default=VerificationStatus.PAYOUT_PENDING)
    bank_reference: Mapped[str] = mapped_column(sa.String(64), default="")
    failure_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    wrong_tries: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship()

    @property
    def status_label(self) -> str:
        return VERIFICATION_LABELS[VerificationStatus(self.status)]


class LivenessStatus(enum.StrEnum):
    PENDING = "pending"  # started: the user is on (or left) the provider's page
    PASSED = "passed"
    FAILED = "failed"
    EXPIRED = "expired"


LIVENESS_LABELS = {LivenessStatus.PENDING: "认证中", LivenessStatus.PASSED: "已通过", LivenessStatus.FAILED: "未通过",
                   LivenessStatus.EXPIRED: "已过期"}


class LivenessCheck(db.Model):
    """One 活体认证 of the 经办人 through the provider (a BizToken). Its outcome is only ever what the backend pulled
    from the provider, never what a redirect said. `agent_id_hash` binds it to the ID number it was made for: a
    revision naming another 经办人 needs a new one. Only the result and the provider's reference are kept."""

    __tablename__ = "liveness_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("applications.id"), index=True)
    biz_token: Mapped[str] = mapped_column(sa.String(128), unique=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    agent_id_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default=LivenessStatus.PENDING)
    reference: Mapped[str] = mapped_column(sa.String(128), default="")
    similarity: Mapped[float | None] = mapped_column(sa.Float)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def status_label(self) -> str:
        return LIVENESS_LABELS[LivenessStatus(self.status)]
