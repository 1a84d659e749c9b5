"""The audit trail: who did what, when, with what result. Never a PIN, a code, a full ID number or a key."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(sa.String(64), index=True)  # "user:12", "staff:3", "system"
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target: Mapped[str] = mapped_column(sa.String(128), default="", index=True)
    result: Mapped[str] = mapped_column(sa.String(32), default="ok")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
