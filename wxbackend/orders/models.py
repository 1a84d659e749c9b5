"""受理单 (orders) and their timeline."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.money import format_fen
from wxbackend.core.times import utcnow


class OrderStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    PENDING_FIN_VERIFICATION = "pending_fin_verification"
    FIN_VERIFICATION_FAILED = "fin_verification_failed"
    READY_TO_WRITE = "ready_to_write"
    ISSUED = "issued"
    COMPLETED = "completed"
    MAKING = "making"
    SHIPPED = "shipped"
    REFUNDING = "refunding"
    REFUNDED = "refunded"


STATUS_LABELS = {
    OrderStatus.DRAFT: "编辑中", OrderStatus.PENDING_PAYMENT: "待支付", OrderStatus.PAID: "已支付",
    OrderStatus.PENDING_REVIEW: "待审核", OrderStatus.APPROVED: "审核通过", OrderStatus.REJECTED: "未通过",
    OrderStatus.CANCELLED: "已撤销", OrderStatus.PENDING_FIN_VERIFICATION: "待金融认证",
    OrderStatus.FIN_VERIFICATION_FAILED: "金融认证失败", OrderStatus.READY_TO_WRITE: "已支付/待制证",
    OrderStatus.ISSUED: "已签发，待写入", OrderStatus.COMPLETED: "已完成", OrderStatus.MAKING: "制证中",
    OrderStatus.SHIPPED: "已寄出", OrderStatus.REFUNDING: "退款中", OrderStatus.REFUNDED: "已退款",
}
CLOSED_STATUSES = (OrderStatus.CANCELLED, OrderStatus.COMPLETED, OrderStatus.REFUNDED)


class OrderKind(enum.StrEnum):
    RENEWAL = "renewal"
    APP_RENEWAL = "app_renewal"
    REPLACEMENT = "replacement"


KIND_LABELS = {OrderKind.RENEWAL: "证书续期", OrderKind.APP_RENEWAL: "应用续期", OrderKind.REPLACEMENT: "补办介质"}


class RenewalPath(enum.StrEnum):
    ONLINE = "online"  # in the window: pay, then write on the PC
    REVIEWED = "reviewed"  # expired ≤ 365 days: materials, audit, financial verification


class PayChannel(enum.StrEnum):
    WECHAT = "wechat"
    TRANSFER = "transfer"


class Order(db.Model):
    """A 受理单: what the user asked for (kind, years, certificate or 应用), what it costs (integer fen) and
    where it stands. At most one order that is not closed per certificate (a partial unique index)."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("uq_orders_open_per_certificate", "certificate_id", unique=True,
                 postgresql_where=sa.text("status NOT IN ('cancelled', 'completed', 'refunded')"),
                 sqlite_where=sa.text("status NOT IN ('cancelled', 'completed', 'refunded')")),
        sa.Index("uq_orders_open_transfer_code", "transfer_code", unique=True,
                 postgresql_where=sa.text("status = 'pending_payment' AND transfer_code IS NOT NULL"),
                 sqlite_where=sa.text("status = 'pending_payment' AND transfer_code IS NOT NULL")),
        # the staff search (orders.search): newest first, by status, keyset on (created_at, id)
        sa.Index("ix_orders_created_at_id", "created_at", "id"),
        sa.Index("ix_orders_status_created_at_id", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    cert_app_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cert_apps.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    path: Mapped[str] = mapped_column(sa.String(16))
    years: Mapped[int]
    amount_fen: Mapped[int]
    fee_detail: Mapped[str] = mapped_column(sa.String(200))  # 收费明细, e.g. 证书续期 300.00元/年 × 1年
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    old_not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    new_not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    pay_channel: Mapped[str | None] = mapped_column(sa.String(16))
    transfer_code: Mapped[str | None] = mapped_column(sa.String(6), index=True)  # every order that had the code
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the renewal write (DESIGN §5): the certificate issued for this order, and once installed its record
    issued_certificate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ca_issued_certificates.id"))
    new_certificate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"), index=True)

    certificate = relationship("Certificate", foreign_keys=[certificate_id])
    issued_certificate = relationship("IssuedCertificate")
    new_certificate = relationship("Certificate", foreign_keys=[new_certificate_id])
    cert_app = relationship("CertApp")
    events: Mapped[list[OrderEvent]] = relationship(back_populates="order", order_by="OrderEvent.id")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[OrderStatus(self.status)]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[OrderKind(self.kind)]

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def subject(self) -> str:
        """证书名称 as lists show it."""
        name = self.certificate.subject_o
        return f"{name}（{self.cert_app.name}）" if self.cert_app is not None else name


class OrderEvent(db.Model):
    """One status change of an order: who, from, to, when, and a note the user may see."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(sa.String(32))
    to_status: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(64))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")
