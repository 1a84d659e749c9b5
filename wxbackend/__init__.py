"""数安 CA 管家 backend: `create_app(config)` builds the Flask application from its rooms.

Where code goes (README "Where code goes"): each domain owns its models, services, transition tables, jobs
(`tasks.py`), CLI and its routes in every channel (`<domain>/web/h5.py`, `api.py`, `pc.py`); `core/`, `web/` and
`integrations/` are the floors below them and know no domain. This module registers the rooms, nothing else.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

import binding_site
import config as config_module
from wxbackend import models
from wxbackend.addresses.web import api as addresses_api
from wxbackend.addresses.web import h5 as addresses_h5
from wxbackend.agreements.web import api as agreements_api
from wxbackend.agreements.web import h5 as agreements_h5
from wxbackend.applications import review as applications_review
from wxbackend.applications import service as applications_service
from wxbackend.applications import tasks as application_tasks
from wxbackend.applications.web import admin as applications_admin
from wxbackend.applications.web import api as applications_api
from wxbackend.applications.web import h5 as applications_h5
from wxbackend.approvals import service as approvals_service
from wxbackend.approvals.web import admin as approvals_admin
from wxbackend.audit.service import record_audit
from wxbackend.audit.web import admin as audit_admin
from wxbackend.binding.web import api as binding_api
from wxbackend.binding.web import h5 as binding_h5
from wxbackend.binding.web import pc as binding_pc
from wxbackend.ca import tasks as ca_tasks
from wxbackend.ca.cli import ca_cli
from wxbackend.ca.web import ocsp as ca_ocsp
from wxbackend.ca.web import public as ca_public
from wxbackend.certificates import revocation as certificate_revocation
from wxbackend.certificates import tasks as certificate_tasks
from wxbackend.certificates.cli import revoke_command as certificates_revoke
from wxbackend.certificates.web import admin as certificates_admin
from wxbackend.certificates.web import api as certificates_api
from wxbackend.certificates.web import h5 as certificates_h5
from wxbackend.core import jobs
from wxbackend.core.db import db, migrate
from wxbackend.core.times import elapsed, local_day, local_minute, local_second
from wxbackend.counter import tasks as counter_tasks
from wxbackend.counter.web import admin as counter_admin
from wxbackend.demo.cli import demo_cli
from wxbackend.helper_releases.web import pc as helper_releases_pc
from wxbackend.identity.web import api as identity_api
from wxbackend.identity.web import h5 as identity_h5
from wxbackend.invoices import tasks as invoice_tasks
from wxbackend.invoices.cli import invoices_cli
from wxbackend.invoices.web import admin as invoices_admin
from wxbackend.invoices.web import api as invoices_api
from wxbackend.invoices.web import h5 as invoices_h5
from wxbackend.notices import tasks as notice_tasks
from wxbackend.orders.service import register_review_openers
from wxbackend.orders.web import admin as orders_admin
from wxbackend.orders.web import admin_fulfilment as orders_fulfilment_admin
from wxbackend.orders.web import api as orders_api
from wxbackend.orders.web import h5 as orders_h5
from wxbackend.payments import staff_refunds
from wxbackend.payments import tasks as payment_tasks
from wxbackend.payments.cli import bank_cli
from wxbackend.payments.web import admin as payments_admin
from wxbackend.payments.web import admin_refunds as payments_staff_refund
from wxbackend.payments.web import api as payments_api
from wxbackend.payments.web import h5 as payments_h5
from wxbackend.payments.web import notify as payments_notify
from wxbackend.reminders import tasks as reminder_tasks
from wxbackend.reminders.cli import reminders_cli
from wxbackend.reminders.web import api as reminders_api
from wxbackend.reminders.web import h5 as reminders_h5
from wxbackend.renewal import service as renewal_service
from wxbackend.renewal.web import pc as renewal_pc
from wxbackend.shipping import tasks as shipping_tasks
from wxbackend.shipping.web import admin as shipping_admin
from wxbackend.staff import service as staff_service
from wxbackend.staff.cli import staff_cli
from wxbackend.staff.web import admin as staff_admin
from wxbackend.support.web import admin as support_admin
from wxbackend.tickets.cli import tickets_cli
from wxbackend.users.service import get_user
from wxbackend.users.web import api as users_api
from wxbackend.users.web import h5 as users_h5
from wxbackend.users.web import pc as users_pc
from wxbackend.web import auth, console, health, staff_session
from wxbackend.web.api import ChineseApi
from wxbackend.web.api import spec_options as api_spec_options
from wxbackend.web.bounds import register_converters
from wxbackend.web.errors import register_error_handlers
from wxbackend.web.limits import init_limiter
from wxbackend.web.security import register_security_headers
from wxbackend.wechat import tasks as wechat_tasks
from wxbackend.wechat import views as wechat_views
from wxbackend.wechat.cli import wx_cli
from wxbackend.wechat.web import api as wechat_api

PAGE_BLUEPRINTS = (health.bp, ca_public.bp, ca_ocsp.bp, binding_site.bp, binding_pc.pages, renewal_pc.pages,
                   helper_releases_pc.pages, users_h5.bp, binding_h5.bp, certificates_h5.bp, orders_h5.bp,
                   identity_h5.bp, payments_h5.bp, invoices_h5.bp, invoices_h5.download_bp, addresses_h5.bp,
                   wechat_views.bp, payments_notify.bp, staff_admin.bp, payments_admin.bp, approvals_admin.bp,
                   payments_staff_refund.bp, support_admin.bp, invoices_admin.bp, orders_fulfilment_admin.bp,
                   orders_admin.bp, audit_admin.bp, certificates_admin.bp, applications_h5.bp, applications_admin.bp,
                   users_pc.pages, users_pc.api, reminders_h5.bp, shipping_admin.bp,
                   counter_admin.bp, agreements_h5.bp)
API_BLUEPRINTS = (users_api.bp, wechat_api.bp, certificates_api.bp, binding_api.bp, orders_api.bp, identity_api.bp,
                  payments_api.bp, invoices_api.bp, addresses_api.bp, binding_pc.bp, renewal_pc.bp, applications_api.bp,
                  reminders_api.bp, agreements_api.bp)
TASKS = (ca_tasks, certificate_tasks, invoice_tasks, notice_tasks, payment_tasks, wechat_tasks, application_tasks,
         reminder_tasks, shipping_tasks, counter_tasks)
COMMANDS = (ca_cli, demo_cli, bank_cli, tickets_cli, wx_cli, invoices_cli, staff_cli, reminders_cli)
# each domain's admin module; its QUEUES are the console's home and menu
CONSOLE = (staff_admin, orders_admin, payments_admin, approvals_admin, payments_staff_refund, support_admin,
           invoices_admin, orders_fulfilment_admin, audit_admin, certificates_admin, applications_admin, counter_admin)
# Every kind of four-eyes request and its effect, named by the domain that owns it (nothing registers on import).
APPROVAL_KINDS = (staff_refunds.REFUND_APPROVAL, applications_review.REVIEW_APPROVAL)
# What other domains end, in the same unit of work, when a certificate goes on hold or is revoked.
CERTIFICATE_OUT_OF_USE = (renewal_service.void_unconfirmed,)
# What opens the review once a reviewed order is paid (the order domain knows no application).
ORDER_REVIEW_OPENERS = (applications_service.open_review,)
# No cookie authenticates these: the key's signature and the PC token (PC API), WeChat's and WeChat Pay's signatures.
CSRF_EXEMPT_BLUEPRINTS = {binding_pc.bp.name, renewal_pc.bp.name, wechat_views.bp.name, payments_notify.bp.name,
                          ca_ocsp.bp.name}
CSRF_EXEMPT_ENDPOINTS = {"wechat_api.MiniProgramLogin"}  # the wx.login() code is the credential; no cookie yet


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from defaults, the environment and `overrides` (tests pass a dict)."""
    settings = config_module.load_config(overrides)
    app = Flask(__name__, instance_path=str(config_module.VAR), static_folder="web/static",
                template_folder="web/templates")
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
        API_TITLE="数安CA管家 API",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS=api_spec_options(settings["PUBLIC_BASE_URL"]),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the signed session
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by `protect_cookie_requests` below
    )
    app.json.ensure_ascii = False
    app.session_interface = auth.CookieSessions()
    if settings["TRUSTED_PROXY_HOPS"]:
        hops = settings["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logging.basicConfig(level=settings["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    assert models.__all__  # every model is registered before migrations look
    auth.set_user_loader(app, get_user)
    register_console(app)
    init_limiter(app)
    app.extensions["jobs"] = jobs.collect(TASKS)
    certificate_revocation.register_out_of_use_listeners(app, CERTIFICATE_OUT_OF_USE)
    register_csrf(app)
    register_converters(app)  # before any route: every <int:…> is a bounded row id
    api = ChineseApi()  # one per app: its OpenAPI document names this app's servers (tests run two apps)
    api.init_app(app)
    for blueprint in PAGE_BLUEPRINTS:
        app.register_blueprint(blueprint)
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)
    register_error_handlers(app)  # after the API's own, so ours answer
    register_request_hooks(app)
    ca_cli.add_command(certificates_revoke)  # `flask ca revoke`: the certificate and the CA's record together
    for command in COMMANDS:
        app.cli.add_command(command)
    return app


def register_csrf(app: Flask) -> None:
    csrf = CSRFProtect(app)

    @app.before_request
    def protect_cookie_requests():
        """CSRF for every state-changing request authenticated by the session cookie. A request with a bearer
        token is authenticated by that token alone (a browser cannot attach one cross-site)."""
        if request.method in ("GET", "HEAD", "OPTIONS") or not request.endpoint:
            return  # no endpoint: routing already failed (404/405 answer)
        if request.path.startswith("/admin/"):
            return  # the console has its own session and CSRF token (`web.staff_session`); this cookie opens nothing
        if request.blueprint in CSRF_EXEMPT_BLUEPRINTS or request.endpoint in CSRF_EXEMPT_ENDPOINTS:
            return
        if auth.bearer_token():
            return
        csrf.protect()


def record_staff_refusal(action: str, staff_id: int | None, result: str) -> None:
    record_audit(staff_service.actor(staff_id), action, target=f"path:{request.path}"[:128],
                 ip=request.remote_addr or "", result="refused", detail={"why": result[:200]})


def register_console(app: Flask) -> None:
    """The staff console: its sessions know staff by id, verify their TOTP codes, audit refused requests."""
    staff_session.set_staff_loader(app, staff_service.get_staff)
    staff_session.set_totp_verifier(app, lambda staff_id, code: staff_service.check_totp(
        staff_id, code, request.remote_addr or "", purpose="reauth"))
    staff_session.set_refusal_recorder(app, record_staff_refusal)
    app.extensions["console_queues"] = console.collect(CONSOLE)
    approvals_service.register_kinds(app, APPROVAL_KINDS)
    register_review_openers(app, ORDER_REVIEW_OPENERS)
    app.add_template_global(staff_session.csrf_token, "staff_csrf_token")
    app.add_template_global(staff_session.totp_is_fresh, "staff_totp_is_fresh")
    app.add_template_global(console.queues_for, "console_queues")
    app.after_request(staff_session.set_cookie)


def register_request_hooks(app: Flask) -> None:
    @app.after_request
    def commit_unit_of_work(response):
        """One commit per request, at the edge. A refusal was rolled back where it was answered (`web.errors`,
        `web.refusals`), so what commits then is only what must outlive it: its audit rows."""
        if response.status_code < 500 and db.session.registry.has():  # no session opened: nothing to commit
            db.session.commit()
        return response

    register_security_headers(app)

    app.add_template_filter(local_day, "local_date")
    app.add_template_filter(local_minute, "local_datetime")
    app.add_template_filter(elapsed, "elapsed")
    app.add_template_filter(local_second, "local_second")
