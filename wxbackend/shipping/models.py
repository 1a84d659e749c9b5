"""A replacement key's shipment: the recipient as chosen (a snapshot, not a link: editing or deleting the address
later changes nothing here), the waybill, and what the carrier last said about it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow

TRACKED = "shipped_at IS NOT NULL AND signed_at IS NULL"


class Shipment(db.Model):
    """One per order. The mobile is personal data: AES-GCM encrypted, with a masked copy for pages. A waybill
    (carrier, number) belongs to one shipment (a partial unique index). `tracking_state` is the carrier's own
    state code (快递100: 0 在途, 1 揽收, 3 签收, 6 退回 …), not a status of ours; `last_queried_at` is when the
    carrier was last asked, which the tracking service keeps at most once per 30 minutes."""

    __tablename__ = "shipments"
    __table_args__ = (
        sa.Index("uq_shipments_waybill", "carrier", "waybill_no", unique=True,
                 postgresql_where=sa.text("waybill_no IS NOT NULL"), sqlite_where=sa.text("waybill_no IS NOT NULL")),
        # the tracking sweep: shipped, not yet signed for, keyset on id
        sa.Index("ix_shipments_tracking", "id", postgresql_where=sa.text(TRACKED), sqlite_where=sa.text(TRACKED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    address_id: Mapped[int | None]  # the 我的地址 row it was copied from (no foreign key: the user may delete it)
    recipient: Mapped[str] = mapped_column(sa.String(50))
    mobile_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    province: Mapped[str] = mapped_column(sa.String(32))
    city: Mapped[str] = mapped_column(sa.String(32))
    district: Mapped[str] = mapped_column(sa.String(32))
    detail: Mapped[str] = mapped_column(sa.String(200))
    postcode: Mapped[str] = mapped_column(sa.String(6))
    carrier: Mapped[str | None] = mapped_column(sa.String(32))
    waybill_no: Mapped[str | None] = mapped_column(sa.String(32))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_by: Mapped[str | None] = mapped_column(sa.String(64))
    tracking_state: Mapped[int | None]
    tracking_events: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{"time": iso, "context": …}] newest first
    last_queried_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tracking_error: Mapped[str] = mapped_column(sa.String(200), default="")
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    order = relationship("Order")

    @property
    def region(self) -> str:
        """省/市/区 in one line; a municipality's province and city are written once (北京市北京市 → 北京市)."""
        parts = [self.province] + ([self.city] if self.city != self.province else []) + [self.district]
        return "".join(part for part in parts if part)

    @property
    def full_address(self) -> str:
        return self.region + self.detail
