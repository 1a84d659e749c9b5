"""H5 views: thin — validate the form, call one service, render."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from wxbackend.binding import service as binding
from wxbackend.certificates.service import user_certificate, user_certificates
from wxbackend.core.errors import DomainError
from wxbackend.h5.forms import BindForm, ConfirmForm, IdentityForm, QrBindForm, RenewForm, SignInForm
from wxbackend.identity.service import InvalidIdentity, verify_identity
from wxbackend.orders import service as orders
from wxbackend.orders.service import IdentityRequired
from wxbackend.users.service import dev_user
from wxbackend.web.auth import current_user, page_login_required, safe_next, sign_in

bp = Blueprint("h5", __name__, url_prefix="/h5", template_folder="templates")

TILES = [
    ("待办事项", "h5.todo", "todo"),
    ("我的受理单", "h5.orders_list", "orders"),
    ("我的数字证书", "h5.certificates", "certs"),
    ("我的发票", "invoices_h5.invoices", "invoices"),
    ("我的地址", "addresses_h5.addresses", "addresses"),
    ("证书绑定", "h5.bind", "bind"),
    ("发票信息管理", "invoices_h5.profiles", "invoice-profiles"),
]


@bp.route("/dev/sign-in", methods=["GET", "POST"])
def dev_sign_in():
    """Development stand-in for WeChat OAuth: only with DEV_SIGN_IN (refused in production by config)."""
    if not current_app.config["DEV_SIGN_IN"]:
        abort(404)
    form = SignInForm()
    if form.validate_on_submit():
        sign_in(dev_user(form.name.data))
        return redirect(safe_next(request.args.get("next")))
    return render_template("h5/dev_sign_in.html", form=form)


@bp.get("/")
@page_login_required
def home():
    return render_template("h5/home.html", tiles=TILES, user=current_user())


@bp.get("/soon/<name>")
@page_login_required
def soon(name: str):
    titles = {key: title for title, _, key in TILES}
    if name not in titles:
        abort(404)
    return render_template("h5/soon.html", title=titles[name])


@bp.route("/bind", methods=["GET", "POST"])
@page_login_required
def bind():
    """证书绑定: the code and last 4 typed in, or a scanned QR (?qr=…) confirmed with one tap."""
    qr = request.values.get("qr")
    form = QrBindForm() if qr else BindForm()
    if form.validate_on_submit():
        try:
            if qr:
                session_id = binding.claim_by_qr(current_user().id, form.qr.data, request.remote_addr or "")
            else:
                session_id = binding.claim_by_code(current_user().id, form.code.data, form.last4.data,
                                                   request.remote_addr or "")
            return redirect(url_for("h5.bind_wait", session_id=session_id))
        except DomainError as refused:
            flash(refused.message, "error")
    if qr and request.method == "GET":
        form.qr.data = qr
    return render_template("h5/bind.html", form=form, qr=qr)


@bp.get("/bind/wait/<session_id>")
@page_login_required
def bind_wait(session_id: str):
    state = binding.phone_session_state(current_user().id, session_id)
    return render_template("h5/bind_wait.html", session_id=session_id, state=state)


@bp.get("/certificates")
@page_login_required
def certificates():
    return render_template("h5/certificates.html", certificates=user_certificates(current_user().id))


@bp.get("/certificates/<int:certificate_id>")
@page_login_required
def certificate(certificate_id: int):
    return render_template("h5/certificate.html", cert=user_certificate(current_user().id, certificate_id),
                           form=ConfirmForm())


@bp.post("/certificates/<int:certificate_id>/unbind")
@page_login_required
def unbind(certificate_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    binding.unbind(current_user().id, certificate_id)
    flash("已解除绑定", "ok")
    return redirect(url_for("h5.certificates"))


@bp.route("/certificates/<int:certificate_id>/renew", methods=["GET", "POST"])
@page_login_required
def renew(certificate_id: int):
    """续期 (or 应用续期 with ?app=): eligibility, years, price and the new validity shown before the order."""
    app_id = request.args.get("app", type=int)
    form = RenewForm(years=request.args.get("years", 1, type=int))
    years = form.years.data if form.years.data in range(1, 6) else 1
    if form.validate_on_submit():
        try:
            shown = form.shown_amount_fen.data or ""
            order = orders.create_order(current_user().id, certificate_id, form.years.data, app_id,
                                        shown_amount_fen=int(shown) if shown.isdigit() else -1)
            return redirect(url_for("h5.order", order_id=order.id))
        except IdentityRequired as needed:
            flash(needed.message, "info")
            back = url_for("h5.renew", certificate_id=certificate_id, app=app_id, years=form.years.data)
            return redirect(url_for("h5.identity", next=back))
        except DomainError as refused:
            flash(refused.message, "error")
    offer = orders.quote(current_user().id, certificate_id, years, app_id)
    return render_template("h5/renew.html", form=form, offer=offer, open_order=orders.open_order_for(certificate_id))


@bp.route("/identity", methods=["GET", "POST"])
@page_login_required
def identity():
    """身份鉴别认证, with its separate consent, before the first order."""
    form = IdentityForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            verify_identity(current_user().id, form.name.data, form.id_number.data, form.mobile.data,
                            form.consent.data)
            flash("身份鉴别认证已通过", "ok")
            return redirect(safe_next(request.args.get("next")))
        except InvalidIdentity as invalid:
            errors[invalid.field] = invalid.message
    return render_template("h5/identity.html", form=form, errors=errors, user=current_user())


@bp.get("/orders")
@page_login_required
def orders_list():
    return render_template("h5/orders.html", orders=orders.user_orders(current_user().id))


@bp.get("/orders/<int:order_id>")
@page_login_required
def order(order_id: int):
    found = orders.user_order(current_user().id, order_id)
    return render_template("h5/order.html", order=found, steps=orders.timeline(found), form=ConfirmForm())


@bp.post("/orders/<int:order_id>/cancel")
@page_login_required
def cancel_order(order_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        orders.cancel_order(current_user().id, order_id)
        flash("受理单已撤销", "ok")
    except DomainError as refused:
        flash(refused.message, "error")
    return redirect(url_for("h5.order", order_id=order_id))


@bp.post("/orders/<int:order_id>/refund")
@page_login_required
def refund_order(order_id: int):
    """撤销 after payment: the money goes back through the channel that paid (DESIGN §9)."""
    from wxbackend.payments.service import refund_order as refund

    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        refund(current_user().id, order_id, f"user:{current_user().id}", "用户撤销")
        flash("已申请退款，款项将原路退回", "ok")
    except DomainError as refused:
        flash(refused.message, "error")
    return redirect(url_for("h5.order", order_id=order_id))


@bp.get("/todo")
@page_login_required
def todo():
    return render_template("h5/todo.html", items=orders.todo_items(current_user().id))
