"""续期 / 应用续期, 批量续期, 我的受理单, 受理单详情, 撤销 and 待办事项 on the phone."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from wtforms import SelectChoice

from wxbackend.agreements import service as agreements
from wxbackend.core import uow
from wxbackend.core.validation import InvalidFields
from wxbackend.orders import contacts as order_contacts
from wxbackend.orders import service as orders
from wxbackend.orders.forms import ContactsForm, RenewForm
from wxbackend.orders.service import BeyondIssuer, IdentityRequired
from wxbackend.shipping import service as shipping
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.bounds import id_or_none
from wxbackend.web.forms import ConfirmForm, show_errors
from wxbackend.web.refusals import refusals_flashed

bp = Blueprint("orders_h5", __name__, url_prefix="/h5", template_folder="../templates",
               static_folder="../static/orders", static_url_path="/static/orders")


def renew_page(certificate_id: int) -> str:
    """The renew page as it was asked for (?app=, ?years=), with the years just posted when there were any."""
    years = request.form.get("years", request.args.get("years"), type=int)
    return url_for("orders_h5.renew", certificate_id=certificate_id, app=request.args.get("app", type=id_or_none),
                   years=years)


def identity_first(certificate_id: int) -> str:
    return url_for("identity_h5.identity", next=renew_page(certificate_id))


@bp.route("/certificates/<int:certificate_id>/renew", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=renew_page, elsewhere={IdentityRequired: identity_first})
def renew(certificate_id: int):
    """续期 (or 应用续期 with ?app=): eligibility, years, price (费用详细信息) and the new validity shown before the
    order; the 电子认证服务协议 in full until the user has accepted its current version; 经办人, 收件人 and the
    invoice's delivery, prefilled from the identity check and 我的地址. The order is created only for the amount the
    page showed; each wrong field is shown under it."""
    user_id = current_user_id()
    app_id = request.args.get("app", type=id_or_none)
    form = RenewForm(years=request.args.get("years", 1, type=int))
    prefill = order_contacts.prefill(user_id)
    form.address_id.choices = address_choices(prefill)
    if form.validate_on_submit():
        shown = form.shown_amount_fen.data or ""
        try:
            order = orders.create_order(user_id, certificate_id, form.years.data, app_id,
                                        shown_amount_fen=int(shown) if shown.isdigit() and len(shown) <= 12 else -1,
                                        agreement_version=form.accepted_version(), contacts=form.contacts())
            return redirect(url_for("orders_h5.order", order_id=order.id))
        except InvalidFields as invalid:
            show_errors(form, invalid)
    elif not form.is_submitted():
        prefill_form(form, prefill)
    if form.is_submitted() and "years" in form.errors:
        flash("续期年限为1至5年，请从列表中选择", "error")
    years = form.years.data if form.years.data in range(1, 6) else 1
    try:
        offer = orders.quote(user_id, certificate_id, years, app_id)
    except BeyondIssuer as refusal:  # show what may be bought, with why, instead of sending the page back to itself
        flash(refusal.message, "error")
        form.years.data = refusal.allowed_years
        offer = orders.quote(user_id, certificate_id, refusal.allowed_years, app_id)
    return render_template("orders/renew.html", form=form, offer=offer, prefill=prefill,
                           open_order=orders.open_order_for(certificate_id),
                           agreement=agreements.SERVICE_AGREEMENT,
                           agreed=agreements.acceptance(user_id) is not None)


def address_choices(prefill: order_contacts.Prefill) -> list[SelectChoice]:
    return [SelectChoice("", "手动填写收件人")] + [
        SelectChoice(str(a.id), f"{a.recipient} {a.mobile_masked} {a.region}{order_contacts.mask_address(a.detail)}")
        for a in prefill.addresses]


def prefill_form(form: RenewForm, prefill: order_contacts.Prefill) -> None:
    """The first showing: the verified name, the invoice email and the default address chosen (the verified ID
    number and mobile are used when their fields are left empty; the page shows them masked)."""
    form.operator_name.data = prefill.operator_name
    form.operator_email.data = prefill.operator_email
    form.address_id.data = str(prefill.address_id) if prefill.address_id else ""


@bp.get("/certificates/<int:certificate_id>/fees")
@page_login_required
@refusals_flashed(back=lambda certificate_id: url_for("certificates_h5.certificate", certificate_id=certificate_id))
def fees(certificate_id: int):
    """费用详细信息 of renewing (?years=, ?app=): each item, its price per year, the count and the subtotal."""
    years = request.args.get("years", 1, type=int)
    years = years if years in range(1, 6) else 1
    offer = orders.quote(current_user_id(), certificate_id, years, request.args.get("app", type=id_or_none))
    return render_template("orders/fees.html", offer=offer, items=offer.fee_items,
                           back=url_for("orders_h5.renew", certificate_id=certificate_id,
                                        app=offer.app.id if offer.app else None, years=years))


def batch_items(values) -> list[tuple[int, int]]:
    """The (certificate, years) pairs a batch page asked for: `certificate` repeated, `years` for all of them and
    `years_<id>` for one; anything that is not an id or a year count is dropped (the service refuses what is
    left when it does not make a group)."""
    ids = list(dict.fromkeys(i for i in (id_or_none(v) for v in values.getlist("certificate")[:50]) if i))
    common = values.get("years", 1, type=int)
    items = []
    for certificate_id in ids:
        years = values.get(f"years_{certificate_id}", common, type=int)
        items.append((certificate_id, years if years in range(1, 6) else 1))
    return items


def batch_page(**_view_args) -> str:
    items = batch_items(request.values)
    if len(items) < orders.BATCH_MIN:
        return url_for("certificates_h5.certificates")
    query = {"certificate": [i for i, _ in items], **{f"years_{i}": y for i, y in items}}
    return url_for("orders_h5.batch_renew", **query)


def batch_identity_first(**_view_args) -> str:
    return url_for("identity_h5.identity", next=batch_page())


@bp.route("/renewals/batch", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=batch_page, elsewhere={IdentityRequired: batch_identity_first})
def batch_renew():
    """批量续期: the certificates chosen in 我的数字证书, each with its years, price and new validity, and the total
    exactly as charged; the group is created only for the total the page showed."""
    items = batch_items(request.values)
    user_id = current_user_id()
    form = ContactsForm()
    prefill = order_contacts.prefill(user_id)
    form.address_id.choices = address_choices(prefill)
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        shown = request.form.get("shown_amount_fen", "")
        try:
            group = orders.create_group(user_id, items,
                                        shown_amount_fen=int(shown) if shown.isdigit() and len(shown) <= 12 else -1,
                                        agreement_version=form.accepted_version(), contacts=form.contacts())
            return redirect(url_for("orders_h5.group", group_id=group.id))
        except InvalidFields as invalid:
            uow.rollback()
            show_errors(form, invalid)
    else:
        prefill_form(form, prefill)
    if len(items) < orders.BATCH_MIN:
        flash(f"请至少勾选{orders.BATCH_MIN}个可续期的证书", "error")
        return redirect(url_for("certificates_h5.certificates"))
    offer = orders.quote_group(user_id, items)
    return render_template("orders/batch.html", offer=offer, form=form, year_choices=range(1, 6), prefill=prefill,
                           agreement=agreements.SERVICE_AGREEMENT, agreed=agreements.acceptance(user_id) is not None)


@bp.get("/groups/<int:group_id>")
@page_login_required
def group(group_id: int):
    """批量续期的受理单: its orders, the one total, one payment for all, then where to write each key."""
    return render_template("orders/group.html", group=orders.user_group(current_user_id(), group_id),
                           form=ConfirmForm())


def group_page(group_id: int) -> str:
    return url_for("orders_h5.group", group_id=group_id)


@bp.post("/groups/<int:group_id>/cancel")
@page_login_required
@refusals_flashed(back=group_page)
def cancel_group(group_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    orders.cancel_group(current_user_id(), group_id)
    flash("批量续期已撤销", "ok")
    return redirect(group_page(group_id))


@bp.get("/orders")
@page_login_required
def orders_list():
    return render_template("orders/orders.html", orders=orders.user_orders(current_user_id()))


@bp.get("/orders/<int:order_id>")
@page_login_required
def order(order_id: int):
    found = orders.user_order(current_user_id(), order_id)
    return render_template("orders/order.html", order=found, steps=orders.timeline(found), form=ConfirmForm(),
                           shipment=shipping.shipment_view(found),
                           fee_items=orders.order_fee_items(found))


def order_page(order_id: int) -> str:
    return url_for("orders_h5.order", order_id=order_id)


@bp.post("/orders/<int:order_id>/cancel")
@page_login_required
@refusals_flashed(back=order_page)
def cancel_order(order_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    orders.cancel_order(current_user_id(), order_id)
    flash("受理单已撤销", "ok")
    return redirect(order_page(order_id))


@bp.get("/todo")
@page_login_required
def todo():
    return render_template("orders/todo.html", items=orders.todo_items(current_user_id()))
