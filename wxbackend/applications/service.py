"""Reviewed applications (DESIGN §11): started from a 编辑中 order of an expired certificate; the agreement and the
separate consent to sensitive personal data before anything sensitive is taken; the materials, each save of a
submitted application a new revision; the printable form; the uploads; submission (then payment, on the order);
and, once the order is 待审核, the four-eyes review request (`review.py`).

Services take ids and flush; the edge commits. Lock order: the order (`orders.service.lock_order`), then the
application."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from wxbackend.agreements import service as agreements
from wxbackend.applications import images, materials
from wxbackend.applications.models import (
    Application,
    ApplicationKind,
    ApplicationRevision,
    ApplicationUpload,
    LivenessCheck,
    LivenessStatus,
    UploadKind,
)
from wxbackend.applications.pdf import application_form
from wxbackend.applications.workdays import add_working_days
from wxbackend.approvals import service as approvals
from wxbackend.approvals.models import ApprovalDecision, ApprovalRequest, Verdict
from wxbackend.approvals.service import Step
from wxbackend.audit.service import record_audit
from wxbackend.core import keyset
from wxbackend.core.cjk_pdf import FontMissing
from wxbackend.core.crypto import lookup_hash
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.files import file_store
from wxbackend.core.times import SHANGHAI, local_day_end, local_day_start, utcnow
from wxbackend.core.validation import InvalidFields
from wxbackend.invoices import service as invoices
from wxbackend.invoices.models import Invoice, InvoiceProfile, TitleType
from wxbackend.orders import transitions
from wxbackend.orders.models import Order, OrderKind, OrderStatus, RenewalPath
from wxbackend.orders.service import lock_order
from wxbackend.shipping.service import shipment_for_order

AGREEMENT_VERSION = agreements.SERVICE_AGREEMENT.version  # the texts live in one place: wxbackend/agreements
CONSENT_VERSION = agreements.SENSITIVE_CONSENT.version
DECLARATION_VERSION = agreements.DECLARATION.version
EDITABLE = (OrderStatus.DRAFT, OrderStatus.REJECTED)
REVIEW_KIND = "application_review"
OBJECT_TYPE = "application"
# four eyes: an auditor checks, another auditor (or an admin) confirms; one rejection sends it back to the user
REVIEW_STEPS = (Step("初审", ("auditor",)), Step("复审", ("auditor", "admin")))


class NotEditable(DomainError):
    code, status = "not_editable", 409


class FormUnavailable(DomainError):
    """The printable form cannot be made on this server (its CJK font is not installed): the engineer is told in
    the log, the user in Chinese, and nothing is lost."""

    code, message, status = "form_unavailable", "申请表暂时无法生成，请稍后再试；如持续出现请联系客服", 503


class ConsentRequired(DomainError):
    code, message, status = "consent_required", "请先阅读并同意《电子认证服务协议》和《敏感个人信息处理授权书》", 403


def agreement_text() -> str:
    return agreements.SERVICE_AGREEMENT.text


def consent_text() -> str:
    return agreements.SENSITIVE_CONSENT.text


def declaration_text() -> str:
    return agreements.DECLARATION.text


def new_application_no() -> str:
    return utcnow().astimezone(SHANGHAI).strftime("SQ%Y%m%d") + f"{secrets.randbelow(10**8):08d}"


# ------------------------------------------------------------------------------------------------ finding


def user_application(user_id: int, application_id: int) -> Application:
    """One of the user's own applications; NotFound for anyone else's (or none)."""
    found = db.session.scalar(sa.select(Application).where(Application.id == application_id,
                                                           Application.user_id == user_id))
    if found is None:
        raise NotFound("没有找到该申请")
    return found


def for_order(order_id: int) -> Application | None:
    return db.session.scalar(sa.select(Application).where(Application.order_id == order_id))


def get_application(application_id: int) -> Application:
    found = db.session.get(Application, application_id)
    if found is None:
        raise NotFound("没有找到该申请")
    return found


def lock_application(application_id: int) -> Application:
    """The order, then the application, row-locked and re-read (the one way to lock an application)."""
    found = get_application(application_id)
    lock_order(found.order_id)
    return db.session.scalar(sa.select(Application).where(Application.id == application_id).with_for_update()
                             .execution_options(populate_existing=True))


def _editable(application: Application) -> None:
    if application.order.status not in EDITABLE:
        raise NotEditable(f"受理单当前为“{application.order.status_label}”，申请资料不能修改")


def _consented(application: Application) -> None:
    if not (application.agreed_at and application.consented_at):
        raise ConsentRequired()


# ------------------------------------------------------------------------------------------------ starting


def start(user_id: int, order_id: int) -> Application:
    """The application of one of the user's 编辑中 reviewed renewal orders, made on first use. NotFound for
    another's order; Conflict when the order is not a reviewed renewal waiting for its materials."""
    order = db.session.scalar(sa.select(Order).where(Order.id == order_id, Order.user_id == user_id))
    if order is None:
        raise NotFound("没有找到该受理单")
    existing = for_order(order.id)
    if existing is not None:
        return existing
    if order.path != RenewalPath.REVIEWED or order.kind != OrderKind.RENEWAL or order.status != OrderStatus.DRAFT:
        raise Conflict("该受理单无需提交申请资料", code="no_application")
    application = Application(application_no=new_application_no(), kind=ApplicationKind.EXPIRED_RENEWAL,
                              user_id=user_id, certificate_id=order.certificate_id, order_id=order.id, revision=0)
    try:
        with db.session.begin_nested():  # two taps at once: the unique order_id keeps one
            db.session.add(application)
    except IntegrityError:
        return for_order(order.id)
    db.session.flush()
    record_audit(f"user:{user_id}", "application.start", target=f"application:{application.id}",
                 detail={"order": order.order_no, "kind": application.kind})
    return application


def agree(user_id: int, application_id: int, agreement: bool, consent: bool) -> Application:
    """Record the agreement and the separate sensitive-data consent (their versions and times). InvalidFields
    naming each not accepted."""
    errors = {}
    if not agreement:
        errors["agreement"] = "请阅读并同意《电子认证服务协议》"
    if not consent:
        errors["consent"] = "请阅读并同意《敏感个人信息处理授权书》（单独同意）"
    if errors:
        raise InvalidFields(errors)
    application = lock_application(user_application(user_id, application_id).id)
    _editable(application)
    now = utcnow()
    application.agreement_version, application.agreed_at = AGREEMENT_VERSION, now
    application.consent_version, application.consented_at = CONSENT_VERSION, now
    agreements.accept(user_id, agreements.SERVICE_AGREEMENT)  # counts for the user's next orders too
    agreements.accept(user_id, agreements.SENSITIVE_CONSENT)
    db.session.flush()
    record_audit(f"user:{user_id}", "application.consent", target=f"application:{application.id}",
                 detail={"agreement": AGREEMENT_VERSION, "consent": CONSENT_VERSION})
    return application


# ----------------------------------------------------------------------------------------------- materials


def prefill(user_id: int, application: Application) -> dict[str, str]:
    """What the form starts with: this application's materials (sensitive fields left empty: empty keeps them);
    else the user's last other application's plain fields; else the certificate's organisation and the default
    invoice profile."""
    current = application.current
    if current is not None:
        return {k: v for k, v in materials.masked(current.fields).items() if k not in materials.SENSITIVE}
    values = {f.name: "" for f in materials.FIELDS}
    last = db.session.scalar(
        sa.select(ApplicationRevision).join(Application).where(Application.user_id == user_id,
                                                               Application.id != application.id)
        .order_by(ApplicationRevision.id.desc()).limit(1))
    if last is not None:
        values.update({k: v for k, v in last.fields.items() if k in values and k not in materials.SENSITIVE})
    if application.applicant_sees_certificate:  # someone who only knows the serial types these themselves
        organisation = application.certificate.subject_o
        values.update(org_name=organisation, bank_account_name=organisation)
        if not values.get("province"):
            values["province"] = application.certificate.subject_st or ""
            values["city"] = application.certificate.subject_l or ""
        if not values.get("legal_name"):
            values["legal_name"] = application.certificate.legal_representative or ""
    else:
        values.update(org_name="", bank_account_name="", legal_name="")
    profile = db.session.scalar(sa.select(InvoiceProfile).where(InvoiceProfile.user_id == user_id)
                                .order_by(InvoiceProfile.is_default.desc(), InvoiceProfile.id.desc()).limit(1))
    if profile is not None and not values.get("invoice_title"):
        values.update(invoice_type="electronic", invoice_title=profile.title, invoice_tax_number=profile.tax_number)
        values["agent_email"] = values.get("agent_email") or profile.email
    values["invoice_type"] = values.get("invoice_type") or "none"
    return values


def current_materials(application: Application) -> dict[str, str] | None:
    """The newest revision's fields in full (for the PDF, the auditor, the payout), or None before the first save."""
    current = application.current
    return materials.unseal(current.fields, current.sensitive_enc) if current is not None else None


def save_materials(user_id: int, application_id: int, raw: dict[str, str | None]) -> ApplicationRevision:
    """Check and keep the materials. A sensitive field left empty keeps its saved value. The first save, or the
    first after a submission, makes a new revision (every submitted revision is kept as it was); later saves
    update that draft revision. Raises ConsentRequired, NotEditable, InvalidFields (every wrong field)."""
    application = lock_application(user_application(user_id, application_id).id)
    _consented(application)
    _editable(application)
    before = current_materials(application) or {}
    merged = dict(raw)
    for name in materials.SENSITIVE:
        if not (raw.get(name) or "").strip() and before.get(name):
            merged[name] = before[name]
    data = materials.check(merged, application.certificate.subject_o, reveal=application.applicant_sees_certificate)
    plain, secret = materials.seal(data)
    current = application.current
    now = utcnow()
    if current is None or current.submitted_at is not None:
        current = ApplicationRevision(application=application, number=application.revision + 1, fields=plain,
                                      sensitive_enc=secret, created_at=now, updated_at=now)
        db.session.add(current)
        application.revision = current.number
    else:
        current.fields, current.sensitive_enc, current.updated_at = plain, secret, now
    db.session.flush()
    record_audit(f"user:{user_id}", "application.save", target=f"application:{application.id}",
                 detail={"revision": current.number, "changed": materials.changed_fields(before, data)})
    return current


def form_pdf(user_id: int, application_id: int) -> bytes:
    """The printable form of the newest revision. Conflict before the materials are saved."""
    application = user_application(user_id, application_id)
    return render_pdf(application)


def render_pdf(application: Application) -> bytes:
    data = current_materials(application)
    if data is None:
        raise Conflict("请先填写并保存申请资料，再打印申请表", code="no_materials")
    link = f"{current_app.config['PUBLIC_BASE_URL']}/h5/applications/{application.id}"
    try:
        return application_form(application_no=application.application_no, kind_label=application.kind_label,
                                data=data, declaration=declaration_text(), link=link,
                                font_path=current_app.config["APPLICATION_PDF_FONT"], revision=application.revision)
    except FontMissing:
        current_app.logger.exception("application form %s: APPLICATION_PDF_FONT is not installed",
                                     application.application_no)
        raise FormUnavailable() from None


# ------------------------------------------------------------------------------------------------- uploads


def current_uploads(application: Application) -> dict[str, ApplicationUpload]:
    return {u.kind: u for u in application.uploads if u.replaced_at is None}


def add_upload(user_id: int, application_id: int, kind: str, data: bytes) -> ApplicationUpload:
    """Check, re-encode and store one scan (replacing the previous one of its kind, which is kept). Raises
    ConsentRequired, NotEditable, InvalidFields (unknown kind), ImageRefused (type, size, pixels, broken),
    Conflict `upload_quota` past APPLICATION_UPLOAD_QUOTA files."""
    application = lock_application(user_application(user_id, application_id).id)
    _consented(application)
    _editable(application)
    if kind not in set(UploadKind):
        raise InvalidFields({"kind": "请选择上传资料的类型"})
    cfg = current_app.config
    if len(application.uploads) >= cfg["APPLICATION_UPLOAD_QUOTA"]:
        raise Conflict(f"每份申请最多上传{cfg['APPLICATION_UPLOAD_QUOTA']}次资料，请联系客服", code="upload_quota")
    clean_bytes, content_type, width, height = images.reencode(data, cfg["UPLOAD_MAX_BYTES"],
                                                               cfg["UPLOAD_MAX_PIXELS"])
    suffix = ".png" if content_type == "image/png" else ".jpg"
    key = file_store().put(clean_bytes, suffix)
    now = utcnow()
    previous = current_uploads(application).get(kind)
    if previous is not None:
        previous.replaced_at = now
    upload = ApplicationUpload(public_id=secrets.token_hex(16), application=application, kind=kind, store_key=key,
                               content_type=content_type, size=len(clean_bytes),
                               sha256=hashlib.sha256(clean_bytes).hexdigest(), width=width, height=height,
                               created_at=now)
    db.session.add(upload)
    db.session.flush()
    record_audit(f"user:{user_id}", "application.upload", target=f"application:{application.id}",
                 detail={"kind": kind, "upload": upload.public_id, "size": upload.size})
    return upload


def upload_for_staff(public_id: str) -> tuple[ApplicationUpload, bytes]:
    """An upload and its bytes, for the console only. NotFound."""
    upload = db.session.scalar(sa.select(ApplicationUpload).where(ApplicationUpload.public_id == public_id[:32]))
    if upload is None:
        raise NotFound("没有找到该文件")
    return upload, file_store().get(upload.store_key)


def agent_hash(application: Application) -> str:
    """The keyed hash of the newest revision's 经办人 ID number (what a liveness check is bound to)."""
    data = current_materials(application) or {}
    return lookup_hash(data.get("agent_id_number", ""), "liveness_agent")


def passed_for_current_agent(application: Application) -> bool:
    """Has the 经办人 of the newest revision passed a liveness check?"""
    if application.current is None:
        return False
    return db.session.scalar(sa.select(sa.func.count(LivenessCheck.id)).where(
        LivenessCheck.application_id == application.id, LivenessCheck.status == LivenessStatus.PASSED,
        LivenessCheck.agent_id_hash == agent_hash(application))) > 0


# --------------------------------------------------------------------------------------------- submitting


def missing_parts(application: Application) -> list[str]:
    """What the application still lacks before it can be submitted, in Chinese."""
    missing = []
    if not (application.agreed_at and application.consented_at):
        missing.append("同意服务协议及敏感个人信息授权书")
    if application.current is None:
        missing.append("填写申请资料")
    uploads = current_uploads(application)
    missing += [f"上传{label}" for kind, label in (("form", "签字盖章的申请表"), ("licence", "营业执照"))
                if kind not in uploads]
    if not passed_for_current_agent(application):
        missing.append("上传经办人身份证照片并完成活体认证")
    if application.kind == ApplicationKind.REPLACEMENT and shipment_for_order(application.order_id) is None:
        missing.append("选择新介质的邮寄地址")
    return missing


def submit(user_id: int, application_id: int) -> Application:
    """Submit the newest revision: a first submission makes the order 待支付; a resubmission after 未通过 makes
    it 待审核 again and opens a new review (pending decisions on older revisions are void). Raises NotEditable,
    Conflict `incomplete` (naming what is missing) or `unchanged` (a rejected revision sent back as it was)."""
    application = lock_application(user_application(user_id, application_id).id)
    _editable(application)
    missing = missing_parts(application)
    if missing:
        raise Conflict("请先完成：" + "、".join(missing), code="incomplete")
    current = application.current
    if current.submitted_at is not None:
        raise Conflict("请先按审核意见修改申请资料，再重新提交", code="unchanged")
    current.submitted_at = utcnow()
    order = application.order
    actor = f"user:{user_id}"
    if order.status == OrderStatus.DRAFT:
        transitions.move(order, OrderStatus.PENDING_PAYMENT, actor, f"已提交申请资料（第{current.number}版），请缴费")
    else:
        transitions.move(order, OrderStatus.PENDING_REVIEW, actor, f"已重新提交申请资料（第{current.number}版）")
        open_review(order.id)
    record_audit(actor, "application.submit", target=f"application:{application.id}",
                 detail={"revision": current.number, "order_status": order.status})
    return application


def open_review(order_id: int) -> ApprovalRequest | None:
    """The order is 待审核 (paid, or resubmitted): open the four-eyes review of its application's newest revision
    (a pending review of an older revision is voided). None for an order without an application. Called by the
    order's payment (registered in create_app) and by a resubmission; the caller holds the order's lock."""
    application = for_order(order_id)
    if application is None:
        return None
    application = lock_application(application.id)
    pending = approvals.pending_request(REVIEW_KIND, application.id)
    if pending is not None and pending.revision == application.revision:
        return pending
    data = current_materials(application) or {}
    summary = (f"{application.kind_label}申请 {application.application_no}（第{application.revision}版）："
               f"{application.certificate.subject_o}，受理单 {application.order.order_no}")
    return approvals.submit(REVIEW_KIND, application.id, application.revision, summary,
                            {"fields": review_field_labels(), "organisation": data.get("org_name", "")},
                            REVIEW_STEPS, f"user:{application.user_id}")


# ------------------------------------------------------------------------------------------- what users see


@dataclass(frozen=True)
class Rejection:
    reason: str
    fields: list[str]  # labels
    revision: int


def last_rejection(application: Application) -> Rejection | None:
    """The latest rejection of this application's review (reason and the named fields), if any."""
    row = db.session.execute(
        sa.select(ApprovalDecision, ApprovalRequest.revision).join(ApprovalRequest)
        .where(ApprovalRequest.object_type == "application", ApprovalRequest.object_id == application.id,
               ApprovalDecision.verdict == Verdict.REJECT)
        .order_by(ApprovalDecision.id.desc()).limit(1)).first()
    if row is None:
        return None
    decision, revision = row
    labels = review_field_labels()
    return Rejection(decision.reason, [labels.get(f, f) for f in decision.fields], revision)


def request_invoice(application_id: int) -> Invoice | None:
    """The electronic invoice the materials asked for, requested once the review has approved them (a rejected
    application is refunded, so nothing is invoiced before): for the invoice profile of the user with the same
    抬头 and 税号, or a new one sent to the 经办人's email. None when no invoice was asked for, or when it cannot be
    requested now (the order already on an invoice the user requested on the 开票 page, say): the user can still
    request one there, and the refusal is in the audit trail."""
    application = get_application(application_id)
    data = current_materials(application) or {}
    if data.get("invoice_type") != "electronic":
        return None
    title, tax_number = data["invoice_title"], data["invoice_tax_number"]
    profile = db.session.scalar(sa.select(InvoiceProfile).where(
        InvoiceProfile.user_id == application.user_id, InvoiceProfile.title == title,
        InvoiceProfile.tax_number == tax_number).order_by(InvoiceProfile.id.desc()).limit(1))
    new_profile = None if profile is not None else invoices.ProfileInput(
        title=title, title_type=TitleType.ENTERPRISE, email=data["agent_email"], tax_number=tax_number)
    try:
        return invoices.request_invoice(application.user_id, [application.order_id],
                                        profile.id if profile is not None else None, new_profile)
    except DomainError as refused:
        record_audit("system", "application.invoice_request", target=f"application:{application.id}", result="refused",
                     detail={"refusal": refused.code, "message": refused.message})
        return None


def review_field_labels() -> dict[str, str]:
    """What an auditor may name in a rejection: every field and each upload."""
    return {**materials.FIELD_LABELS, "upload_form": "申请表扫描件", "upload_licence": "营业执照"}


def review_due(application: Application) -> date | None:
    """The day the review is due: REVIEW_WORKING_DAYS working days after payment (or the latest resubmission)."""
    order = application.order
    if order.paid_at is None:
        return None
    since = max([order.paid_at] + [r.submitted_at for r in application.revisions if r.submitted_at])
    return add_working_days(since, current_app.config["REVIEW_WORKING_DAYS"])


def user_applications(user_id: int, status: str | None = None, since: date | None = None,
                      until: date | None = None) -> list[Application]:
    """我的业务单: the user's applications, newest first, by their order's status and by the day (Shanghai, both
    ends included) they were made."""
    query = sa.select(Application).join(Order, Order.id == Application.order_id).where(Application.user_id == user_id)
    if status:
        query = query.where(Order.status == status)
    if since:
        query = query.where(Application.created_at >= local_day_start(since))
    if until:
        query = query.where(Application.created_at < local_day_end(until))
    return list(db.session.scalars(query.order_by(Application.id.desc()).limit(200)))



# ------------------------------------------------------------------------------------------------ for staff


def review_queue(cursor: str | None = None, size: int | None = None) -> keyset.Page:
    """待审核, one page: applications whose order waits for review, the oldest payment first (keyset on the
    order's paid_at and the application id, so the hundredth page costs what the first does)."""
    return keyset.page(sa.select(Application).join(Order, Order.id == Application.order_id)
                       .where(Order.status == OrderStatus.PENDING_REVIEW), Order.paid_at, Application.id, cursor,
                       lambda application: (application.order.paid_at, application.id), size=size or keyset.PAGE_SIZE)


def review_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Application.id)).join(Order, Order.id == Application.order_id)
                             .where(Order.status == OrderStatus.PENDING_REVIEW))


@dataclass(frozen=True)
class RevisionView:
    number: int
    submitted_at: object
    data: dict[str, str]
    changed: list[str]  # field names changed from the revision before


def revisions_for_staff(application: Application, staff_id: int, ip: str = "") -> list[RevisionView]:
    """Every revision in full, newest first, each with the fields changed since the one before. Seeing them is an
    audit row naming the staff member and the application (never the values)."""
    views, before = [], None
    for revision in application.revisions:
        data = materials.display(materials.unseal(revision.fields, revision.sensitive_enc))
        views.append(RevisionView(revision.number, revision.submitted_at, data,
                                  materials.changed_fields(before, data) if before is not None else []))
        before = data
    record_audit(f"staff:{staff_id}", "application.personal_data_viewed", target=f"application:{application.id}",
                 ip=ip, detail={"revisions": len(views), "fields": list(materials.SENSITIVE)})
    return list(reversed(views))
