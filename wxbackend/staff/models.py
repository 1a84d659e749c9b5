"""Staff accounts (DESIGN §15): argon2 password hash, an encrypted TOTP secret with the last accepted time step
(a code is never accepted twice), roles, lockout state."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class Role(enum.StrEnum):
    AUDITOR = "auditor"
    FINANCE = "finance"
    MAKER = "maker"
    SUPPORT = "support"
    ADMIN = "admin"


ROLE_LABELS = {Role.AUDITOR: "审核员", Role.FINANCE: "财务", Role.MAKER: "制证", Role.SUPPORT: "客服",
               Role.ADMIN: "管理员"}


class StaffMember(db.Model):
    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(32), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(32))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    roles: Mapped[str] = mapped_column(sa.String(100), default="")  # comma-separated Role values
    totp_secret: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)  # encrypted (core.crypto)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_totp_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # the newest time step accepted
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    lockouts: Mapped[int] = mapped_column(sa.Integer, default=0)  # each lockout lasts twice the one before
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    must_change_password: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def role_set(self) -> set[Role]:
        return {Role(r) for r in self.roles.split(",") if r}

    @property
    def role_labels(self) -> str:
        return "、".join(ROLE_LABELS[r] for r in Role if r in self.role_set) or "无"

    def has_role(self, *roles: Role) -> bool:
        return bool(self.role_set.intersection(roles))

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now
