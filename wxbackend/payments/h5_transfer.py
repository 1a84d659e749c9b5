"""The phone page of a corporate transfer (对公打款): the payee account, the order's 6-digit code and the rules."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from wxbackend.core.errors import Conflict
from wxbackend.h5.forms import ConfirmForm
from wxbackend.orders.service import user_order
from wxbackend.payments.transfer import choose_transfer, payee_account
from wxbackend.web.auth import current_user, page_login_required

bp = Blueprint("transfer_h5", __name__, url_prefix="/h5/orders")


@bp.route("/<int:order_id>/transfer", methods=["GET", "POST"])
@page_login_required
def transfer(order_id: int):
    """GET shows the account, the rules and the code once chosen; POST (获取打款码) gives the order its code."""
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            choose_transfer(current_user().id, order_id)
        except Conflict as refused:
            flash(refused.message, "error")
        return redirect(url_for("transfer_h5.transfer", order_id=order_id))
    return render_template("h5/transfer.html", order=user_order(current_user().id, order_id),
                           payee=payee_account(), form=form)
