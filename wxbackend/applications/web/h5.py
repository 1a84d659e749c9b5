"""The reviewed application on the phone (the pages work on a PC browser too): the agreement and consent, the
materials, the printable form, the uploads, submission, the review's outcome, 金融认证, and 我的业务单."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from wxbackend.addresses.divisions import tree
from wxbackend.addresses.service import user_addresses
from wxbackend.agreements import service as agreements
from wxbackend.applications import face, finance, materials, replacement, service
from wxbackend.applications.models import ID_PHOTO_LABELS, UPLOAD_LABELS
from wxbackend.core import uow
from wxbackend.core.errors import NotFound
from wxbackend.core.qr import qr_svg
from wxbackend.core.validation import InvalidFields
from wxbackend.orders.models import STATUS_LABELS
from wxbackend.orders.service import IdentityRequired
from wxbackend.shipping import service as shipping
from wxbackend.web.auth import current_user_id, page_login_required
from wxbackend.web.limits import by_user, limited
from wxbackend.web.refusals import refusals_flashed

bp = Blueprint("applications_h5", __name__, url_prefix="/h5", template_folder="../templates",
               static_folder="../static/applications", static_url_path="/static/applications")


def page(application_id: int, **_) -> str:
    return url_for("applications_h5.application", application_id=application_id)


def mine(application_id: int):
    return service.user_application(current_user_id(), application_id)


@bp.post("/orders/<int:order_id>/application")
@page_login_required
@refusals_flashed(back=lambda order_id: url_for("orders_h5.order", order_id=order_id))
def start(order_id: int):
    """开始填写申请资料 from a 编辑中 order of an expired certificate."""
    application = service.start(current_user_id(), order_id)
    target = "applications_h5.application" if application.agreed_at else "applications_h5.agreement"
    return redirect(url_for(target, application_id=application.id))


@bp.route("/replacement", methods=["GET", "POST"])
@page_login_required
@limited("SERIAL_LOOKUP_LIMIT", scope="serial_lookup", key_func=by_user)  # GET ?serial= looks up too
@refusals_flashed(back=lambda: url_for("applications_h5.replacement_lookup"))
def replacement_lookup():
    """介质遗失补办: 证书序列号查询 (case-sensitive), then the fee and 补办. A serial the user is not bound to shows
    only what is safe."""
    serial = (request.form.get("serial") if request.method == "POST" else request.args.get("serial")) or ""
    found, error = None, ""
    if serial.strip():
        try:
            found = replacement.lookup(current_user_id(), serial)
        except NotFound as missing:
            uow.rollback()
            error = missing.message
    return render_template("applications/replacement.html", serial=serial.strip()[:64], found=found, error=error,
                           agreement=agreements.SERVICE_AGREEMENT,
                           agreed=agreements.acceptance(current_user_id()) is not None)


@bp.post("/replacement/start")
@page_login_required
@refusals_flashed(back=lambda: url_for("applications_h5.replacement_lookup", serial=request.form.get("serial", "")),
                  elsewhere={IdentityRequired: lambda: url_for("identity_h5.identity", next=url_for(
                      "applications_h5.replacement_lookup", serial=request.form.get("serial", "")))})
def replacement_start():
    """补办 the looked-up certificate at the fee the page showed: the application, starting with the agreement."""
    shown = request.form.get("amount_fen", "")
    ticked = request.form.get("agreement_version", "")[:32] if request.form.get("agreement") == "yes" else None
    application = replacement.start(current_user_id(), request.form.get("serial", ""),
                                    int(shown) if shown.isdigit() and len(shown) < 10 else -1,
                                    ip=request.remote_addr or "",
                                    agreement_version=ticked)
    target = "applications_h5.application" if application.agreed_at else "applications_h5.agreement"
    return redirect(url_for(target, application_id=application.id))


@bp.get("/applications/<int:application_id>")
@page_login_required
def application(application_id: int):
    found = mine(application_id)
    return render_template("applications/application.html", app=found, order=found.order,
                           missing=service.missing_parts(found), rejection=service.last_rejection(found),
                           due=service.review_due(found), uploads=service.current_uploads(found),
                           verification=finance.latest(found.id), shown=_shown(found),
                           fields=materials.FIELDS, editable=found.order.status in service.EDITABLE,
                           liveness_passed=service.passed_for_current_agent(found),
                           shipment=shipping.shipment_for_order(found.order_id))


def _shown(found) -> dict[str, str]:
    current = found.current
    return materials.display(materials.masked(current.fields)) if current is not None else {}


@bp.route("/applications/<int:application_id>/agreement", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=page)
def agreement(application_id: int):
    """《电子认证服务协议》 in full and the separate 《敏感个人信息处理授权书》, each with its own tick box."""
    found = mine(application_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            service.agree(current_user_id(), found.id, request.form.get("agreement") == "yes",
                          request.form.get("consent") == "yes")
            return redirect(url_for("applications_h5.materials_form", application_id=found.id))
        except InvalidFields as invalid:
            uow.rollback()
            errors = invalid.errors
    return render_template("applications/agreement.html", app=found, errors=errors,
                           agreement=service.agreement_text(), consent=service.consent_text(),
                           agreement_version=service.AGREEMENT_VERSION, consent_version=service.CONSENT_VERSION)


@bp.route("/applications/<int:application_id>/materials", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=page, elsewhere={service.ConsentRequired: lambda application_id: url_for(
    "applications_h5.agreement", application_id=application_id)})
def materials_form(application_id: int):
    """The seed's 申请单: 机构, 法人, 经办人, 金融认证信息, 发票; every error under its field."""
    found = mine(application_id)
    if not found.consented_at:
        raise service.ConsentRequired()
    errors: dict[str, str] = {}
    values = service.prefill(current_user_id(), found)
    if request.method == "POST":
        values = {f.name: request.form.get(f.name, "") for f in materials.FIELDS}
        try:
            revision = service.save_materials(current_user_id(), found.id, values)
            flash(f"申请资料已保存（第{revision.number}版）", "ok")
            return redirect(page(found.id))
        except InvalidFields as invalid:
            uow.rollback()
            errors = invalid.errors
        values = {k: ("" if k in materials.SENSITIVE else v) for k, v in values.items()}
    current = found.current
    masks = materials.masked(current.fields) if current is not None else {}
    return render_template("applications/materials.html", app=found, values=values, errors=errors,
                           masks=masks, fields=materials.FIELDS, banks=materials.bank_names(),
                           provinces=[p for p, _ in tree()], cities=sorted({c for _, cs in tree() for c, _ in cs}),
                           rejection=service.last_rejection(found), invoice_types=materials.INVOICE_TYPES)


@bp.get("/applications/<int:application_id>/form.pdf")
@page_login_required
@refusals_flashed(back=page)
def form_pdf(application_id: int):
    found = mine(application_id)
    body = service.form_pdf(current_user_id(), found.id)
    return body, 200, {"Content-Type": "application/pdf", "Cache-Control": "no-store",
                       "Content-Disposition": f'attachment; filename="{found.application_no}.pdf"'}


@bp.route("/applications/<int:application_id>/address", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=lambda application_id: url_for("applications_h5.address", application_id=application_id))
def address(application_id: int):
    """邮寄地址 of the new key (介质遗失补办): one of 我的地址, copied onto the order's shipment."""
    found = mine(application_id)
    if found.kind != "replacement":  # nothing is shipped: the application itself
        return redirect(page(found.id))
    if request.method == "POST":
        chosen = request.form.get("address_id", "")
        if not chosen.isdigit() or len(chosen) > 9:
            flash("请选择邮寄地址", "error")
            return redirect(url_for("applications_h5.address", application_id=found.id))
        shipping.choose_address(current_user_id(), found.order_id, int(chosen))
        flash("邮寄地址已保存", "ok")
        return redirect(page(found.id))
    here = url_for("applications_h5.address", application_id=found.id)
    return render_template("applications/address.html", app=found, addresses=user_addresses(current_user_id()),
                           shipment=shipping.shipment_for_order(found.order_id),
                           new_address=url_for("addresses_h5.new_address", next=here))


@bp.route("/applications/<int:application_id>/uploads", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=lambda application_id: url_for("applications_h5.uploads", application_id=application_id))
def uploads(application_id: int):
    """上传申请资料: the signed and sealed form and the business licence."""
    found = mine(application_id)
    if request.method == "POST":
        sent = request.files.get("file")
        data = sent.read(current_app.config["UPLOAD_MAX_BYTES"] + 1) if sent else b""  # one byte more: too large
        upload = service.add_upload(current_user_id(), found.id, request.form.get("kind", ""), data)
        flash(f"{upload.kind_label}已上传", "ok")
        return redirect(url_for("applications_h5.uploads", application_id=found.id))
    return render_template("applications/uploads.html", app=found, uploads=service.current_uploads(found),
                           labels=UPLOAD_LABELS)


def liveness_page(application_id: int, **_) -> str:
    return url_for("applications_h5.liveness", application_id=application_id)


@bp.route("/applications/<int:application_id>/liveness", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=liveness_page)
def liveness(application_id: int):
    """经办人身份证照片 and 活体认证. On a PC: a QR code of this page for WeChat's 扫一扫, and the page follows the
    phone's progress (liveness.js polls the status)."""
    found = mine(application_id)
    if request.method == "POST":
        sent = request.files.get("file")
        data = sent.read(current_app.config["UPLOAD_MAX_BYTES"] + 1) if sent else b""
        kind = request.form.get("kind", "")
        if kind not in ID_PHOTO_LABELS:
            abort(400)
        service.add_upload(current_user_id(), found.id, kind, data)
        flash(f"{ID_PHOTO_LABELS[kind]}已上传", "ok")
        return redirect(liveness_page(found.id))
    phone_url = current_app.config["PUBLIC_BASE_URL"] + liveness_page(found.id)
    return render_template("applications/liveness.html", app=found, check=face.latest(found.id),
                           passed=service.passed_for_current_agent(found), uploads=service.current_uploads(found),
                           labels=ID_PHOTO_LABELS, qr=qr_svg(phone_url), phone_url=phone_url)


@bp.post("/applications/<int:application_id>/liveness/start")
@page_login_required
@refusals_flashed(back=liveness_page)
def liveness_start(application_id: int):
    _, url = face.start_liveness(current_user_id(), mine(application_id).id)
    return redirect(url)


@bp.get("/applications/<int:application_id>/liveness/return")
@page_login_required
@refusals_flashed(back=liveness_page)
def liveness_return(application_id: int):
    """Where the provider's page sends the phone back. The BizToken in the URL proves nothing: the result is
    pulled from the provider for the check this application started."""
    check = face.pull_liveness(current_user_id(), mine(application_id).id)
    if check is not None and check.status == "passed":
        flash("活体认证已通过", "ok")
    elif check is not None and check.status == "pending":
        flash("尚未完成活体认证，请按页面提示完成", "error")
    else:
        flash("活体认证未通过，请重新认证", "error")
    return redirect(liveness_page(application_id))


@bp.get("/applications/<int:application_id>/liveness/status")
@page_login_required
def liveness_status(application_id: int):
    """The PC page follows the phone: the current check's status, pulled from the provider while pending."""
    return face.liveness_state(current_user_id(), application_id)


@bp.post("/applications/<int:application_id>/submit")
@page_login_required
@refusals_flashed(back=page)
def submit(application_id: int):
    found = service.submit(current_user_id(), mine(application_id).id)
    if found.order.status == "pending_payment":
        flash("申请资料已提交，请缴费", "ok")
        return redirect(url_for("orders_h5.order", order_id=found.order_id))
    flash("申请资料已重新提交，等待审核", "ok")
    return redirect(page(found.id))


@bp.route("/applications/<int:application_id>/verification", methods=["GET", "POST"])
@page_login_required
@refusals_flashed(back=page)
def verification(application_id: int):
    """金融认证: type the code from the 0.01-yuan payment's remark; after a failure, correct the account."""
    found = mine(application_id)
    errors: dict[str, str] = {}
    if request.method == "POST" and request.form.get("action") == "retry":
        try:
            finance.require_fields(request.form.get("bank_name"), request.form.get("bank_account"))
            finance.retry(current_user_id(), found.id, request.form.get("bank_name", ""),
                          request.form.get("bank_account", ""))
            flash("已重新提交基本户信息，系统将重新打款0.01元", "ok")
            return redirect(url_for("applications_h5.verification", application_id=found.id))
        except InvalidFields as invalid:
            uow.rollback()
            errors = invalid.errors
    elif request.method == "POST":
        result = finance.enter_code(current_user_id(), found.id, request.form.get("code", ""))
        flash(result.message, "ok" if result.ok else "error")
        return redirect(page(found.id) if result.ok else url_for("applications_h5.verification",
                                                                 application_id=found.id))
    return render_template("applications/verification.html", app=found, order=found.order, errors=errors,
                           verification=finance.latest(found.id), banks=materials.bank_names())


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.get("/applications")
@page_login_required
def applications_list():
    """我的业务单: filtered by status and by the day it was made (Asia/Shanghai), with 编辑 / 申请退费 / 查看."""
    status = request.args.get("status", "")
    since, until = _day(request.args.get("from")), _day(request.args.get("to"))
    if status and status not in STATUS_LABELS:
        abort(400)
    rows = service.user_applications(current_user_id(), status=status or None, since=since, until=until)
    return render_template("applications/list.html", rows=rows, status=status, since=since, until=until,
                           statuses=STATUS_LABELS, editable=service.EDITABLE)
