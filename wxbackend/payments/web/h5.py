"""Paying and refunding on the phone: the corporate transfer page (对公打款: the payee account, the order's 6-digit
code and the rules, DESIGN §9) and 撤销并退款 after payment."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from wxbackend.orders.service import user_group, user_order
from wxbackend.payments.service import refund_order as refund
from wxbackend.payments.transfer import choose_group_transfer, choose_transfer, payee_account, transfer_rules
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.forms import ConfirmForm
from wxbackend.web.limits import by_user, limited
from wxbackend.web.refusals import refusals_flashed

bp = Blueprint("payments_h5", __name__, url_prefix="/h5", template_folder="../templates",
               static_folder="../static/payments", static_url_path="/static/payments")


def transfer_page(order_id: int) -> str:
    return url_for("payments_h5.transfer", order_id=order_id)


def order_page(order_id: int) -> str:
    return url_for("orders_h5.order", order_id=order_id)


@bp.route("/orders/<int:order_id>/transfer", methods=["GET", "POST"])
@limited("PAYMENT_START_LIMIT", scope="payment_start", key_func=by_user, methods=["POST"])
@page_login_required
@refusals_flashed(back=transfer_page)
def transfer(order_id: int):
    """GET shows the account, the rules and the code once chosen; POST (获取打款码) gives the order its code."""
    form = ConfirmForm()
    if form.validate_on_submit():
        choose_transfer(current_user_id(), order_id)
        return redirect(transfer_page(order_id))
    order = user_order(current_user_id(), order_id)
    return render_template("payments/transfer.html", order=order, payee=payee_account(), rules=transfer_rules(order),
                           form=form)


def group_transfer_page(group_id: int) -> str:
    return url_for("payments_h5.group_transfer", group_id=group_id)


@bp.route("/groups/<int:group_id>/transfer", methods=["GET", "POST"])
@limited("PAYMENT_START_LIMIT", scope="payment_start", key_func=by_user, methods=["POST"])
@page_login_required
@refusals_flashed(back=group_transfer_page)
def group_transfer(group_id: int):
    """对公打款 for a 批量续期 group: one code and one transfer of the group's total."""
    form = ConfirmForm()
    if form.validate_on_submit():
        choose_group_transfer(current_user_id(), group_id)
        return redirect(group_transfer_page(group_id))
    return render_template("payments/group_transfer.html", group=user_group(current_user_id(), group_id),
                           payee=payee_account(), form=form)


@bp.post("/orders/<int:order_id>/refund")
@page_login_required
@refusals_flashed(back=order_page)
def refund_order(order_id: int):
    """撤销 after payment: the money goes back through the channel that paid (DESIGN §9)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    refund(current_user_id(), order_id, f"user:{current_user_id()}", "用户撤销")
    flash("已申请退款，款项将原路退回", "ok")
    return redirect(order_page(order_id))
