"""受理单 (orders) and their timeline."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.certificates.models import Binding, BindingStatus
from wxbackend.core.crypto import mask_name, mask_organisation
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


class InvoiceDelivery(enum.StrEnum):
    """电子发票和纸质发票只有其中一种: an electronic invoice is mailed to an email, a paper one posted to the
    recipient."""

    ELECTRONIC = "electronic"
    PAPER = "paper"


INVOICE_DELIVERY_LABELS = {InvoiceDelivery.ELECTRONIC: "电子发票", InvoiceDelivery.PAPER: "纸质发票（邮寄给收件人）"}


class IdType(enum.StrEnum):
    RESIDENT_ID = "resident_id"
    HK_MACAO_PERMIT = "hk_macao_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    PASSPORT = "passport"


ID_TYPE_LABELS = {IdType.RESIDENT_ID: "居民身份证", IdType.HK_MACAO_PERMIT: "港澳居民来往内地通行证",
                  IdType.TAIWAN_PERMIT: "台湾居民来往大陆通行证", IdType.PASSPORT: "护照"}


class PayChannel(enum.StrEnum):
    WECHAT = "wechat"
    TRANSFER = "transfer"


class GroupStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    CANCELLED = "cancelled"


GROUP_STATUS_LABELS = {GroupStatus.PENDING_PAYMENT: "待支付", GroupStatus.PAID: "已支付",
                       GroupStatus.CANCELLED: "已撤销"}


class OrderGroup(db.Model):
    """批量续期: several renewal orders of one user paid together — one price (`amount_fen`, the sum of its orders
    as created), one payment (one WeChat Pay transaction or one transfer code), one invoice. Each order stays the
    unit of writing, cancelling and refunding; the group only says whether the whole was paid."""

    __tablename__ = "order_groups"
    __table_args__ = (
        sa.Index("uq_order_groups_open_transfer_code", "transfer_code", unique=True,
                 postgresql_where=sa.text("status = 'pending_payment' AND transfer_code IS NOT NULL"),
                 sqlite_where=sa.text("status = 'pending_payment' AND transfer_code IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    pay_channel: Mapped[str | None] = mapped_column(sa.String(16))
    transfer_code: Mapped[str | None] = mapped_column(sa.String(6))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    orders: Mapped[list[Order]] = relationship(back_populates="group", order_by="Order.id")

    @property
    def status_label(self) -> str:
        return GROUP_STATUS_LABELS[GroupStatus(self.status)]

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def organisation(self) -> str:
        """Whom a transfer for the group must come from: the organisation of its certificates when they share one
        (a statement line's payer is checked against it), else empty."""
        names = {order.certificate.subject_o for order in self.orders}
        return names.pop() if len(names) == 1 else ""


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
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("order_groups.id"), index=True)  # 批量续期
    # the 电子认证服务协议 the user had accepted when the order was made (None on orders made before it existed)
    agreement_version: Mapped[str | None] = mapped_column(sa.String(32))
    agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 费用详细信息 as charged: [{"name", "unit_fen", "unit", "quantity", "subtotal_fen"}], summing to amount_fen
    fee_items: Mapped[list | None] = mapped_column(sa.JSON)
    invoice_delivery: Mapped[str] = mapped_column(sa.String(16), default=InvoiceDelivery.ELECTRONIC,
                                                  server_default=InvoiceDelivery.ELECTRONIC.value)

    certificate = relationship("Certificate", foreign_keys=[certificate_id])
    issued_certificate = relationship("IssuedCertificate")
    new_certificate = relationship("Certificate", foreign_keys=[new_certificate_id])
    cert_app = relationship("CertApp")
    group: Mapped[OrderGroup | None] = relationship(back_populates="orders")
    events: Mapped[list[OrderEvent]] = relationship(back_populates="order", order_by="OrderEvent.id")
    contact: Mapped[OrderContact | None] = relationship(back_populates="order", uselist=False)

    @property
    def invoice_delivery_label(self) -> str:
        return INVOICE_DELIVERY_LABELS[InvoiceDelivery(self.invoice_delivery)]

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
        """证书名称 as lists show it (masked on a replacement asked for by someone not bound to the certificate,
        who knew only its serial)."""
        name = self.certificate.subject_o
        if self.kind == OrderKind.REPLACEMENT and not self._user_bound():
            return mask_organisation(name)
        return f"{name}（{self.cert_app.name}）" if self.cert_app is not None else name

    def _user_bound(self) -> bool:
        return db.session.scalar(sa.select(sa.func.count(Binding.id)).where(
            Binding.user_id == self.user_id, Binding.certificate_id == self.certificate_id,
            Binding.status == BindingStatus.ACTIVE)) > 0


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


class OrderContact(db.Model):
    """经办人 and 收件人 of an order, as typed (or copied from the identity check and 我的地址) when it was made. The ID
    number, both mobiles and the recipient's address are personal data: AES-GCM encrypted, with masked copies for
    pages."""

    __tablename__ = "order_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    operator_id_type: Mapped[str] = mapped_column(sa.String(20))
    operator_id_number_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    operator_id_number_masked: Mapped[str] = mapped_column(sa.String(32))
    operator_name: Mapped[str] = mapped_column(sa.String(50))
    operator_mobile_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    operator_mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    operator_email: Mapped[str] = mapped_column(sa.String(120))
    recipient_name: Mapped[str] = mapped_column(sa.String(50))
    recipient_mobile_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    recipient_mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    recipient_address_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    recipient_address_masked: Mapped[str] = mapped_column(sa.String(120))

    order: Mapped[Order] = relationship(back_populates="contact")

    @property
    def operator_id_type_label(self) -> str:
        return ID_TYPE_LABELS[IdType(self.operator_id_type)]

    @property
    def names_masked(self) -> tuple[str, str]:
        """The operator's and the recipient's names as the staff console shows them (张*)."""
        return mask_name(self.operator_name), mask_name(self.recipient_name)
