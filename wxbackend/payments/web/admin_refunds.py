"""Refunds staff start from the console (财务 or 管理员): find an order by 受理单号, see what was paid and how, give
a reason; up to the threshold the refund is made at once, above it an approval request (财务, then 管理员) is opened
and the refund is made when its last step is approved (`payments.staff_refunds`)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from wxbackend.approvals.models import ApprovalRequest
from wxbackend.core.money import format_fen
from wxbackend.payments import staff_refunds
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import fresh_totp_required, staff_required

bp = Blueprint("payments_staff_refund", __name__, url_prefix="/admin", template_folder="../templates")
REFUNDERS = (Role.FINANCE, Role.ADMIN)
QUEUES = (ConsoleQueue("发起退款", "payments_staff_refund.find", REFUNDERS, group="操作"),)


def refund_page(order_id: int) -> str:
    return url_for("payments_staff_refund.refund", order_id=order_id)


def find_page(**_view_args) -> str:
    return url_for("payments_staff_refund.find")


@bp.get("/orders/refund")
@staff_required(*REFUNDERS)
@refusals_flashed(back=find_page)
def find():
    """Find the order to refund by its 受理单号."""
    order_no = request.args.get("order_no", "").strip()
    if order_no:
        return redirect(refund_page(staff_refunds.find_order_id(order_no)))
    return render_template("payments/admin_refund_find.html")


@bp.get("/orders/<int:order_id>/refund")
@staff_required(*REFUNDERS)
def refund(order_id: int):
    return render_template("payments/admin_refund.html", page=staff_refunds.refund_page(order_id))


@bp.post("/orders/<int:order_id>/refund")
@staff_required(*REFUNDERS)
@refusals_flashed(back=refund_page)
@fresh_totp_required
def start_refund(order_id: int):
    started = staff_refunds.start_refund(g.staff.id, order_id, request.form.get("reason", ""),
                                         request.remote_addr or "")
    if isinstance(started, ApprovalRequest):
        flash(f"退款金额超过{format_fen(staff_refunds.threshold_fen())}元，已提交审批（财务、管理员依次审批）", "ok")
        return redirect(url_for("approvals_admin.detail", request_id=started.id))
    flash("已发起退款" + ("，款项将原路退回" if started.channel == "wechat" else "，请通过银行转账退回付款账户"), "ok")
    return redirect(refund_page(order_id))
