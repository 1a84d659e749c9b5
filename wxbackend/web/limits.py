"""Rate limits (Flask-Limiter, counters in Redis so every process shares them).

Each code, login or costly path names its limit at its route, read from config at request time (so a deployment
tunes it without code): `@limiter.limit(configured("PC_START_LIMIT"))`, per client IP by default, or per signed-in
user (`by_user`). Paths that do the same thing in two channels share one budget (`limiter.shared_limit(…, scope=…)`).
A request over its limit gets 429 with a Chinese message, in JSON under /api/ and /pc/api/ and as a page elsewhere
(`web.errors`), before the view runs: it writes nothing, audit rows included.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from wxbackend.core.errors import DomainError
from wxbackend.web import auth

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)
UNLIMITED_ENDPOINTS: set[str] = set()  # hot endpoints with no limit of their own: no limit is looked up for them


def unlimited(endpoint: str) -> None:
    """Mark an endpoint ("blueprint.view") that has no rate limit (none by default either), so that no request to
    it pays for looking limits up: Flask-Limiter resolves every request's limits otherwise."""
    UNLIMITED_ENDPOINTS.add(endpoint)


def init_limiter(app) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "cagj-limit")
    limiter.init_app(app)
    # Flask-Limiter resolves the limits of every request (its exemptions are checked only while it does): for the
    # endpoints marked `unlimited` its check is not even called.
    hooks = app.before_request_funcs[None]
    check = hooks[hooks.index(limiter._check_request_limit)]

    def check_request_limit():
        if request.endpoint not in UNLIMITED_ENDPOINTS:
            return check()

    hooks[hooks.index(check)] = check_request_limit


def configured(key: str) -> Callable[[], str]:
    """The limit in config `key` (Flask-Limiter notation, e.g. "30 per 15 minutes"), read at each request."""
    return lambda: current_app.config[key]


def by_ip() -> str:
    return f"ip:{request.remote_addr or ''}"


def by_user() -> str:
    """The signed-in user (cookie or bearer token), else the client IP: a user's budget follows them across
    addresses, and signing in as many users from one address still meets that address's own limit."""
    try:
        user_id = auth.current_user_id()
    except DomainError:  # a bad bearer token: the view answers 401 itself
        user_id = None
    return f"user:{user_id}" if user_id is not None else by_ip()


def limited(config_key: str, *, scope: str | None = None, key_func: Callable[[], str] = by_ip,
            methods: list[str] | None = None):
    """The limit in config `config_key` on a view (or a MethodView method), per `key_func`; with `scope`, one budget
    shared by every view so decorated (the same action in two channels)."""
    if scope is not None:
        limit = limiter.shared_limit(configured(config_key), scope=scope, key_func=key_func, methods=methods)
    else:
        limit = limiter.limit(configured(config_key), key_func=key_func, methods=methods)

    def decorate(view):
        limited_view = limit(view)
        limited_view.rate_limited = config_key  # the OpenAPI document lists its 429 (`web.api.CommonResponses`)
        return limited_view

    return decorate
