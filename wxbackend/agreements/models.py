"""Acceptances of a versioned text: one row per user, document and version."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class AgreementAcceptance(db.Model):
    """A user accepted one version of one document at `accepted_at` (the first time: a later acceptance of the
    same version changes nothing)."""

    __tablename__ = "agreement_acceptances"
    __table_args__ = (sa.UniqueConstraint("user_id", "document", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    document: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[str] = mapped_column(sa.String(32))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
