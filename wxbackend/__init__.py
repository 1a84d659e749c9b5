"""数安 CA 管家 backend: `create_app(config)` builds the Flask application."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask

import config as config_module


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from defaults, the environment and `overrides` (tests pass a dict)."""
    settings = config_module.load_config(overrides)
    app = Flask(__name__, instance_path=str(config_module.VAR))
    app.config.update(settings)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["APP_ENV"] == "production",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        JSON_AS_ASCII=False,
        TESTING=settings["APP_ENV"] == "testing",
    )
    app.json.ensure_ascii = False
    if settings["TRUSTED_PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logging.basicConfig(level=settings["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from wxbackend.core.db import db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    from wxbackend import models  # noqa: F401  (every model registered before migrations look)
    app.config.update(
        API_TITLE="数安CA管家 API",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the signed session
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by `protect_cookie_requests` below
    )
    from flask_wtf.csrf import CSRFProtect

    from binding_site import bp as binding_site_bp
    from binding_site import renew_api as _renew_routes  # noqa: F401  (joins pc_api_bp before registration)
    from binding_site.api import bp as pc_api_bp
    from wxbackend.addresses.views import bp as addresses_h5_bp
    from wxbackend.api import addresses as _address_routes  # noqa: F401  (joins api_bp before it is registered)
    from wxbackend.api import api
    from wxbackend.api import invoices as _invoice_routes  # noqa: F401  (joins api_bp before it is registered)
    from wxbackend.api import orders as _order_routes  # noqa: F401  (joins api_bp before it is registered)
    from wxbackend.api.views import bp as api_bp
    from wxbackend.ca.views import bp as ca_bp
    from wxbackend.h5.views import bp as h5_bp
    from wxbackend.invoices.views import bp as invoices_h5_bp
    from wxbackend.invoices.views import download_bp as invoice_download_bp
    from wxbackend.payments.h5_transfer import bp as transfer_h5_bp
    from wxbackend.payments.views import bp as wechatpay_bp
    from wxbackend.web.health import bp as web_bp
    from wxbackend.wechat.views import bp as wechat_bp

    csrf = CSRFProtect(app)
    # No cookie authenticates these: the key's signature and the PC token (pc_api), WeChat's signature (wechat).
    csrf_exempt_blueprints = {pc_api_bp.name, wechat_bp.name, wechatpay_bp.name}  # WeChat Pay's signature
    csrf_exempt_endpoints = {"api.MiniProgramLogin"}  # the wx.login() code is the credential; no cookie yet

    @app.before_request
    def protect_cookie_requests():
        """CSRF for every state-changing request authenticated by the session cookie. A request with a bearer
        token is authenticated by that token alone (a browser cannot attach one cross-site)."""
        from flask import request

        from wxbackend.web.auth import bearer_token

        if request.method in ("GET", "HEAD", "OPTIONS") or not request.endpoint:
            return  # no endpoint: routing already failed (404/405 answer)
        if request.blueprint in csrf_exempt_blueprints or request.endpoint in csrf_exempt_endpoints:
            return
        if bearer_token():
            return
        csrf.protect()

    api.init_app(app)
    app.register_blueprint(web_bp)
    app.register_blueprint(ca_bp)
    app.register_blueprint(binding_site_bp)
    app.register_blueprint(h5_bp)
    app.register_blueprint(transfer_h5_bp)
    app.register_blueprint(wechat_bp)
    app.register_blueprint(wechatpay_bp)
    app.register_blueprint(invoices_h5_bp)
    app.register_blueprint(invoice_download_bp)
    app.register_blueprint(addresses_h5_bp)
    api.register_blueprint(api_bp)
    api.register_blueprint(pc_api_bp)

    from wxbackend.web.errors import register_error_handlers  # after the API's own, so ours answer

    register_error_handlers(app)
    register_request_hooks(app)

    from wxbackend.ca.cli import ca_cli
    from wxbackend.demo.cli import demo_cli
    from wxbackend.invoices.cli import invoices_cli
    from wxbackend.payments.cli import bank_cli
    from wxbackend.tickets.cli import tickets_cli
    from wxbackend.wechat.cli import wx_cli

    app.cli.add_command(ca_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(bank_cli)
    app.cli.add_command(tickets_cli)
    app.cli.add_command(wx_cli)
    app.cli.add_command(invoices_cli)
    return app


def register_request_hooks(app: Flask) -> None:
    from wxbackend.core.db import db
    from wxbackend.core.times import local_day, local_minute

    @app.after_request
    def commit_unit_of_work(response):
        """One commit per request, at the edge. Refusals (4xx) commit too: their audit rows must stay."""
        if response.status_code < 500:
            db.session.commit()
        return response

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.add_template_filter(local_day, "local_date")
    app.add_template_filter(local_minute, "local_datetime")
