"""Pages of 我的发票 (开票, 开票历史) and 发票信息管理, and the signed download link a PC browser opens without a
WeChat session. Thin: bound the form, call one service, render."""

from __future__ import annotations

import io
import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from wtforms import SelectChoice

from wxbackend.audit.service import record_audit
from wxbackend.core import uow
from wxbackend.core.validation import InvalidFields
from wxbackend.invoices import service
from wxbackend.invoices.forms import InvoiceProfileForm, InvoiceRequestForm
from wxbackend.invoices.models import InvoiceStatus
from wxbackend.invoices.service import LinkRefused, ProfileInput
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.bounds import id_or_none
from wxbackend.web.forms import ConfirmForm, show_errors
from wxbackend.web.limits import by_user, limited
from wxbackend.web.refusals import refusals_flashed

log = logging.getLogger(__name__)
bp = Blueprint("invoices_h5", __name__, url_prefix="/h5", template_folder="../templates")
download_bp = Blueprint("invoice_download", __name__, url_prefix="/invoices", template_folder="../templates")
NEW_PROFILE = "new"


def profile_input(form: InvoiceProfileForm, editing: bool = False) -> ProfileInput:
    """The profile typed in. When editing, an empty bank account or mobile keeps the stored one."""
    kept = (lambda value: value or None) if editing else (lambda value: value or "")
    return ProfileInput(title=form.title.data or "", title_type=form.title_type.data or "",
                        email=form.email.data or "", tax_number=form.tax_number.data or "",
                        bank_name=form.bank_name.data or "", bank_account=kept(form.bank_account.data),
                        address=form.address.data or "", phone=form.phone.data or "", mobile=kept(form.mobile.data))


# ------------------------------------------------------------------------------------------ 我的发票


def order_choices(user_id: int) -> list[SelectChoice]:
    return [SelectChoice(str(order.id), order.order_no) for order in service.invoiceable_orders(user_id)]


@bp.route("/invoices", methods=["GET", "POST"])
@limited("INVOICE_REQUEST_LIMIT", scope="invoice_request", key_func=by_user, methods=["POST"])
@page_login_required
@refusals_flashed()
def invoices():
    """待开票: the paid orders not yet invoiced; choose some (全选), choose or fill a profile, submit."""
    user_id = current_user_id()
    profiles = service.user_profiles(user_id)
    form = InvoiceRequestForm()
    form.order_ids.choices = order_choices(user_id)
    form.profile_id.choices = [SelectChoice(str(p.id), p.title) for p in profiles] + [
        SelectChoice(NEW_PROFILE, "填写新的发票信息")]
    problems: dict[str, str] = {}
    if form.validate_on_submit():
        choice = form.profile_id.data or (NEW_PROFILE if not profiles else "")
        try:
            invoice = service.request_invoice(
                user_id, form.order_ids.data or [],
                profile_id=id_or_none(choice),
                new_profile=profile_input(form) if choice == NEW_PROFILE else None)
            flash(f"开票申请已提交（申请编号{invoice.request_no}），电子发票将在24小时内发送到{invoice.email}", "ok")
            return redirect(url_for("invoices_h5.invoice_history"))
        except InvalidFields as invalid:
            problems = show_errors(form, invalid)
        form.order_ids.choices = order_choices(user_id)
    elif request.method == "GET":
        default = next((p for p in profiles if p.is_default), None)
        form.profile_id.data = str(default.id) if default else NEW_PROFILE
    selected = set(form.order_ids.data or []) if request.method == "POST" else set()
    return render_template("invoices/request.html", form=form, profiles=profiles, problems=problems,
                           orders=service.invoiceable_orders(user_id), selected=selected)


@bp.get("/invoices/history")
@page_login_required
def invoice_history():
    """开票历史: each invoice with its status, amount, date and (once issued) a fresh signed link to copy."""
    found = service.user_invoices(current_user_id())
    links = {invoice.id: service.link_for(invoice) for invoice in found if invoice.status == InvoiceStatus.ISSUED}
    return render_template("invoices/history.html", invoices=found, links=links,
                           link_hours=current_app.config["INVOICE_LINK_HOURS"])


# -------------------------------------------------------------------------------------- 发票信息管理


@bp.get("/invoice-profiles")
@page_login_required
def profiles():
    return render_template("invoices/profiles.html", profiles=service.user_profiles(current_user_id()),
                           form=ConfirmForm())


@bp.route("/invoice-profiles/new", methods=["GET", "POST"])
@page_login_required
def new_profile():
    form = InvoiceProfileForm()
    problems: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            service.create_profile(current_user_id(), profile_input(form), form.make_default.data)
            flash("发票信息已保存", "ok")
            return redirect(url_for("invoices_h5.profiles"))
        except InvalidFields as invalid:
            problems = show_errors(form, invalid)
    return render_template("invoices/profile_form.html", form=form, profile=None, problems=problems)


@bp.route("/invoice-profiles/<int:profile_id>/edit", methods=["GET", "POST"])
@page_login_required
def edit_profile(profile_id: int):
    profile = service.user_profile(current_user_id(), profile_id)
    form = InvoiceProfileForm()
    problems: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            service.update_profile(current_user_id(), profile_id, profile_input(form, editing=True),
                                   form.make_default.data)
            flash("发票信息已修改", "ok")
            return redirect(url_for("invoices_h5.profiles"))
        except InvalidFields as invalid:
            problems = show_errors(form, invalid)
    elif request.method == "GET":
        for name in ("title", "title_type", "tax_number", "bank_name", "address", "phone", "email"):
            form[name].data = getattr(profile, name)
        form.make_default.data = profile.is_default
    return render_template("invoices/profile_form.html", form=form, profile=profile, problems=problems)


@bp.post("/invoice-profiles/<int:profile_id>/delete")
@page_login_required
def delete_profile(profile_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service.delete_profile(current_user_id(), profile_id)
    flash("发票信息已删除", "ok")
    return redirect(url_for("invoices_h5.profiles"))


def profiles_page(**_view_args) -> str:
    return url_for("invoices_h5.profiles")


@bp.post("/invoice-profiles/<int:profile_id>/default")
@page_login_required
@refusals_flashed(back=profiles_page)
def default_profile(profile_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service.set_default_profile(current_user_id(), profile_id)
    flash("已设为默认发票信息", "ok")
    return redirect(profiles_page())


# ------------------------------------------------------------------------------- the download link


@download_bp.get("/download/<token>")
def download(token: str):
    """The invoice PDF for a valid signed link, without any session (a PC browser opens it). An expired or altered
    link gets a page saying so, never the file."""
    invoice = service.invoice_for_link(token)
    pdf = service.invoice_pdf(invoice)
    record_audit("link", "invoice.download", target=f"invoice:{invoice.id}", ip=request.remote_addr or "")
    response = send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                         download_name=service.pdf_filename(invoice))
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@download_bp.errorhandler(LinkRefused)
def link_refused(refused: LinkRefused):
    """An expired, altered or unknown link: a page saying so, never the file."""
    uow.rollback()
    log.info("invoice link refused (%s) from %s", refused.code, request.remote_addr)
    return render_template("invoices/link_refused.html", message=refused.message, code=refused.code), refused.status
