"""User services."""

from __future__ import annotations

import sqlalchemy as sa

from wxbackend.errors import DomainError
from wxbackend.extensions import db
from wxbackend.users.models import User


def dev_user(name: str) -> User:
    """The development sign-in's user for `name` (an openid of its own), created on first use."""
    name = name.strip()
    if not 1 <= len(name) <= 20:
        raise DomainError("请输入1至20个字的名字", code="invalid_name")
    openid = f"dev-{name}"
    user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None:
        user = User(openid=openid, nickname=name)
        db.session.add(user)
        db.session.flush()
    return user
