"""Who is signed in. Until WeChat OAuth lands, the development sign-in (DEV_SIGN_IN, never in production)
puts the user id in the signed session cookie."""

from __future__ import annotations

import functools

from flask import current_app, g, redirect, request, session, url_for

from wxbackend.errors import DomainError
from wxbackend.extensions import db
from wxbackend.users.models import User


class NotSignedIn(DomainError):
    code, message, status = "not_signed_in", "请先登录", 401


def current_user() -> User | None:
    if "current_user" not in g:
        user_id = session.get("user_id")
        g.current_user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    return g.current_user


def sign_in(user: User) -> None:
    session.clear()
    session["user_id"] = user.id
    session.permanent = True


def api_user_id() -> int:
    """The signed-in user's id for JSON endpoints; NotSignedIn (401) otherwise."""
    user = current_user()
    if user is None:
        raise NotSignedIn()
    return user.id


def page_login_required(view):
    """H5 pages: unauthenticated → the sign-in page, coming back afterwards."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            if current_app.config["DEV_SIGN_IN"]:
                return redirect(url_for("h5.dev_sign_in", next=request.full_path.rstrip("?")))
            raise NotSignedIn("请在微信中打开")
        return view(*args, **kwargs)

    return wrapper
