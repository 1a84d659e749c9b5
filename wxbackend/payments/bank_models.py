"""Lines of the bank statements of our receiving account, imported to confirm corporate transfers (对公打款)."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.money import format_fen
from wxbackend.core.times import utcnow


class LineStatus(enum.StrEnum):
    NEW = "new"  # imported, matching job not yet run
    MATCHED = "matched"  # paid an order (by the matching job, or by finance staff from the manual queue)
    MANUAL = "manual"  # staff must look at it (reason says why)
    RETURNED = "returned"  # finance staff: the money goes back to the payer (resolution_note says why)
    DISMISSED = "dismissed"  # finance staff: not a payment for this system (resolution_note says what it is)


LINE_STATUS_LABELS = {LineStatus.NEW: "待匹配", LineStatus.MATCHED: "已匹配", LineStatus.MANUAL: "待人工处理",
                      LineStatus.RETURNED: "退回付款人", LineStatus.DISMISSED: "非本系统款项"}


class BankStatementLine(db.Model):
    """One credit on our account as the bank's statement reports it. `bank_txn_id` (the statement's own 流水号)
    is unique, so importing a statement again adds nothing. The payer's account number is personal data
    (DESIGN §12): kept encrypted, shown masked. At most one line is `matched` to an order (a partial unique
    index); a line that paid a 批量续期 group names the group (`group_id`); a `manual` line may name the order it
    concerns (`order_id`) and always says why in `manual_reason`.
    Finance staff resolve a manual line once (matched by hand, returned, dismissed): `resolved_by`, `resolved_at`
    and `resolution_note` say who, when and why. The (status, sort key, id) indexes serve the console's lists
    (keyset paging in each sort order)."""

    __tablename__ = "bank_statement_lines"
    __table_args__ = (
        sa.Index("uq_bank_statement_lines_matched_order", "order_id", unique=True,
                 postgresql_where=sa.text("status = 'matched'"), sqlite_where=sa.text("status = 'matched'")),
        sa.Index("ix_bank_statement_lines_status_id", "status", "id"),
        sa.Index("ix_bank_statement_lines_status_value_date", "status", "value_date", "id"),
        sa.Index("ix_bank_statement_lines_status_amount", "status", "amount_fen", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_txn_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    value_date: Mapped[date] = mapped_column(sa.Date)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)  # any credit on the account, however large
    payer_name: Mapped[str] = mapped_column(sa.String(200))
    payer_account_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    payer_account_masked: Mapped[str] = mapped_column(sa.String(48))
    remark: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default=LineStatus.NEW, index=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("order_groups.id"), index=True)  # paid a 批量续期
    manual_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    source_file: Mapped[str] = mapped_column(sa.String(255), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when it became matched or manual
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_members.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_note: Mapped[str] = mapped_column(sa.String(200), default="")

    order = relationship("Order")
    group = relationship("OrderGroup")
    resolver = relationship("StaffMember")

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def status_label(self) -> str:
        return LINE_STATUS_LABELS[LineStatus(self.status)]
