"""Who is signed in.

- H5 pages: WeChat OAuth (`snsapi_base`) puts the user id in the signed session cookie. Without a configured
  official account, the development sign-in (DEV_SIGN_IN, refused in production) stands in for it.
- The mini-program: `POST /api/auth/mini-program` gives a signed, expiring API token sent as
  `Authorization: Bearer …`. A request carrying one is authenticated by it alone, never by the cookie.

This floor knows no domain: create_app names how a user id becomes a user (`set_user_loader`).
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from wxbackend.core.errors import DomainError
from wxbackend.integrations.wechat import oauth

OAUTH_CALLBACK = "/wechat/oauth/callback"
API_TOKEN_SALT = "api-token"


class NotSignedIn(DomainError):
    code, message, status = "not_signed_in", "请先登录", 401


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its serializer made once per set of keys (Flask makes one for every
    request, cookie or not)."""

    def __init__(self):
        self._serializers: dict[tuple, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            self._serializers[keys] = serializer
        return serializer


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _token_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=API_TOKEN_SALT)


def issue_api_token(user_id: int) -> tuple[str, int]:
    """A signed API token for `user_id` and its lifetime in seconds."""
    return _token_serializer().dumps({"u": user_id}), current_app.config["API_TOKEN_HOURS"] * 3600


def set_user_loader(app, load_user: Callable[[int], Any | None]) -> None:
    """How this app turns a signed user id into its user (None: no such user)."""
    app.extensions["load_user"] = load_user


def _load(user_id: object) -> Any | None:
    return current_app.extensions["load_user"](user_id) if isinstance(user_id, int) else None


def _user_from_token(token: str) -> Any:
    try:
        payload = _token_serializer().loads(token, max_age=current_app.config["API_TOKEN_HOURS"] * 3600)
    except SignatureExpired:
        raise NotSignedIn("登录已过期，请重新登录", code="token_expired") from None
    except BadSignature:
        raise NotSignedIn("登录凭证无效，请重新登录", code="token_invalid") from None
    user = _load(payload.get("u")) if isinstance(payload, dict) else None
    if user is None:
        raise NotSignedIn("登录凭证无效，请重新登录", code="token_invalid")
    return user


def current_user() -> Any | None:
    """The signed-in user: by the bearer token when the request has one, else by the session cookie."""
    if "current_user" not in g:
        token = bearer_token()
        if token:
            g.current_user = _user_from_token(token)
        else:
            g.current_user = _load(session.get("user_id")) if _pc_session_alive() else None
    return g.current_user


PC_SEEN = "pc_seen"  # a session signed in on the PC (扫码登录): when it last made a request


def _pc_session_alive() -> bool:
    """A PC session ends after PC_SESSION_IDLE_MINUTES without a request (a phone's session is not affected)."""
    seen = session.get(PC_SEEN)
    if seen is None:
        return True
    now = int(time.time())
    if not isinstance(seen, int) or now - seen > current_app.config["PC_SESSION_IDLE_MINUTES"] * 60:
        session.clear()
        return False
    if now - seen >= 30:  # refresh the mark, not on every request
        session[PC_SEEN] = now
    return True


def current_user_id() -> int | None:
    """The signed-in user's id (pages behind `page_login_required` always have one)."""
    user = current_user()
    return None if user is None else user.id


def sign_in(user_id: int) -> None:
    session.clear()
    session["user_id"] = user_id
    session.permanent = True


def sign_in_pc(user_id: int) -> None:
    """The customer session on a PC (扫码登录): the same as the phone's, with the shorter idle timeout."""
    sign_in(user_id)
    session[PC_SEEN] = int(time.time())


def sign_out() -> None:
    session.clear()
    g.pop("current_user", None)


def api_user_id() -> int:
    """The signed-in user's id for JSON endpoints; NotSignedIn (401) otherwise."""
    user = current_user()
    if user is None:
        raise NotSignedIn()
    return user.id


def safe_next(target: str | None) -> str:
    """Only our own H5 paths are places to come back to after signing in."""
    if target and target.startswith("/h5/") and "//" not in target and "\\" not in target:
        return target
    return url_for("users_h5.home")


def oauth_redirect_uri() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + OAUTH_CALLBACK


def start_oauth(next_path: str) -> str:
    """WeChat's authorize URL for a fresh random `state`, kept in the session with where to come back to."""
    state = secrets.token_urlsafe(24)
    session["oauth_state"] = state
    session["oauth_next"] = safe_next(next_path)
    return oauth(oauth_redirect_uri(), state).authorize_url


DESKTOP_SYSTEMS = ("Windows NT", "Macintosh", "X11", "CrOS")


def _desktop_outside_wechat(user_agent: str) -> bool:
    """A desktop browser (Windows, macOS, Linux), not WeChat's own (whose PC client can do OAuth), not a phone."""
    return (user_agent.startswith("Mozilla/") and any(system in user_agent for system in DESKTOP_SYSTEMS)
            and not any(word in user_agent for word in ("MicroMessenger", "Mobile", "Android")))


def page_login_required(view):
    """H5 pages: unauthenticated → WeChat OAuth (or the development sign-in), coming back afterwards. A desktop
    browser outside WeChat, where OAuth cannot sign anyone in, goes to the PC's 扫码登录 instead (the printed
    form's QR code and the links of the PC home open H5 pages)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            here = request.full_path.rstrip("?")
            if current_app.config["WECHAT_APP_ID"]:
                if _desktop_outside_wechat(request.headers.get("User-Agent", "")):
                    return redirect("/pc/login?" + urlencode({"next": here}))
                return redirect(start_oauth(here))
            if current_app.config["DEV_SIGN_IN"]:
                return redirect(url_for("users_h5.dev_sign_in", next=here))
            raise NotSignedIn("请在微信中打开")
        return view(*args, **kwargs)

    return wrapper
