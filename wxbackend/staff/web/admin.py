"""The console's own pages (/admin, DESIGN §15): signing in with a password then a TOTP code (enrolled with a QR
code at the first sign-in), the home page with a count for every queue the staff member works, changing one's
password, and (管理员) staff accounts: create, roles, disable, enable, unlock, reset."""

from __future__ import annotations

import time
from urllib.parse import urlparse

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from wxbackend.core.errors import DomainError
from wxbackend.core.qr import qr_svg
from wxbackend.core.times import utcnow
from wxbackend.staff import service
from wxbackend.staff.models import ROLE_LABELS, Role
from wxbackend.web import staff_session as sessions
from wxbackend.web.console import queues_for
from wxbackend.web.limits import limiter
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import PASSWORD, fresh_totp_required, staff_required

bp = Blueprint("staff_admin", __name__, url_prefix="/admin", template_folder="../templates")
QUEUES = ()  # the staff pages have no queue; the accounts page is in the menu for 管理员


def client_ip() -> str:
    return request.remote_addr or ""


def sign_in_limit() -> str:
    return current_app.config["STAFF_SIGN_IN_LIMIT"]


def qr_markup(text: str) -> Markup:
    return Markup(qr_svg(text))  # noqa: S704 (our own SVG, made from our own text)


def after_first_factor(staff) -> str:
    return url_for("staff_admin.enrol") if staff.totp_enrolled_at is None else url_for("staff_admin.totp")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(sign_in_limit, methods=["POST"])
@refusals_flashed()
def sign_in():
    """First factor: user name and password."""
    if request.method == "POST":
        staff = service.check_password(request.form.get("username", ""), request.form.get("password", ""),
                                       client_ip())
        sessions.open_session(staff.id, PASSWORD)
        return redirect(after_first_factor(staff))
    return render_template("staff/sign_in.html")


def second_factor_page(**_view_args) -> str:
    return request.path


@bp.route("/login/totp", methods=["GET", "POST"])
@staff_required(stage=PASSWORD)
@limiter.limit(sign_in_limit, methods=["POST"])
@refusals_flashed(back=second_factor_page)
def totp():
    """Second factor: the 6-digit code of the authenticator app (a code already used is refused)."""
    if request.method == "POST":
        service.check_totp(g.staff.id, request.form.get("code", ""), client_ip())
        sessions.open_session(g.staff.id, sessions.FULL, totp_at=time.time())
        return redirect(url_for("staff_admin.password") if g.staff.must_change_password else
                        url_for("staff_admin.home"))
    return render_template("staff/totp.html")


@bp.route("/enrol", methods=["GET", "POST"])
@staff_required(stage=PASSWORD)
@limiter.limit(sign_in_limit, methods=["POST"])
@refusals_flashed(back=second_factor_page)
def enrol():
    """First sign-in: scan the QR code with an authenticator app, then confirm with its first code."""
    if request.method == "POST":
        service.finish_enrolment(g.staff.id, request.form.get("code", ""), client_ip())
        sessions.open_session(g.staff.id, sessions.FULL, totp_at=time.time())
        flash("动态口令已绑定", "ok")
        return redirect(url_for("staff_admin.password"))
    secret, uri = service.enrolment_secret(g.staff.id)
    return render_template("staff/enrol.html", secret=secret, uri=uri, qr=qr_markup(uri))


@bp.post("/logout")
@staff_required()
def sign_out():
    sessions.end_session()
    return redirect(url_for("staff_admin.sign_in"))


@bp.get("/")
@staff_required()
def home():
    tiles = [(queue, queue.count() if queue.count else None) for queue in queues_for(g.staff)]
    return render_template("staff/home.html", tiles=tiles)


@bp.route("/reauth", methods=["GET", "POST"])
@staff_required()
@limiter.limit(sign_in_limit, methods=["POST"])
@refusals_flashed()
def reauth():
    """A fresh TOTP code, asked before a sensitive action."""
    target = request.args.get("next", "")
    if urlparse(target).netloc or not target.startswith("/admin"):
        target = url_for("staff_admin.home")
    if request.method == "POST":
        service.check_totp(g.staff.id, request.form.get("code", ""), client_ip(), purpose="reauth")
        sessions.mark_totp()
        return redirect(target)
    return render_template("staff/totp.html", reauth=True)


@bp.route("/password", methods=["GET", "POST"])
@staff_required()
@limiter.limit(sign_in_limit, methods=["POST"])
@refusals_flashed()
def password():
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("new_password_again", ""):
            raise DomainError("两次输入的新密码不一致", code="password_mismatch")
        service.change_password(g.staff.id, request.form.get("current_password", ""), new, client_ip())
        flash("密码已修改", "ok")
        return redirect(url_for("staff_admin.home"))
    return render_template("staff/password.html")


# ------------------------------------------------------------------------------------------- staff accounts


def staff_page(**_view_args) -> str:
    return url_for("staff_admin.staff_list")


@bp.get("/staff")
@staff_required(Role.ADMIN)
def staff_list():
    return render_template("staff/staff_list.html", members=service.list_staff(), roles=ROLE_LABELS, now=utcnow())


@bp.route("/staff/new", methods=["GET", "POST"])
@staff_required(Role.ADMIN)
@refusals_flashed()
@fresh_totp_required
def staff_new():
    if request.method == "POST":
        staff, one_time = service.create_staff(g.staff.id, request.form.get("username", ""),
                                               request.form.get("display_name", ""), request.form.getlist("roles"),
                                               ip=client_ip())
        return render_template("staff/staff_created.html", member=staff, one_time=one_time)
    return render_template("staff/staff_new.html", roles=ROLE_LABELS)


@bp.post("/staff/<int:staff_id>/roles")
@staff_required(Role.ADMIN)
@refusals_flashed(back=staff_page)
@fresh_totp_required
def staff_roles(staff_id: int):
    service.set_roles(g.staff.id, staff_id, request.form.getlist("roles"), client_ip())
    flash("角色已更新", "ok")
    return redirect(staff_page())


@bp.post("/staff/<int:staff_id>/active")
@staff_required(Role.ADMIN)
@refusals_flashed(back=staff_page)
@fresh_totp_required
def staff_active(staff_id: int):
    active = request.form.get("active") == "1"
    service.set_active(g.staff.id, staff_id, active, client_ip())
    flash("账户已启用" if active else "账户已停用", "ok")
    return redirect(staff_page())


@bp.post("/staff/<int:staff_id>/unlock")
@staff_required(Role.ADMIN)
@refusals_flashed(back=staff_page)
def staff_unlock(staff_id: int):
    service.unlock(g.staff.id, staff_id, client_ip())
    flash("账户已解锁", "ok")
    return redirect(staff_page())


@bp.post("/staff/<int:staff_id>/reset")
@staff_required(Role.ADMIN)
@refusals_flashed(back=staff_page)
@fresh_totp_required
def staff_reset(staff_id: int):
    one_time = service.reset_credentials(g.staff.id, staff_id, client_ip())
    return render_template("staff/staff_created.html", member=service.staff_member(staff_id), one_time=one_time,
                           reset=True)
