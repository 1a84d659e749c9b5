"""Users: one WeChat person, reachable through the official account, the mini-program or both."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class User(db.Model):
    """A WeChat person. `openid` is the official account's, `mp_openid` the mini-program's; `unionid`
    joins the two when WeChat gives it."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    mp_openid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    nickname: Mapped[str] = mapped_column(sa.String(64), default="")
    identity_verified: Mapped[bool] = mapped_column(default=False)
    following: Mapped[bool] = mapped_column(default=False, server_default=sa.false())  # the official account
    following_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def masked_name(self) -> str:
        """`张**`, or `***k2Xa` (the end of the openid) when WeChat gave no nickname: what the other side of a
        binding sees of this person."""
        if self.nickname:
            return self.nickname[0] + "**"
        wechat_id = self.openid or self.mp_openid or ""
        return "***" + wechat_id[-4:] if wechat_id else "**"
