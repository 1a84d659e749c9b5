"""Identity checks. The ID number and mobile are stored encrypted (AES-GCM) with keyed hashes for lookups."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class IdentityCheck(db.Model):
    """One identity check of a user, with the separate consent it was made under (version and time)."""

    __tablename__ = "identity_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    id_number_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    id_number_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(sa.String(32))
    mobile_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    mobile_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    mobile_masked: Mapped[str] = mapped_column(sa.String(16))
    provider: Mapped[str] = mapped_column(sa.String(32))
    result: Mapped[str] = mapped_column(sa.String(16))  # passed | failed
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    consent_version: Mapped[str] = mapped_column(sa.String(32))
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
