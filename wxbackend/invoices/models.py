"""发票信息 (invoice profiles), 发票 (invoices) and the orders each invoice covers.

Bank account numbers and mobiles are personal data: stored AES-GCM encrypted with a masked copy for display.
An invoice keeps a copy of the buyer as it was when requested (a profile may change or go later). An order is
invoiced at most once: `invoice_items.order_id` is unique (a failed invoice lets go of its orders by clearing
it; the item keeps the order number)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.crypto import mask_name
from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.money import format_fen
from wxbackend.core.times import utcnow


class TitleType(enum.StrEnum):
    ENTERPRISE = "enterprise"
    PERSONAL = "personal"
    GOVERNMENT = "government"


TITLE_TYPE_LABELS = {TitleType.ENTERPRISE: "企业", TitleType.PERSONAL: "个人",
                     TitleType.GOVERNMENT: "政府机关事业单位"}


class InvoiceStatus(enum.StrEnum):
    PENDING = "pending"
    ISSUED = "issued"
    FAILED = "failed"


STATUS_LABELS = {InvoiceStatus.PENDING: "开具中", InvoiceStatus.ISSUED: "已开具", InvoiceStatus.FAILED: "开具失败"}
# requested and not in the user's mailbox: still to issue, or issued and not mailed (the 未送达发票 queue)
# (a paper invoice: issued and not yet posted by staff)
UNDELIVERED_SQL = "status = 'pending' OR (status = 'issued' AND emailed_at IS NULL AND posted_at IS NULL)"


class Buyer:
    """The buyer's columns (抬头 … 手机号), kept by a profile and copied onto each invoice requested with it."""

    title: Mapped[str] = mapped_column(sa.String(100))
    title_type: Mapped[str] = mapped_column(sa.String(16))
    tax_number: Mapped[str] = mapped_column(sa.String(20), default="")
    bank_name: Mapped[str] = mapped_column(sa.String(100), default="")
    bank_account_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    bank_account_masked: Mapped[str] = mapped_column(sa.String(40), default="")
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    email: Mapped[str] = mapped_column(sa.String(120))
    mobile_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    mobile_masked: Mapped[str] = mapped_column(sa.String(16), default="")

    @property
    def title_type_label(self) -> str:
        return TITLE_TYPE_LABELS[TitleType(self.title_type)]

    def buyer(self) -> dict:
        return {field: getattr(self, field) for field in BUYER_FIELDS}


BUYER_FIELDS = tuple(Buyer.__annotations__)


class InvoiceProfile(Buyer, db.Model):
    """A user's invoice title (发票信息): 抬头 and its type, 税号, bank, address, phone, email (required), mobile.
    At most one default per user (a partial unique index)."""

    __tablename__ = "invoice_profiles"
    __table_args__ = (
        sa.Index("uq_invoice_profiles_default_per_user", "user_id", unique=True,
                 postgresql_where=sa.text("is_default"), sqlite_where=sa.text("is_default")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Invoice(Buyer, db.Model):
    """One invoice request covering one or more paid orders: pending until the adapter issues it (then it has
    an `invoice_no`, a PDF in the file store and, once mailed, `emailed_at`), or failed with a reason."""

    __tablename__ = "invoices"
    __table_args__ = (
        sa.Index("ix_invoices_undelivered", "created_at", "id",
                 postgresql_where=sa.text(UNDELIVERED_SQL), sqlite_where=sa.text(UNDELIVERED_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_no: Mapped[str] = mapped_column(sa.String(32), unique=True)  # ours; the platform's idempotency key
    invoice_no: Mapped[str | None] = mapped_column(sa.String(32), unique=True)  # 发票号码, once issued
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    amount_fen: Mapped[int]
    # the buyer as requested: a copy of the profile's Buyer columns (BUYER_FIELDS)
    # issuing
    adapter: Mapped[str] = mapped_column(sa.String(16), default="")
    file_key: Mapped[str | None] = mapped_column(sa.String(128))
    failure_reason: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 电子发票和纸质发票只有其中一种: electronic (mailed to `email`) or paper (posted to the recipient copied from
    # the orders' 收件人 when requested; the mobile and address encrypted, masked copies for the console)
    delivery: Mapped[str] = mapped_column(sa.String(16), default="electronic", server_default="electronic")
    recipient_name: Mapped[str] = mapped_column(sa.String(50), default="", server_default="")
    recipient_mobile_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    recipient_mobile_masked: Mapped[str] = mapped_column(sa.String(16), default="", server_default="")
    recipient_address_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    recipient_address_masked: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    # a paper invoice: when the issuing job recorded that staff must post it, and when staff posted it
    to_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the last transient failure of issuing or mailing (retried by rq), cleared when the step succeeds
    last_error: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[InvoiceItem]] = relationship(back_populates="invoice", order_by="InvoiceItem.id")

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[InvoiceStatus(self.status)]

    @property
    def paper(self) -> bool:
        return self.delivery == "paper"

    @property
    def recipient_name_masked(self) -> str:
        return mask_name(self.recipient_name) if self.recipient_name else ""

    @property
    def delivery_label(self) -> str:
        return "纸质发票" if self.paper else "电子发票"


class InvoiceItem(db.Model):
    """One order on an invoice, with what the invoice says about it. `order_id` is unique: an order is on at
    most one invoice (NULL once a failed invoice let go of it)."""

    __tablename__ = "invoice_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    order_no: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(200))  # 项目名称, e.g. 证书续期（广州某某科技有限公司）
    fee_detail: Mapped[str] = mapped_column(sa.String(200))
    amount_fen: Mapped[int]

    invoice: Mapped[Invoice] = relationship(back_populates="items")

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)
