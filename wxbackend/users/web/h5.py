"""H5 pages of the signed-in user: the home page and the development sign-in."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request

from wxbackend.users.forms import SignInForm
from wxbackend.users.service import dev_user
from wxbackend.web.auth import current_user, page_login_required, safe_next, sign_in

bp = Blueprint("users_h5", __name__, url_prefix="/h5", template_folder="../templates")


TILES = [
    ("待办事项", "orders_h5.todo", "todo"),
    ("我的受理单", "orders_h5.orders_list", "orders"),
    ("我的数字证书", "certificates_h5.certificates", "certs"),
    ("我的发票", "invoices_h5.invoices", "invoices"),
    ("我的地址", "addresses_h5.addresses", "addresses"),
    ("证书绑定", "binding_h5.bind", "bind"),
    ("发票信息管理", "invoices_h5.profiles", "invoice-profiles"),
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
