"""发票信息管理 and 开票: invoice profiles, the orders a user may invoice, invoice requests, history and the signed
download links. Every function takes the signed-in user's id and sees only that user's rows; services flush, the
request (or job) commits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from sqlalchemy.exc import IntegrityError

from wxbackend.audit.service import record_audit
from wxbackend.core import defaults as user_defaults
from wxbackend.core.crypto import decrypt, encrypt, mask_bank_account, mask_mobile
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.files import FileMissing, file_store
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.times import SHANGHAI, utcnow
from wxbackend.core.validation import PHONE, InvalidFields, check_email, check_length, check_mobile, clean, digits_only
from wxbackend.invoices.models import Invoice, InvoiceItem, InvoiceProfile, InvoiceStatus, TitleType
from wxbackend.invoices.tax_number import normalise_tax_number, tax_number_problem
from wxbackend.orders.models import InvoiceDelivery, Order, OrderStatus
from wxbackend.orders.service import lock_orders

# Paid and not on the way back to the payer: these orders may be invoiced.
INVOICEABLE_STATUSES = (
    OrderStatus.PAID, OrderStatus.PENDING_REVIEW, OrderStatus.APPROVED, OrderStatus.PENDING_FIN_VERIFICATION,
    OrderStatus.FIN_VERIFICATION_FAILED, OrderStatus.READY_TO_WRITE, OrderStatus.ISSUED, OrderStatus.COMPLETED,
    OrderStatus.MAKING, OrderStatus.SHIPPED,
)
MAX_ORDERS_PER_INVOICE = 50
LINK_SALT = "invoice-download"
BANK_ACCOUNT_PURPOSE, MOBILE_PURPOSE = "bank_account", "mobile"


DEFAULT_RACE_MESSAGE = "默认发票信息刚刚被修改，请刷新后重试"
class LinkRefused(DomainError):
    """A download link that is expired, altered or no longer points at an issued invoice of its user."""

    code, status = "invoice_link_invalid", 400


# ---------------------------------------------------------------------------------------------- profiles


@dataclass
class ProfileInput:
    """What a form or the API gives for a profile. On an update, `bank_account` or `mobile` None keeps the stored
    value (pages never show them in full); "" clears it."""

    title: str
    title_type: str
    email: str
    tax_number: str = ""
    bank_name: str = ""
    bank_account: str | None = ""
    address: str = ""
    phone: str = ""
    mobile: str | None = ""


def _checked_profile(data: ProfileInput, existing: InvoiceProfile | None = None) -> dict:
    """Validated, normalised column values; InvalidFields naming every wrong field."""
    errors: dict[str, str] = {}
    title, title_type = clean(data.title), (data.title_type or "").strip()
    tax_number = normalise_tax_number(data.tax_number or "")
    bank_name, address, phone = clean(data.bank_name), clean(data.address), clean(data.phone)
    email = (data.email or "").strip()
    check_length(errors, "title", title, "发票抬头", 100, required=True)
    if title and len(title) < 2:
        errors.setdefault("title", "发票抬头至少2个字")
    if title_type not in set(TitleType):
        errors["title_type"] = "请选择抬头类型"
    if tax_number:
        problem = tax_number_problem(tax_number)
        if problem:
            errors["tax_number"] = problem
    elif title_type == TitleType.ENTERPRISE:
        errors["tax_number"] = "企业抬头请填写税号（统一社会信用代码）"
    check_length(errors, "bank_name", bank_name, "开户银行", 100)
    values: dict = {}
    if data.bank_account is not None:
        account = digits_only(data.bank_account)
        if account and not (account.isdigit() and 8 <= len(account) <= 32):
            errors["bank_account"] = "银行账号应为8至32位数字"
        values["bank_account_enc"] = encrypt(account, BANK_ACCOUNT_PURPOSE) if account else None
        values["bank_account_masked"] = mask_bank_account(account) if account else ""
    account_masked = values.get("bank_account_masked", existing.bank_account_masked if existing else "")
    if account_masked and not bank_name:
        errors.setdefault("bank_name", "填写银行账号时请同时填写开户银行")
    check_length(errors, "address", address, "地址", 200)
    if phone and not PHONE.fullmatch(phone):
        errors["phone"] = "电话号码格式不正确"
    check_email(errors, "email", email)
    if data.mobile is not None:
        mobile = digits_only(data.mobile)
        check_mobile(errors, "mobile", mobile, required=False)
        values["mobile_enc"] = encrypt(mobile, MOBILE_PURPOSE) if mobile else None
        values["mobile_masked"] = mask_mobile(mobile) if mobile else ""
    if errors:
        raise InvalidFields(errors)
    return {"title": title, "title_type": title_type, "tax_number": tax_number, "bank_name": bank_name,
            "address": address, "phone": phone, "email": email, **values}


def user_profiles(user_id: int) -> list[InvoiceProfile]:
    """The user's profiles, the default first."""
    return list(db.session.scalars(sa.select(InvoiceProfile).where(InvoiceProfile.user_id == user_id)
                                   .order_by(InvoiceProfile.is_default.desc(), InvoiceProfile.id.desc())))


def user_profile(user_id: int, profile_id: int) -> InvoiceProfile:
    """One of the user's own profiles; NotFound for anyone else's."""
    profile = db.session.scalar(sa.select(InvoiceProfile).where(InvoiceProfile.id == profile_id,
                                                                InvoiceProfile.user_id == user_id))
    if profile is None:
        raise NotFound("没有找到该发票信息")
    return profile


def create_profile(user_id: int, data: ProfileInput, make_default: bool = False) -> InvoiceProfile:
    """A new profile (the user's first one is the default). InvalidFields names each wrong field."""
    values = _checked_profile(data)
    profile = InvoiceProfile(user_id=user_id, **values)
    db.session.add(profile)
    db.session.flush()
    has_default = db.session.scalar(sa.select(sa.func.count()).select_from(InvoiceProfile).where(
        InvoiceProfile.user_id == user_id, InvoiceProfile.is_default.is_(True)))
    if make_default or not has_default:
        user_defaults.make_default(profile, DEFAULT_RACE_MESSAGE)
    record_audit(f"user:{user_id}", "invoice_profile.create", target=f"invoice_profile:{profile.id}")
    return profile


def update_profile(user_id: int, profile_id: int, data: ProfileInput, make_default: bool = False) -> InvoiceProfile:
    """Change one of the user's profiles (invoices already requested keep the buyer they were made with)."""
    profile = user_profile(user_id, profile_id)
    for key, value in _checked_profile(data, profile).items():
        setattr(profile, key, value)
    db.session.flush()
    if make_default and not profile.is_default:
        user_defaults.make_default(profile, DEFAULT_RACE_MESSAGE)
    record_audit(f"user:{user_id}", "invoice_profile.update", target=f"invoice_profile:{profile.id}")
    return profile


def set_default_profile(user_id: int, profile_id: int) -> InvoiceProfile:
    profile = user_profile(user_id, profile_id)
    if not profile.is_default:
        user_defaults.make_default(profile, DEFAULT_RACE_MESSAGE)
    return profile


def delete_profile(user_id: int, profile_id: int) -> None:
    """Delete one of the user's profiles; when it was the default, the newest remaining one becomes default."""
    profile = user_profile(user_id, profile_id)
    user_defaults.delete_keeping_a_default(profile, DEFAULT_RACE_MESSAGE)
    record_audit(f"user:{user_id}", "invoice_profile.delete", target=f"invoice_profile:{profile_id}")


# ------------------------------------------------------------------------------------------------ orders


def invoiceable_orders(user_id: int) -> list[Order]:
    """待开票: the user's paid orders (not refunding or refunded) that are on no invoice."""
    on_invoice = sa.select(InvoiceItem.order_id).where(InvoiceItem.order_id.is_not(None))
    return list(db.session.scalars(
        sa.select(Order).where(Order.user_id == user_id, Order.paid_at.is_not(None),
                               Order.status.in_(INVOICEABLE_STATUSES), Order.id.not_in(on_invoice))
        .order_by(Order.paid_at.desc(), Order.id.desc())))


def new_request_no() -> str:
    return utcnow().astimezone(SHANGHAI).strftime("FP%Y%m%d") + f"{secrets.randbelow(10**10):010d}"


def request_invoice(user_id: int, order_ids: list[int], profile_id: int | None = None,
                    new_profile: ProfileInput | None = None) -> Invoice:
    """开票: one invoice covering the chosen orders, for a profile of the user's (or one filled in now, which is
    saved as a profile too). The orders are locked and re-checked; an order is invoiced at most once, also under
    concurrent requests (row locks, and the unique `invoice_items.order_id` where locks do not exist). The issuing
    job is queued once the request commits. Raises InvalidFields, NotFound, Conflict."""
    wanted = sorted(set(order_ids))
    if not wanted:
        raise InvalidFields({"order_ids": "请选择要开票的受理单"})
    if len(wanted) > MAX_ORDERS_PER_INVOICE:
        raise InvalidFields({"order_ids": f"一张发票最多包含{MAX_ORDERS_PER_INVOICE}个受理单"})
    if profile_id is None and new_profile is None:
        raise InvalidFields({"profile_id": "请选择或填写发票信息"})
    try:
        with db.session.begin_nested():  # all or nothing, the profile filled in now included
            if new_profile is not None:
                profile = create_profile(user_id, new_profile)
            else:
                profile = user_profile(user_id, profile_id)
            orders = lock_orders(wanted, user_id)
            if len(orders) != len(wanted):
                raise NotFound("没有找到所选的受理单")
            for order in orders:
                if order.paid_at is None or order.status not in INVOICEABLE_STATUSES:
                    raise Conflict(f"受理单{order.order_no}（{order.status_label}）不能开票", code="not_invoiceable")
            taken = db.session.scalars(sa.select(InvoiceItem.order_id).where(InvoiceItem.order_id.in_(wanted))).all()
            if taken:
                numbers = "、".join(o.order_no for o in orders if o.id in set(taken))
                raise Conflict(f"受理单{numbers}已申请过开票", code="already_invoiced")
            invoice = Invoice(request_no=new_request_no(), user_id=user_id, status=InvoiceStatus.PENDING,
                              amount_fen=sum(order.amount_fen for order in orders), **profile.buyer())
            _deliver_as_chosen(invoice, orders)
            invoice.items = [InvoiceItem(order_id=order.id, order_no=order.order_no,
                                         name=f"{order.kind_label}（{order.subject}）"[:200],
                                         fee_detail=order.fee_detail, amount_fen=order.amount_fen)
                             for order in orders]
            db.session.add(invoice)
            db.session.flush()
    except IntegrityError:  # another request took one of these orders first (or drew the same number)
        raise Conflict("所选受理单已申请过开票，请刷新后重试", code="already_invoiced") from None
    record_audit(f"user:{user_id}", "invoice.request", target=f"invoice:{invoice.id}",
                 detail={"orders": [o.order_no for o in orders], "amount_fen": invoice.amount_fen})
    invoice_id = invoice.id
    queue_issuing(invoice_id)
    return invoice


def _deliver_as_chosen(invoice: Invoice, orders: list[Order]) -> None:
    """电子发票和纸质发票只有其中一种: the delivery the orders chose (the same for all of them); a paper invoice keeps a
    copy of the recipient (the newest order's 收件人) as it was when requested. Conflict when the orders differ."""
    deliveries = {order.invoice_delivery for order in orders}
    if len(deliveries) > 1:
        raise Conflict("所选受理单中既有电子发票也有纸质发票（只能开具其中一种），请分开申请开票",
                       code="mixed_invoice_delivery")
    if deliveries != {InvoiceDelivery.PAPER}:
        return
    contact = next((order.contact for order in sorted(orders, key=lambda o: o.id, reverse=True) if order.contact),
                   None)
    if contact is None:
        raise Conflict("受理单没有收件人信息，无法邮寄纸质发票", code="no_recipient")
    invoice.delivery = InvoiceDelivery.PAPER
    invoice.recipient_name = contact.recipient_name
    invoice.recipient_mobile_enc, invoice.recipient_mobile_masked = (contact.recipient_mobile_enc,
                                                                     contact.recipient_mobile_masked)
    invoice.recipient_address_enc, invoice.recipient_address_masked = (contact.recipient_address_enc,
                                                                       contact.recipient_address_masked)


def queue_issuing(invoice_id: int) -> None:
    """Queue the issuing job once this unit of work commits (the adapter failing is retried with backoff)."""
    enqueue_after_commit("invoices.issue_invoice", invoice_id)


# ------------------------------------------------------------------------------------------------ history


def user_invoices(user_id: int) -> list[Invoice]:
    """开票历史, newest first."""
    return list(db.session.scalars(sa.select(Invoice).where(Invoice.user_id == user_id)
                                   .order_by(Invoice.id.desc())))


def user_invoice(user_id: int, invoice_id: int) -> Invoice:
    """One of the user's own invoices; NotFound for anyone else's."""
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.id == invoice_id, Invoice.user_id == user_id))
    if invoice is None:
        raise NotFound("没有找到该发票")
    return invoice


def _link_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def link_for(invoice: Invoice) -> str:
    """The signed link that downloads an issued invoice's PDF without a WeChat session, valid
    `INVOICE_LINK_HOURS` from now."""
    token = _link_serializer().dumps({"i": invoice.id, "u": invoice.user_id})
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + f"/invoices/download/{token}"


def download_link(user_id: int, invoice_id: int) -> str:
    """A fresh link to one of the user's own issued invoices; NotFound for anyone else's, Conflict before it is
    issued."""
    invoice = user_invoice(user_id, invoice_id)
    if invoice.status != InvoiceStatus.ISSUED:
        raise Conflict("发票尚未开具，开具后可下载", code="not_issued")
    return link_for(invoice)


def _canonical(token: str) -> bool:
    """Every part in the one base64 spelling of its bytes: a character changed in a part's last position can
    leave its decoded bytes (and so the signature) as they were; such a link is refused too."""
    parts = token.split(".")
    try:
        return len(parts) == 3 and all(base64_encode(base64_decode(part)).decode() == part for part in parts)
    except Exception:
        return False


def invoice_for_link(token: str) -> Invoice:
    """The issued invoice a download link names. LinkRefused (a Chinese reason) when the link is expired,
    altered, or its invoice is not (or no longer) an issued invoice of the user it was made for."""
    hours = current_app.config["INVOICE_LINK_HOURS"]
    if not _canonical(token):
        raise LinkRefused("下载链接无效：链接不完整或已被修改，请重新复制完整链接")
    try:
        payload = _link_serializer().loads(token, max_age=hours * 3600)
    except SignatureExpired:
        raise LinkRefused(f"下载链接已过期（有效期{hours}小时）。请在微信“数安CA管家 - 我的发票 - 开票历史”中"
                          "重新复制下载链接", code="invoice_link_expired", status=410) from None
    except BadSignature:
        raise LinkRefused("下载链接无效：链接不完整或已被修改，请重新复制完整链接") from None
    invoice = None
    if isinstance(payload, dict) and isinstance(payload.get("i"), int) and isinstance(payload.get("u"), int):
        invoice = db.session.scalar(sa.select(Invoice).where(Invoice.id == payload["i"],
                                                             Invoice.user_id == payload["u"]))
    if invoice is None or invoice.status != InvoiceStatus.ISSUED or not invoice.file_key:
        raise LinkRefused("没有找到该发票", code="invoice_not_found", status=404)
    return invoice


def invoice_pdf(invoice: Invoice) -> bytes:
    try:
        return file_store().get(invoice.file_key)
    except FileMissing:
        raise NotFound("发票文件暂时无法读取，请稍后再试或联系客服") from None


def pdf_filename(invoice: Invoice) -> str:
    return f"电子发票_{invoice.invoice_no}.pdf"


def bank_account_of(row: Invoice | InvoiceProfile) -> str:
    """The full bank account (for the invoice itself only; pages show the masked copy)."""
    return decrypt(row.bank_account_enc, BANK_ACCOUNT_PURPOSE) if row.bank_account_enc else ""


def mobile_of(row: Invoice | InvoiceProfile) -> str:
    return decrypt(row.mobile_enc, MOBILE_PURPOSE) if row.mobile_enc else ""
