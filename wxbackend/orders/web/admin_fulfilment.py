"""待制证/待寄出 in the console (DESIGN §15), for 制证 and 管理员: replacement orders being made and shipped. The
lost-key flow adds its actions here."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for

from wxbackend.orders.fulfilment import FULFILMENT_STATUSES, fulfilment_count, fulfilment_orders
from wxbackend.orders.models import STATUS_LABELS, OrderStatus
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.staff_session import staff_required

bp = Blueprint("orders_fulfilment_admin", __name__, url_prefix="/admin", template_folder="../templates")
ROLES = (Role.MAKER, Role.ADMIN)
QUEUES = (ConsoleQueue("待制证/待寄出", "orders_fulfilment_admin.fulfilment", ROLES, count=fulfilment_count),)


@bp.get("/fulfilment")
@staff_required(*ROLES)
def fulfilment():
    status = request.args.get("status", OrderStatus.MAKING)
    if status not in FULFILMENT_STATUSES:
        status = OrderStatus.MAKING
    found = fulfilment_orders(status, request.args.get("after"))
    next_url = (url_for("orders_fulfilment_admin.fulfilment", status=status, after=found.next_cursor)
                if found.next_cursor else None)
    return render_template("orders/admin_fulfilment.html", page=found, status=status,
                           statuses={s: STATUS_LABELS[s] for s in FULFILMENT_STATUSES}, next_url=next_url)
