"""Counter personalisation of a replacement key (issue 14, 介质遗失补办) and the delivery of its PIN."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class PersonalisationStatus(enum.StrEnum):
    ISSUED = "issued"  # the certificate is issued for the blank key's new key pair, not yet written
    WRITTEN = "written"  # written, the PIN set: the new certificate is on record
    VOIDED = "voided"  # a later attempt started before this one was written: its certificate is void


PERSONALISATION_STATUS_LABELS = {PersonalisationStatus.ISSUED: "已签发，待写入",
                                 PersonalisationStatus.WRITTEN: "已写入", PersonalisationStatus.VOIDED: "已作废"}


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


DELIVERY_STATUS_LABELS = {DeliveryStatus.PENDING: "待发送", DeliveryStatus.DELIVERED: "已发送",
                          DeliveryStatus.FAILED: "发送失败"}


class DeliveryChannel(enum.StrEnum):
    PAYOUT = "payout"  # paid by WeChat Pay: the PIN in the remark of a 0.01-yuan payout to the basic account
    SMS = "sms"  # paid by corporate transfer: the PIN by SMS to the 经办人


class CounterPersonalisation(db.Model):
    """One attempt of a 制证 staff member to write a new key for a replacement order: the blank key (its serial is
    the new medium number), the certificate issued for it and, once written, the new certificate on record.
    `seal_key_enc` is the private half of the X25519 key the helper seals the PIN to (encrypted at rest; erased when
    the attempt is written or voided)."""

    __tablename__ = "counter_personalisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"))
    token_serial: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    issued_certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("ca_issued_certificates.id"))
    new_certificate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"))
    seal_key_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order = relationship("Order")
    issued_certificate = relationship("IssuedCertificate")
    new_certificate = relationship("Certificate")


class PinDelivery(db.Model):
    """The PIN of a written replacement key on its way to the customer. `pin_enc` (AES-GCM, core.crypto) is the
    only copy of the PIN the backend keeps, and only until it is delivered; `idempotency_key` goes to the bank or
    the SMS gateway, so a job run twice pays or sends once."""

    __tablename__ = "counter_pin_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    personalisation_id: Mapped[int] = mapped_column(sa.ForeignKey("counter_personalisations.id"), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    pin_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    recipient_masked: Mapped[str] = mapped_column(sa.String(64))  # 基本户 account or the agent's mobile, masked
    reference: Mapped[str] = mapped_column(sa.String(64), default="")  # the bank's reference or the SMS id
    failure_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    personalisation = relationship("CounterPersonalisation")

    @property
    def status_label(self) -> str:
        return DELIVERY_STATUS_LABELS[DeliveryStatus(self.status)]
