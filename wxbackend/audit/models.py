"""The audit trail: who did what, when, with what result. Never a PIN, a code, a full ID number or a key.

Rows are only ever added: no route edits or deletes one, the database refuses UPDATE and DELETE on the table (a
trigger, migration 0010) and the application's role holds only INSERT and SELECT on it (`deploy/audit_role.sql`;
README "Audit trail")."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_logs"
    __table_args__ = (
        # the viewer (audit.service.search_audit): one actor's rows newest first; target and action by prefix
        sa.Index("ix_audit_logs_actor_id", "actor", "id"),
        sa.Index("ix_audit_logs_target", "target", postgresql_ops={"target": "varchar_pattern_ops"}),
        sa.Index("ix_audit_logs_action", "action", postgresql_ops={"action": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(sa.String(64))  # "user:12", "staff:3", "system"
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str] = mapped_column(sa.String(128), default="")
    result: Mapped[str] = mapped_column(sa.String(32), default="ok")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
