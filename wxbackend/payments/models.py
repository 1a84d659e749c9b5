"""支付 and 退款: what was asked of WeChat Pay for an order, what it confirmed, and what was paid back."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.money import format_fen
from wxbackend.core.times import utcnow


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"  # prepay created, no confirmed payment yet
    PAID = "paid"
    REFUNDING = "refunding"
    REFUNDED = "refunded"
    CLOSED = "closed"  # expired or closed at WeChat Pay: can no longer be paid
    MISMATCH = "mismatch"  # WeChat Pay confirmed a payment that does not fit the order (staff decide; see the audit)


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"  # asked of WeChat Pay, waiting for its result
    SUCCESS = "success"
    CLOSED = "closed"
    ABNORMAL = "abnormal"  # WeChat Pay could not pay it back (e.g. the user's card closed): staff act
    MANUAL = "manual"  # paid by corporate transfer: staff pay it back by bank transfer


PAYMENT_STATUS_LABELS = {
    PaymentStatus.PENDING: "待支付", PaymentStatus.PAID: "已支付", PaymentStatus.REFUNDING: "退款中",
    PaymentStatus.REFUNDED: "已退款", PaymentStatus.CLOSED: "已关闭", PaymentStatus.MISMATCH: "待核实",
}
REFUND_STATUS_LABELS = {
    RefundStatus.PROCESSING: "退款处理中", RefundStatus.SUCCESS: "退款成功", RefundStatus.CLOSED: "退款关闭",
    RefundStatus.ABNORMAL: "退款异常", RefundStatus.MANUAL: "待人工退款",
}


class Payment(db.Model):
    """One attempt to collect an order's amount (integer fen) through a channel. For WeChat Pay: our
    `out_trade_no` (unique), the prepay handed to the phone (`appid`, `payer_openid`, `prepay_id`, valid until
    `expires_at`) and, once WeChat Pay confirms it, its `transaction_id` (unique: one WeChat transaction pays one
    payment) and a minimal summary of the confirmation in `notification` (no keys, no signatures). A payment pays
    either one order (`order_id`) or a 批量续期 group of orders at once (`group_id`, `order_id` empty)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("order_groups.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))  # wechat | transfer (orders.models.PayChannel)
    out_trade_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    transaction_id: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16), default=PaymentStatus.PENDING, index=True)
    appid: Mapped[str | None] = mapped_column(sa.String(32))  # official account or mini-program
    payer_openid: Mapped[str | None] = mapped_column(sa.String(128))
    prepay_id: Mapped[str | None] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notification: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order = relationship("Order")
    group = relationship("OrderGroup")
    refunds: Mapped[list[Refund]] = relationship(back_populates="payment", order_by="Refund.id")

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def status_label(self) -> str:
        return PAYMENT_STATUS_LABELS[PaymentStatus(self.status)]


class Refund(db.Model):
    """Paying an order's amount back: through WeChat Pay for a WeChat payment (`out_refund_no` ours, unique;
    `refund_id` WeChat's), or by staff for a corporate transfer (`payment_id` empty, status `manual`): finance pays
    it back by bank transfer and records the bank's reference of that transfer (`bank_reference`, unique: one bank
    transfer pays one refund back) and who recorded it (`done_by`)."""

    __tablename__ = "refunds"
    __table_args__ = (sa.Index("ix_refunds_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    out_refund_no: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refund_id: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16), default=RefundStatus.PROCESSING, index=True)
    reason: Mapped[str] = mapped_column(sa.String(80), default="")
    actor: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bank_reference: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    done_by: Mapped[str] = mapped_column(sa.String(64), default="")

    order = relationship("Order")
    payment: Mapped[Payment | None] = relationship(back_populates="refunds")

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def status_label(self) -> str:
        return REFUND_STATUS_LABELS[RefundStatus(self.status)]
