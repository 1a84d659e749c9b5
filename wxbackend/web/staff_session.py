"""Staff sessions of the console (DESIGN §15), apart from customers' in every way.

- Their own cookie (`cagj_staff`, path /admin, HttpOnly, SameSite=Strict, Secure in production) holding a random
  id; the session itself lives in Redis (key = SHA-256 of the id), so it can end at once (sign-out, disabling).
- Idle timeout (`STAFF_SESSION_IDLE_MINUTES`) and absolute timeout (`STAFF_SESSION_MAX_HOURS`).
- Two stages: "password" (first factor passed, TOTP still to come) and "full". Only "full" opens console pages.
- Its own CSRF token, checked on every state-changing request; the customer session cookie, the customer CSRF
  token and bearer tokens are never consulted, so none of them opens /admin.
- `staff_required(*roles)`: the edge check of every console route; `fresh_totp_required`: a sensitive action asks
  for a TOTP code entered within `STAFF_FRESH_TOTP_MINUTES`.

This floor knows no domain: create_app names how a staff id becomes a staff member (`set_staff_loader`) and how a
refused attempt is audited (`set_refusal_recorder`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from flask import abort, current_app, g, redirect, request, url_for

from wxbackend.core.redis import get_redis

COOKIE = "cagj_staff"
FULL, PASSWORD = "full", "password"


@dataclass
class StaffSession:
    staff_id: int
    stage: str
    created: float
    seen: float
    csrf: str
    totp_at: float  # when a TOTP code was last accepted in this session


def set_staff_loader(app, load: Callable[[int], Any | None]) -> None:
    app.extensions["load_staff"] = load


def set_totp_verifier(app, verify: Callable[[int, str], None]) -> None:
    """`verify(staff_id, code)` accepts a TOTP code or raises the refusal (wrong, replayed, locked)."""
    app.extensions["verify_staff_totp"] = verify


def set_refusal_recorder(app, record: Callable[..., None]) -> None:
    """`record(action, staff_id, result)` audits a refused console request (no session, wrong role, CSRF)."""
    app.extensions["record_staff_refusal"] = record


def _key(session_id: str) -> str:
    return "staff:session:" + hashlib.sha256(session_id.encode()).hexdigest()


def _save(session_id: str, state: StaffSession) -> None:
    idle = current_app.config["STAFF_SESSION_IDLE_MINUTES"] * 60
    get_redis().set(_key(session_id), json.dumps(asdict(state)), ex=idle)


def open_session(staff_id: int, stage: str, totp_at: float = 0.0) -> None:
    """A new session (a new id: no fixation) for `staff_id`; the cookie is set on this response."""
    end_session()
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    state = StaffSession(staff_id, stage, now, now, secrets.token_urlsafe(24), totp_at)
    _save(session_id, state)
    g.staff_session_cookie = session_id
    g.staff_session = state


def _load() -> tuple[str, StaffSession] | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > 64:
        return None
    raw = get_redis().get(_key(session_id))
    if raw is None:
        return None
    state = StaffSession(**json.loads(raw))
    now = time.time()
    cfg = current_app.config
    if now - state.created > cfg["STAFF_SESSION_MAX_HOURS"] * 3600 or \
            now - state.seen > cfg["STAFF_SESSION_IDLE_MINUTES"] * 60:
        get_redis().delete(_key(session_id))
        return None
    return session_id, state


def current_session() -> StaffSession | None:
    """This request's staff session, refreshed (its idle clock starts again)."""
    if "staff_session" not in g:
        loaded = _load()
        g.staff_session = None
        if loaded:
            session_id, state = loaded
            state.seen = time.time()
            _save(session_id, state)
            g.staff_session = state
    return g.staff_session


def mark_totp(stage: str = FULL) -> None:
    """A TOTP code was accepted now: the session is full (and fresh for sensitive actions)."""
    loaded = _load()
    if loaded is None:
        return
    session_id, state = loaded
    state.stage, state.totp_at = stage, time.time()
    _save(session_id, state)
    g.staff_session = state


def end_session() -> None:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        get_redis().delete(_key(session_id))
    g.staff_session = None
    g.staff_session_cookie = ""


def set_cookie(response):
    """after_request: write (or clear) the staff cookie when this request opened or ended a session."""
    value = g.get("staff_session_cookie")
    if value is None:
        return response
    secure = current_app.config["APP_ENV"] == "production"
    if value:
        response.set_cookie(COOKIE, value, path="/admin", httponly=True, samesite="Strict", secure=secure,
                            max_age=current_app.config["STAFF_SESSION_MAX_HOURS"] * 3600)
    else:
        response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="Strict", secure=secure)
    return response


def csrf_token() -> str:
    state = current_session()
    return state.csrf if state else ""


def _csrf_ok(state: StaffSession) -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRFToken") or ""
    return secrets.compare_digest(sent, state.csrf)


def _refused(action: str, staff_id: int | None, result: str) -> None:
    current_app.extensions["record_staff_refusal"](action, staff_id, result)


def current_staff() -> Any | None:
    return g.get("staff")


def staff_required(*roles: str, stage: str = FULL):
    """The edge check of a console route: a live session of an active staff member at `stage`, holding one of
    `roles` (none named: any staff member); a state-changing request must carry the session's CSRF token."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            state = current_session()
            if state is None or state.stage != stage:
                if state is None:
                    _refused("staff.no_session", None, request.path)
                return redirect(url_for("staff_admin.sign_in"))
            staff = current_app.extensions["load_staff"](state.staff_id)
            if staff is None or not staff.active:
                _refused("staff.disabled_session", state.staff_id, request.path)
                end_session()
                return redirect(url_for("staff_admin.sign_in"))
            if request.method not in ("GET", "HEAD", "OPTIONS") and not _csrf_ok(state):
                _refused("staff.csrf_refused", staff.id, request.path)
                abort(400)
            if roles and not staff.has_role(*roles):
                _refused("staff.forbidden", staff.id, request.path)
                abort(403)
            g.staff = staff
            return view(*args, **kwargs)

        return wrapper

    return decorate


def totp_is_fresh() -> bool:
    state = current_session()
    minutes = current_app.config["STAFF_FRESH_TOTP_MINUTES"]
    return bool(state) and time.time() - state.totp_at <= minutes * 60


def fresh_totp_required(view):
    """A sensitive action: without a TOTP code accepted within the last few minutes, the request must carry one
    (`totp_code`, asked for by the form); a wrong or replayed one is refused like at sign-in."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not totp_is_fresh():
            code = request.form.get("totp_code", "")
            if not code:
                abort(428)
            current_app.extensions["verify_staff_totp"](g.staff.id, code)
            mark_totp()
        return view(*args, **kwargs)

    return wrapper
