"""H5 pages of the signed-in user: the home page, the development sign-in, and 扫码登录's question to the phone."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from wxbackend.users import service
from wxbackend.users.forms import SignInForm
from wxbackend.users.service import dev_user
from wxbackend.web.auth import current_user, current_user_id, page_login_required, safe_next, sign_in
from wxbackend.web.forms import ConfirmForm

bp = Blueprint("users_h5", __name__, url_prefix="/h5", template_folder="../templates")


TILES = [
    ("待办事项", "orders_h5.todo", "todo"),
    ("我的受理单", "orders_h5.orders_list", "orders"),
    ("我的数字证书", "certificates_h5.certificates", "certs"),
    ("我的发票", "invoices_h5.invoices", "invoices"),
    ("我的地址", "addresses_h5.addresses", "addresses"),
    ("证书绑定", "binding_h5.bind", "bind"),
    ("发票信息管理", "invoices_h5.profiles", "invoice-profiles"),
    ("我的业务单", "applications_h5.applications_list", "applications"),
    ("介质遗失补办", "applications_h5.replacement_lookup", "replacement"),
    ("到期提醒", "reminders_h5.settings", "reminders"),
]


@bp.route("/dev/sign-in", methods=["GET", "POST"])
def dev_sign_in():
    """Development stand-in for WeChat OAuth: only with DEV_SIGN_IN (refused in production by config)."""
    if not current_app.config["DEV_SIGN_IN"]:
        abort(404)
    form = SignInForm()
    if form.validate_on_submit():
        sign_in(dev_user(form.name.data).id)
        return redirect(safe_next(request.args.get("next")))
    return render_template("users/dev_sign_in.html", form=form)


@bp.get("/")
@page_login_required
def home():
    return render_template("users/home.html", tiles=TILES, user=current_user())


@bp.get("/pc-login")
@page_login_required
def pc_login_scan():
    """What 微信扫一扫 opens from the PC's QR code: the first user to open it claims the login, then sees the
    question (the link's token leaves the address bar)."""
    login_id = service.scan_pc_login(current_user_id(), request.args.get("t"))
    return redirect(url_for("users_h5.pc_login_question", login_id=login_id))


@bp.route("/pc-login/<login_id>", methods=["GET", "POST"])
@page_login_required
def pc_login_question(login_id: str):
    """在电脑上登录数安CA管家？ with the PC's network, browser and time; 确认登录 or 取消 (POST, CSRF)."""
    form = ConfirmForm()
    answered = None
    if form.validate_on_submit():
        answered = service.answer_pc_login(current_user_id(), login_id, request.form.get("answer") == "confirm",
                                           request.remote_addr or "")
    found = service.pc_login_request(current_user_id(), login_id)
    return render_template("users/pc_login_question.html", login=found, login_id=login_id, form=form,
                           answered=answered or (found["state"] if found["state"] != "scanned" else None))
