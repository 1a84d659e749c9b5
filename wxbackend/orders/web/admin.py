"""受理单 in the console (DESIGN §15): search (受理单查询) and one order's page, for 审核员, 财务, 客服 and 管理员;
showing the operator's personal data in full (显示完整信息) for 审核员 and 管理员 only, audited."""

from __future__ import annotations

from flask import Blueprint, g, make_response, render_template, request, url_for

from wxbackend.orders import search
from wxbackend.orders.forms import OrderSearchForm
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import fresh_totp_required, staff_required

bp = Blueprint("orders_admin", __name__, url_prefix="/admin", template_folder="../templates")
READERS = (Role.AUDITOR, Role.FINANCE, Role.SUPPORT, Role.ADMIN)
REVEALERS = (Role.AUDITOR, Role.ADMIN)
QUEUES = (ConsoleQueue("受理单查询", "orders_admin.orders", READERS, None, group="查询"),)


def order_page(order_id: int, **_view_args) -> str:
    return url_for("orders_admin.order", order_id=order_id)


def render_order(detail: search.OrderDetail):
    response = make_response(render_template("orders/admin_order.html", detail=detail, labels=search.LABELS,
                                             may_reveal=g.staff.has_role(*REVEALERS)))
    response.headers["Cache-Control"] = "no-store"  # personal data, masked or not, stays out of caches
    return response


@bp.get("/orders")
@staff_required(*READERS)
def orders():
    """受理单查询: by 受理单号, serial, organisation, the operator's mobile, status and creation dates; 50 a page."""
    form = OrderSearchForm(formdata=request.args)
    page = search.search_orders(form.query(), form.cursor()) if form.validate() else None
    next_url = None
    if page is not None and page.next is not None:
        kept = {name: value for name, value in request.args.items() if value and name != "after"}
        next_url = url_for("orders_admin.orders", **kept, after=page.next.encode())
    return render_template("orders/admin_orders.html", form=form, page=page, next_url=next_url)


@bp.get("/orders/<int:order_id>")
@staff_required(*READERS)
def order(order_id: int):
    return render_order(search.order_detail(order_id))


@bp.post("/orders/<int:order_id>/reveal")
@staff_required(*REVEALERS)
@refusals_flashed(back=order_page)
@fresh_totp_required
def reveal(order_id: int):
    """显示完整信息: this one answer shows the operator's name, ID number and mobile in full; audited."""
    return render_order(search.reveal_personal_data(g.staff.id, order_id, request.remote_addr or ""))
