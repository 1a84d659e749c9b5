"""User services."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wxbackend.core.db import db
from wxbackend.core.errors import DomainError
from wxbackend.core.times import utcnow
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


def user_for_wechat(*, openid: str | None = None, mp_openid: str | None = None, unionid: str | None = None) -> User:
    """The User for a WeChat identity, created on first sight. The unionid joins the official account's
    openid and the mini-program's mp_openid into one person; an id WeChat gives is filled in when missing."""
    if not (openid or mp_openid):
        raise ValueError("openid or mp_openid is required")
    user = None
    if unionid:
        user = db.session.scalar(sa.select(User).where(User.unionid == unionid))
    if user is None and openid:
        user = db.session.scalar(sa.select(User).where(User.openid == openid))
    if user is None and mp_openid:
        user = db.session.scalar(sa.select(User).where(User.mp_openid == mp_openid))
    if user is None:
        try:
            with db.session.begin_nested():  # two first requests at once: the loser finds the winner's row
                user = User(openid=openid, mp_openid=mp_openid, unionid=unionid)
                db.session.add(user)
        except IntegrityError:
            return user_for_wechat(openid=openid, mp_openid=mp_openid, unionid=unionid)
    for field, value in (("openid", openid), ("mp_openid", mp_openid), ("unionid", unionid)):
        if value and getattr(user, field) is None:
            setattr(user, field, value)
    db.session.flush()
    return user


def set_following(openid: str, following: bool, unionid: str | None = None) -> User:
    """Record that `openid` followed (or unfollowed) the official account."""
    user = user_for_wechat(openid=openid, unionid=unionid)
    user.following = following
    user.following_changed_at = utcnow()
    db.session.flush()
    return user


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)
