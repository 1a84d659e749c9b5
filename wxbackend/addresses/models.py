"""Postal addresses (我的地址). The mobile is personal data: AES-GCM encrypted with a masked copy for lists."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class Address(db.Model):
    """收件人, 手机, 省/市/区, 详细地址, 邮编; at most one default per user (a partial unique index)."""

    __tablename__ = "addresses"
    __table_args__ = (
        sa.Index("uq_addresses_default_per_user", "user_id", unique=True,
                 postgresql_where=sa.text("is_default"), sqlite_where=sa.text("is_default")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    recipient: Mapped[str] = mapped_column(sa.String(50))
    mobile_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    province: Mapped[str] = mapped_column(sa.String(32))
    city: Mapped[str] = mapped_column(sa.String(32))
    district: Mapped[str] = mapped_column(sa.String(32))
    detail: Mapped[str] = mapped_column(sa.String(200))
    postcode: Mapped[str] = mapped_column(sa.String(6))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def region(self) -> str:
        """省/市/区 in one line; a municipality's province and city are written once (北京市北京市 → 北京市)."""
        parts = [self.province] + ([self.city] if self.city != self.province else []) + [self.district]
        return "".join(part for part in parts if part)
