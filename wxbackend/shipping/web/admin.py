"""寄送 in the console (DESIGN §11, §15), for 制证 and 管理员: one replacement order's shipment — the recipient
(mobile masked; shown in full with a fresh TOTP code, audited), the label to print, the waybill form (制证中 →
已寄出, fresh TOTP, audited) and the tracking timeline."""

from __future__ import annotations

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for

from wxbackend.core import uow
from wxbackend.core.validation import InvalidFields
from wxbackend.integrations.express import CARRIERS
from wxbackend.shipping import service
from wxbackend.staff.models import Role
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import fresh_totp_required, staff_required

bp = Blueprint("shipping_admin", __name__, url_prefix="/admin", template_folder="../templates")
ROLES = (Role.MAKER, Role.ADMIN)


def shipment_page(order_id: int, **_view_args) -> str:
    return url_for("shipping_admin.shipment", order_id=order_id)


def render_shipment(detail: service.StaffShipment, errors: dict[str, str] | None = None, status: int = 200):
    response = make_response(render_template("shipping/admin_shipment.html", detail=detail, carriers=CARRIERS,
                                             errors=errors or {}, form=request.form), status)
    response.headers["Cache-Control"] = "no-store"  # personal data, masked or not, stays out of caches
    return response


@bp.get("/shipping/<int:order_id>")
@staff_required(*ROLES)
def shipment(order_id: int):
    return render_shipment(service.staff_shipment(order_id))


@bp.post("/shipping/<int:order_id>/reveal")
@staff_required(*ROLES)
@refusals_flashed(back=shipment_page)
@fresh_totp_required
def reveal(order_id: int):
    """显示完整手机号: in this one answer; audited."""
    return render_shipment(service.reveal_mobile(g.staff.id, order_id, request.remote_addr or ""))


@bp.get("/shipping/<int:order_id>/label.pdf")
@staff_required(*ROLES)
def label(order_id: int):
    pdf = service.label_pdf(g.staff.id, order_id, request.remote_addr or "")
    detail = service.staff_shipment(order_id)
    return pdf, 200, {"Content-Type": "application/pdf", "Cache-Control": "no-store",
                      "Content-Disposition": f'attachment; filename="label-{detail.order.order_no}.pdf"'}


@bp.post("/shipping/<int:order_id>/waybill")
@staff_required(*ROLES)
@refusals_flashed(back=shipment_page)
@fresh_totp_required
def waybill(order_id: int):
    """登记快递单号: 制证中 → 已寄出 (only once the new key is made)."""
    try:
        shipped = service.record_waybill(g.staff.id, order_id, request.form.get("carrier"),
                                         request.form.get("waybill_no"), request.remote_addr or "")
    except InvalidFields as invalid:
        uow.rollback()
        return render_shipment(service.staff_shipment(order_id), invalid.errors, 400)
    flash(f"已登记{CARRIERS[shipped.carrier]}快递单号 {shipped.waybill_no}，受理单已寄出", "ok")
    return redirect(shipment_page(order_id))
