"""受理单: quotes, creation, cancellation, payment received, the user's lists, the timeline, 待办事项; 批量续期
(an `OrderGroup` of several renewal orders, priced, paid and cancelled before payment as one)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from wxbackend.agreements import service as agreements
from wxbackend.ca.service import issuing_not_after
from wxbackend.certificates.models import (
    Binding,
    BindingStatus,
    CertApp,
    CertAppStatus,
    Certificate,
    CertificateStatus,
)
from wxbackend.certificates.service import renew_app, user_certificate
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.money import format_fen
from wxbackend.core.times import SHANGHAI, local_day, local_day_end, utcnow
from wxbackend.core.validation import InvalidFields
from wxbackend.notices.service import queue_notice
from wxbackend.orders import contacts as order_contacts
from wxbackend.orders import transitions
from wxbackend.orders.contacts import ContactsInput
from wxbackend.orders.eligibility import (
    Eligibility,
    add_years,
    check_eligibility,
    local_date,
    max_years_within_issuer,
    new_validity,
)
from wxbackend.orders.models import (
    CLOSED_STATUSES,
    GroupStatus,
    InvoiceDelivery,
    Order,
    OrderContact,
    OrderGroup,
    OrderKind,
    OrderStatus,
    RenewalPath,
)
from wxbackend.users.models import User

REVIEW_OPENERS = "order_review_openers"  # app.extensions: what runs when a paid order becomes 待审核


def register_review_openers(app, openers) -> None:
    """create_app names what opens the review of a paid reviewed order (the applications domain's review)."""
    app.extensions[REVIEW_OPENERS] = tuple(openers)


class IdentityRequired(DomainError):
    code, message, status = "identity_required", "首次办理业务前需完成身份鉴别认证", 403


class NotRenewable(DomainError):
    code = "not_renewable"


class BeyondIssuer(DomainError):
    """More years than the issuing CA's certificate has left; `allowed_years` is what may be bought."""

    def __init__(self, message: str, allowed_years: int):
        super().__init__(message, code="beyond_issuer")
        self.allowed_years = allowed_years


class PriceChanged(DomainError):
    code, status = "price_changed", 409


@dataclass(frozen=True)
class FeeItem:
    """One line of 费用详细信息: 费用名称, 费用单价 (per `unit`), 数量, 小计; the lines of a quote sum to its
    amount."""

    name: str
    unit_fen: int
    unit: str
    quantity: int

    @property
    def subtotal_fen(self) -> int:
        return self.unit_fen * self.quantity

    @property
    def unit_yuan(self) -> str:
        return format_fen(self.unit_fen)

    @property
    def subtotal_yuan(self) -> str:
        return format_fen(self.subtotal_fen)

    def stored(self) -> dict:
        return {"name": self.name, "unit_fen": self.unit_fen, "unit": self.unit, "quantity": self.quantity,
                "subtotal_fen": self.subtotal_fen}


def order_fee_items(order: Order) -> list[FeeItem]:
    """费用详细信息 of an order as it was charged (orders made before the breakdown was stored: one line)."""
    if order.fee_items:
        return [FeeItem(i["name"], i["unit_fen"], i["unit"], i["quantity"]) for i in order.fee_items]
    if order.years:
        return [FeeItem(order.kind_label, order.amount_fen // order.years, "年", order.years)]
    return [FeeItem(order.kind_label, order.amount_fen, "次", 1)]


@dataclass(frozen=True)
class Quote:
    certificate: Certificate
    app: CertApp | None
    eligibility: Eligibility
    years: int
    amount_fen: int
    fee_detail: str
    old_not_after: datetime
    new_not_after: datetime
    per_year_fen: int = 0

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def fee_items(self) -> list[FeeItem]:
        """Per year and per item: the 证书服务费 (or 应用服务费) at its yearly price × the years; no medium."""
        return [FeeItem("应用服务费" if self.app else "证书服务费", self.per_year_fen, "年", self.years)]


def fee_per_year(certificate: Certificate, kind: OrderKind) -> int:
    """The fee schedule (config, integer fen per year): per certificate type, or the 应用 fee."""
    cfg = current_app.config
    if kind == OrderKind.APP_RENEWAL:
        return cfg["APP_RENEWAL_FEE_FEN"]
    fees = {k: int(v) for k, v in (entry.split("=", 1) for entry in cfg["RENEWAL_FEES_FEN"])}
    if certificate.cert_type not in fees:
        raise NotRenewable("该类型证书暂不支持在线续期，请联系客服", code="no_fee")
    return fees[certificate.cert_type]


def quote(user_id: int, certificate_id: int, years: int, app_id: int | None = None) -> Quote:
    """What renewing would cost and give, for one of the user's certificates (or one of its 应用)."""
    certificate = user_certificate(user_id, certificate_id)
    app = None
    if app_id is not None:
        app = next((a for a in certificate.apps if a.id == app_id), None)
        if app is None:
            raise NotFound("没有找到该应用")
    if not 1 <= years <= current_app.config["ORDER_MAX_YEARS"]:
        raise DomainError(f"续期年限为1至{current_app.config['ORDER_MAX_YEARS']}年", code="invalid_years")
    kind = OrderKind.APP_RENEWAL if app else OrderKind.RENEWAL
    per_year = fee_per_year(certificate, kind)
    old_not_after = app.expires_at if app else certificate.not_after
    label = "应用续期" if app else "证书续期"
    if app is None:  # what the page shows is what the certificate gets: never more years than the issuing CA has
        allowed = max_years_within_issuer(old_not_after, years)
        if 1 <= allowed < years:
            raise BeyondIssuer(f"签发机构证书有效期有限，本证书最多可续期{allowed}年，有效期至"
                               f"{local_date(new_validity(old_not_after, allowed))}", allowed)
    return Quote(certificate, app, check_eligibility(certificate, app), years, per_year * years,
                 f"{label} {format_fen(per_year)}元/年 × {years}年", old_not_after, new_validity(old_not_after, years),
                 per_year)


class NotReplaceable(DomainError):
    code, status = "not_replaceable", 409


@dataclass(frozen=True)
class ReplacementQuote:
    """What 介质遗失补办 costs and gives: one fee (REPLACEMENT_FEE_FEN) of which the 介质费 is a part, and the new
    certificate's end as REPLACEMENT_VALIDITY says (keep: the lost one's; extend: a year, within the issuing CA)."""

    certificate: Certificate
    amount_fen: int
    medium_fen: int
    old_not_after: datetime
    new_not_after: datetime

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)

    @property
    def medium_yuan(self) -> str:
        return format_fen(self.medium_fen)

    @property
    def service_yuan(self) -> str:
        return format_fen(self.amount_fen - self.medium_fen)

    @property
    def fee_items(self) -> list[FeeItem]:
        """The 证书服务费 and the 介质费 (the new U-KEY), one each."""
        return [FeeItem("证书服务费", self.amount_fen - self.medium_fen, "次", 1),
                FeeItem("介质费（U-KEY）", self.medium_fen, "个", 1)]

    @property
    def fee_detail(self) -> str:
        return f"补办介质 {self.amount_yuan}元（证书服务费 {self.service_yuan}元 + 介质费 {self.medium_yuan}元）"


REPLACEABLE = (CertificateStatus.VALID, CertificateStatus.ON_HOLD)


def replacement_quote(certificate: Certificate) -> ReplacementQuote:
    """The replacement of `certificate` (whoever asks: the caller has checked who may see it). NotReplaceable when
    it is expired, revoked or superseded (an expired one is renewed through review instead)."""
    now = utcnow()
    if certificate.status not in REPLACEABLE:
        raise NotReplaceable(f"该证书{certificate.status_label}，不能办理介质遗失补办")
    if certificate.not_after <= now:
        raise NotReplaceable("该证书已过期，无需补办介质，请办理过期证书续期", code="expired")
    cfg = current_app.config
    new_not_after = certificate.not_after
    if cfg["REPLACEMENT_VALIDITY"] == "extend":
        # the end of the day a year from today (Asia/Shanghai): the same whenever the page and the order ask today
        a_year = local_day_end(add_years(now, 1).astimezone(SHANGHAI).date()) - timedelta(seconds=1)
        issuer_end = issuing_not_after(cfg)
        new_not_after = a_year if issuer_end is None else min(a_year, issuer_end)
    return ReplacementQuote(certificate, int(cfg["REPLACEMENT_FEE_FEN"]), int(cfg["REPLACEMENT_MEDIUM_FEE_FEN"]),
                            certificate.not_after, new_not_after)


def _agreed_and_contacts(user_id: int, agreement_version: str | None,
                         contacts: ContactsInput | None) -> tuple[agreements.Accepted, OrderContact | None]:
    """The acceptance of the current 电子认证服务协议 an order records, and its checked 经办人/收件人 (None when the
    caller gives none). One refusal names every field: AgreementRequired (`agreement`, plus any contact fields) when
    the agreement is not accepted, else InvalidFields for the contacts."""
    refusal: InvalidFields | None = None
    accepted = contact = None
    try:
        accepted = agreements.require_service_agreement(user_id, agreement_version)
    except agreements.AgreementRequired as refused:
        refusal = refused
    try:
        contact = order_contacts.checked(user_id, contacts) if contacts is not None else None
    except InvalidFields as invalid:
        if refusal is None:
            raise
        refusal.errors.update(invalid.errors)
    if refusal is not None:
        raise refusal
    return accepted, contact


def _record_terms(order: Order, accepted: agreements.Accepted, contact: OrderContact | None,
                  contacts: ContactsInput | None, items: list[FeeItem]) -> None:
    order.agreement_version, order.agreed_at = accepted.version, accepted.at
    order.fee_items = [item.stored() for item in items]
    order.invoice_delivery = contacts.invoice_delivery if contacts is not None else InvoiceDelivery.ELECTRONIC
    if contact is not None:
        order.contact = contact


def create_replacement_order(user_id: int, certificate_id: int, shown_amount_fen: int | None = None,
                             agreement_version: str | None = None, contacts: ContactsInput | None = None) -> Order:
    """A 编辑中 replacement order (its materials and audit follow) for the certificate `certificate_id`, which the
    user need not be bound to (the materials and the review decide). `agreement_version` is the 电子认证服务协议
    version the user ticked now (not needed once the current one was accepted); `contacts` the 经办人/收件人, when the
    page collects them. Raises IdentityRequired, NotReplaceable, PriceChanged when the amount shown is not the fee,
    AgreementRequired, InvalidFields, Conflict when the certificate has an open order."""
    user = db.session.get(User, user_id)
    if not user.identity_verified:
        raise IdentityRequired()
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound("没有找到该证书")
    offer = replacement_quote(certificate)
    if shown_amount_fen is not None and shown_amount_fen != offer.amount_fen:
        raise PriceChanged(f"补办费用为¥{offer.amount_yuan}，与页面显示的不一致，请确认后再提交")
    accepted, contact = _agreed_and_contacts(user_id, agreement_version, contacts)
    if open_order_for(certificate_id) is not None:
        raise Conflict("该证书已有办理中的受理单，请先完成或撤销", code="open_order_exists")
    order = Order(order_no=new_order_no(), user_id=user_id, certificate_id=certificate_id,
                  kind=OrderKind.REPLACEMENT, path=RenewalPath.REVIEWED, years=0, amount_fen=offer.amount_fen,
                  fee_detail=offer.fee_detail, status=OrderStatus.DRAFT, old_not_after=offer.old_not_after,
                  new_not_after=offer.new_not_after)
    _record_terms(order, accepted, contact, contacts, offer.fee_items)
    try:
        with db.session.begin_nested():
            db.session.add(order)
    except IntegrityError:
        raise Conflict("该证书已有办理中的受理单，请先完成或撤销", code="open_order_exists") from None
    transitions.record_creation(order, f"user:{user_id}", "介质遗失补办需提交申请资料，经审核后制作新介质并邮寄")
    db.session.flush()
    return order


def open_order_for(certificate_id: int) -> Order | None:
    return db.session.scalar(sa.select(Order).where(Order.certificate_id == certificate_id,
                                                    Order.status.not_in(CLOSED_STATUSES)))


def new_order_no() -> str:
    return utcnow().astimezone(SHANGHAI).strftime("SA%Y%m%d") + f"{secrets.randbelow(10**8):08d}"


def create_order(user_id: int, certificate_id: int, years: int, app_id: int | None = None,
                 shown_amount_fen: int | None = None, agreement_version: str | None = None,
                 contacts: ContactsInput | None = None) -> Order:
    """A renewal order (待支付 on the online path; 编辑中 needing materials and audit on the reviewed path).
    `shown_amount_fen` is the amount the user saw; an order is never created for any other amount. The order records
    the 电子认证服务协议 the user accepted (`agreement_version`: the version ticked now; not needed once the current
    one was accepted), its 费用详细信息, and the 经办人/收件人 and invoice delivery of `contacts` (every user-facing
    channel gives them; None leaves the order without contacts, for staff and test tools).
    Raises IdentityRequired before the first identity check, NotRenewable with the eligibility's reason,
    PriceChanged when the shown amount is not this quote's, AgreementRequired (the first order, or the first after
    the agreement changed), InvalidFields naming each wrong contact field, and Conflict when the certificate already
    has an open order."""
    user = db.session.get(User, user_id)
    if not user.identity_verified:
        raise IdentityRequired()
    offer = quote(user_id, certificate_id, years, app_id)
    if not offer.eligibility.renewable:
        raise NotRenewable(offer.eligibility.message, code=offer.eligibility.code)
    if shown_amount_fen is not None and shown_amount_fen != offer.amount_fen:
        raise PriceChanged(f"{years}年的收费金额为¥{offer.amount_yuan}，与页面显示的不一致，请确认后再提交")
    accepted, contact = _agreed_and_contacts(user_id, agreement_version, contacts)
    if open_order_for(certificate_id) is not None:
        raise Conflict("该证书已有未完成的受理单，请先完成或撤销", code="open_order_exists")
    online = offer.eligibility.path == RenewalPath.ONLINE
    order = Order(order_no=new_order_no(), user_id=user_id, certificate_id=certificate_id, cert_app_id=app_id,
                  kind=OrderKind.APP_RENEWAL if app_id else OrderKind.RENEWAL, path=offer.eligibility.path,
                  years=years, amount_fen=offer.amount_fen, fee_detail=offer.fee_detail,
                  status=OrderStatus.PENDING_PAYMENT if online else OrderStatus.DRAFT,
                  old_not_after=offer.old_not_after, new_not_after=offer.new_not_after)
    _record_terms(order, accepted, contact, contacts, offer.fee_items)
    try:
        with db.session.begin_nested():  # two taps at once: the partial unique index keeps one open order
            db.session.add(order)
    except IntegrityError:
        raise Conflict("该证书已有未完成的受理单，请先完成或撤销", code="open_order_exists") from None
    transitions.record_creation(order, f"user:{user_id}", "用户申请" if online else
                                "过期证书续期需提交申请资料，经管理员审核后办理")
    db.session.flush()
    return order


def _locking(*where: sa.ColumnElement[bool]) -> sa.Select:
    return (sa.select(Order).where(*where).order_by(Order.id).with_for_update()
            .execution_options(populate_existing=True))


def lock_order(order_id: int) -> Order:
    """The order, its row locked (SELECT … FOR UPDATE) until the caller commits and re-read from the database, so
    a change committed meanwhile by another request or job is seen. The one way to lock an order (`lock_orders`
    for several); whoever also locks a payment or refund row locks the order first. NotFound when there is no
    such order."""
    order = db.session.scalar(_locking(Order.id == order_id))
    if order is None:
        raise NotFound("没有找到该受理单")
    return order


def lock_orders(order_ids: list[int], user_id: int | None = None) -> list[Order]:
    """The orders among `order_ids` (only `user_id`'s, when given), locked as `lock_order` locks one, in id order
    so that two requests locking overlapping sets cannot deadlock. Missing ones are simply not returned."""
    where = [Order.id.in_(order_ids)] + ([Order.user_id == user_id] if user_id is not None else [])
    return list(db.session.scalars(_locking(*where)))


def user_orders(user_id: int) -> list[Order]:
    """The user's orders, newest first, with the certificate and 应用 each names (lists show them): three
    queries whatever the number of orders."""
    return list(db.session.scalars(sa.select(Order).where(Order.user_id == user_id).order_by(Order.id.desc())
                                   .options(selectinload(Order.certificate), selectinload(Order.cert_app))))


def user_order(user_id: int, order_id: int) -> Order:
    """One of the user's own orders; NotFound for anyone else's."""
    order = db.session.scalar(sa.select(Order).where(Order.id == order_id, Order.user_id == user_id))
    if order is None:
        raise NotFound("没有找到该受理单")
    return order


def cancel_order(user_id: int, order_id: int) -> Order:
    """撤销 before payment. (After payment a cancellation is a refund: `payments.service.refund_order`.)"""
    order = user_order(user_id, order_id)
    if order.status not in (OrderStatus.DRAFT, OrderStatus.PENDING_PAYMENT):
        raise Conflict("已支付的受理单不能直接撤销，请申请退款", code="already_paid")
    if order.group_id is not None:
        raise Conflict("该受理单属于批量续期，支付前请撤销整个批量续期", code="in_group")
    transitions.move(order, OrderStatus.CANCELLED, f"user:{user_id}", "用户撤销")
    return order


def mark_paid(order_id: int, channel: str, actor: str, note: str = "") -> bool:
    """Payment received for `order_id` through `channel` (wechat | transfer): 已支付, then 待制证 on the online
    path (or 待审核 on the reviewed path), and the user is told. False (nothing changes) when the order is not
    waiting for payment — a second notification of the same payment is harmless; NotFound when there is no such
    order. The order is locked (`lock_order`); callers that lock a payment too have locked the order first."""

    order = lock_order(order_id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        return False
    order.pay_channel = channel
    order.paid_at = utcnow()
    transitions.move(order, OrderStatus.PAID, actor, note or "用户缴费")
    if order.kind == OrderKind.APP_RENEWAL:  # the 应用's own validity: nothing to write on the key
        renew_app(order.cert_app, order.new_not_after)
        transitions.move(order, OrderStatus.COMPLETED, "system",
                         f"应用有效期已延长至{local_day(order.new_not_after)}")
        queue_notice(order.user_id, "payment_received", {"order_no": order.order_no, "amount": order.amount_yuan})
        return True
    if order.path == RenewalPath.ONLINE:
        transitions.move(order, OrderStatus.READY_TO_WRITE, "system", "请在电脑上插入U-KEY，打开续期页面写入新证书")
    else:
        transitions.move(order, OrderStatus.PENDING_REVIEW, "system", "等待管理员审核申请资料")
        for open_review in current_app.extensions.get(REVIEW_OPENERS, ()):
            open_review(order.id)
    queue_notice(order.user_id, "payment_received", {"order_no": order.order_no, "amount": order.amount_yuan})
    if order.status == OrderStatus.READY_TO_WRITE:
        queue_notice(order.user_id, "ready_to_write", {"order_no": order.order_no,
                                                       "organisation": order.certificate.subject_o})
    return True


# --- 批量续期 (one group of renewal orders, one price, one payment) ------------------------------------------

BATCH_MIN, BATCH_MAX = 2, 20


class NotBatchable(DomainError):
    code = "not_batchable"


@dataclass(frozen=True)
class GroupQuote:
    """What renewing several certificates together costs: each item's quote and their sum, exactly what is charged."""

    items: list[Quote]

    @property
    def amount_fen(self) -> int:
        return sum(item.amount_fen for item in self.items)

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)


def quote_group(user_id: int, items: list[tuple[int, int]]) -> GroupQuote:
    """The quote of renewing the user's certificates `items` ((certificate id, years), each certificate once, 2 to
    20 of them) together. Every one must be renewable online now (an expired one goes through review, alone).
    Raises NotBatchable, NotFound (not the user's certificate), the single quote's errors (invalid years,
    BeyondIssuer), NotRenewable naming the organisation."""
    ids = [certificate_id for certificate_id, _ in items]
    if len(set(ids)) != len(ids):
        raise NotBatchable("同一证书不能重复选择")
    if not BATCH_MIN <= len(ids) <= BATCH_MAX:
        raise NotBatchable(f"批量续期请选择{BATCH_MIN}至{BATCH_MAX}个证书")
    quotes = [quote(user_id, certificate_id, years) for certificate_id, years in items]
    for offer in quotes:
        if not offer.eligibility.renewable or offer.eligibility.path != RenewalPath.ONLINE:
            reason = offer.eligibility.message if not offer.eligibility.renewable else "过期证书需单独提交资料审核"
            raise NotRenewable(f"{offer.certificate.subject_o}：{reason}", code=offer.eligibility.code or "reviewed")
    return GroupQuote(quotes)


def batch_candidates(user_id: int, certificates: list[Certificate]) -> set[int]:
    """Which of the user's `certificates` 我的数字证书 offers for 批量续期: renewable online now, without an open
    order."""
    with_open_order = _with_open_order([certificate.id for certificate in certificates])
    return {certificate.id for certificate in certificates
            if certificate.id not in with_open_order
            and (eligibility := check_eligibility(certificate)).renewable and eligibility.path == RenewalPath.ONLINE}


def _with_open_order(certificate_ids: list[int]) -> set[int]:
    """Which of these certificates have an open order (anyone's), in one query."""
    if not certificate_ids:
        return set()
    return set(db.session.scalars(sa.select(Order.certificate_id).where(
        Order.certificate_id.in_(certificate_ids), Order.status.not_in(CLOSED_STATUSES))))


def new_group_no() -> str:
    return utcnow().astimezone(SHANGHAI).strftime("PL%Y%m%d") + f"{secrets.randbelow(10**10):010d}"


def create_group(user_id: int, items: list[tuple[int, int]], shown_amount_fen: int | None = None,
                 agreement_version: str | None = None, contacts: ContactsInput | None = None) -> OrderGroup:
    """批量续期: one 待支付 group holding one 待支付 renewal order per certificate, its amount the sum of theirs.
    `shown_amount_fen` is the total the user saw; a group is never created for any other. Every order records the
    电子认证服务协议 accepted (`agreement_version`, as `create_order`) and the same 经办人/收件人 and invoice delivery.
    Raises IdentityRequired, AgreementRequired / InvalidFields (checked before anything is made), the errors of
    `quote_group`, PriceChanged, Conflict when a certificate has an open order (then nothing is kept: the caller's
    transaction rolls back)."""
    user = db.session.get(User, user_id)
    if not user.identity_verified:
        raise IdentityRequired()
    _agreed_and_contacts(user_id, agreement_version, contacts)  # one refusal naming every field, before the quote
    offer = quote_group(user_id, items)
    if shown_amount_fen is not None and shown_amount_fen != offer.amount_fen:
        raise PriceChanged(f"批量续期合计金额为¥{offer.amount_yuan}，与页面显示的不一致，请确认后再提交")
    group = OrderGroup(group_no=new_group_no(), user_id=user_id, amount_fen=offer.amount_fen,
                       status=GroupStatus.PENDING_PAYMENT)
    db.session.add(group)
    db.session.flush()
    for item in offer.items:
        if open_order_for(item.certificate.id) is not None:
            raise Conflict(f"{item.certificate.subject_o}已有未完成的受理单，请先完成或撤销", code="open_order_exists")
        order = create_order(user_id, item.certificate.id, item.years, shown_amount_fen=item.amount_fen,
                             agreement_version=agreement_version, contacts=contacts)
        order.group_id = group.id
    db.session.flush()
    db.session.refresh(group, ["orders"])
    if sum(order.amount_fen for order in group.orders) != group.amount_fen:  # the quote moved under our feet
        raise PriceChanged("收费标准已变化，请刷新页面后重新提交")
    return group


def user_group(user_id: int, group_id: int) -> OrderGroup:
    """One of the user's own groups; NotFound for anyone else's."""
    group = db.session.scalar(sa.select(OrderGroup).where(OrderGroup.id == group_id, OrderGroup.user_id == user_id))
    if group is None:
        raise NotFound("没有找到该批量续期")
    return group


def user_groups(user_id: int) -> list[OrderGroup]:
    return list(db.session.scalars(sa.select(OrderGroup).where(OrderGroup.user_id == user_id)
                                   .order_by(OrderGroup.id.desc())))


def lock_group(group_id: int) -> OrderGroup:
    """The group and its orders, rows locked and re-read (group first, then its orders in id order: the lock order
    of everyone who locks a group); NotFound when there is no such group."""
    group = db.session.scalar(sa.select(OrderGroup).where(OrderGroup.id == group_id).with_for_update()
                              .execution_options(populate_existing=True))
    if group is None:
        raise NotFound("没有找到该批量续期")
    lock_orders([order_id for order_id in db.session.scalars(sa.select(Order.id).where(Order.group_id == group_id))])
    db.session.refresh(group, ["orders"])
    return group


def mark_group_paid(group_id: int, channel: str, actor: str, note: str = "") -> bool:
    """The group's one payment was received: the group becomes 已支付 and every order of it is paid (`mark_paid`,
    each then 待制证), in the caller's one unit of work. False (nothing changes) when the group is not waiting for
    payment — a second notification of the same payment is harmless. The caller holds the group's lock or takes
    it here (`lock_group`)."""
    group = lock_group(group_id)
    if group.status != GroupStatus.PENDING_PAYMENT:
        return False
    transitions.GROUP_STATES.move(group, GroupStatus.PAID)
    group.pay_channel = channel
    group.paid_at = utcnow()
    for order in group.orders:
        mark_paid(order.id, channel, actor, note or "用户缴费（批量续期）")
    db.session.flush()
    return True


def cancel_group(user_id: int, group_id: int) -> OrderGroup:
    """撤销 a group before payment: the group and every order of it are cancelled. Conflict once it was paid (then
    each order is cancelled and refunded on its own)."""
    group = lock_group(user_group(user_id, group_id).id)
    if group.status != GroupStatus.PENDING_PAYMENT:
        raise Conflict("已支付的批量续期不能整体撤销，可逐个撤销受理单并退款", code="already_paid")
    transitions.GROUP_STATES.move(group, GroupStatus.CANCELLED)
    for order in group.orders:
        if order.status == OrderStatus.PENDING_PAYMENT:
            transitions.move(order, OrderStatus.CANCELLED, f"user:{user_id}", "用户撤销批量续期")
    return group


@dataclass(frozen=True)
class Step:
    title: str
    done: bool
    at: datetime | None = None
    note: str = ""


def timeline(order: Order) -> list[Step]:
    """The five-step progress bar: 用户申请 → 用户缴费 → 管理员审核 → 安装新证书 → 完成."""
    reached = {event.to_status: event.at for event in order.events}
    paid_at = reached.get(OrderStatus.PAID)
    if order.path == RenewalPath.ONLINE:
        review = Step("管理员审核", paid_at is not None, paid_at, "在线续期无需审核")
    else:
        review = Step("管理员审核", OrderStatus.APPROVED in reached, reached.get(OrderStatus.APPROVED))
    return [
        Step("用户申请", True, order.created_at),
        Step("用户缴费", paid_at is not None, paid_at),
        review,
        Step("安装新证书", OrderStatus.ISSUED in reached or OrderStatus.COMPLETED in reached,
             reached.get(OrderStatus.ISSUED)),
        Step("完成", OrderStatus.COMPLETED in reached, reached.get(OrderStatus.COMPLETED)),
    ]


@dataclass(frozen=True)
class Todo:
    title: str
    detail: str
    link: str


TODO_STATUSES = (OrderStatus.PENDING_PAYMENT, OrderStatus.DRAFT, OrderStatus.REJECTED,
                 OrderStatus.FIN_VERIFICATION_FAILED, OrderStatus.READY_TO_WRITE)


def todo_items(user_id: int) -> list[Todo]:
    """待办事项: certificates and 应用 in the renewal window without an order (what expiry reminders are about, with
    the same links), unpaid orders, orders ready to write."""
    items: list[Todo] = []
    orders = db.session.scalars(  # only those with something to do: a user's closed history is not read
        sa.select(Order).where(Order.user_id == user_id, Order.status.in_(TODO_STATUSES)).order_by(Order.id.desc())
        .options(selectinload(Order.certificate), selectinload(Order.cert_app)))
    for order in orders:
        if order.status == OrderStatus.PENDING_PAYMENT:
            link = f"/h5/groups/{order.group_id}" if order.group_id else f"/h5/orders/{order.id}"
            items.append(Todo("待支付", f"{order.subject} {order.kind_label} {order.amount_yuan}元", link))
        elif order.status == OrderStatus.DRAFT and order.path == RenewalPath.REVIEWED:
            items.append(Todo("待提交申请资料", f"{order.subject}：过期证书续期需提交资料并经审核",
                              f"/h5/orders/{order.id}"))
        elif order.status in (OrderStatus.REJECTED, OrderStatus.FIN_VERIFICATION_FAILED):
            items.append(Todo(order.status_label, f"{order.subject}：请查看原因并修改后重新提交",
                              f"/h5/orders/{order.id}"))
        elif order.status == OrderStatus.READY_TO_WRITE:
            items.append(Todo("待写入新证书", f"{order.subject}：请在电脑上插入U-KEY完成续期",
                              f"/h5/orders/{order.id}"))
    certificates = list(db.session.scalars(
        sa.select(Certificate).join(Binding, Binding.certificate_id == Certificate.id)
        .where(Binding.user_id == user_id, Binding.status == BindingStatus.ACTIVE,
               Certificate.status.in_([CertificateStatus.VALID, CertificateStatus.EXPIRED]))
        .options(selectinload(Certificate.apps))))  # the 应用 of all of them in one more query
    with_open_order = _with_open_order([c.id for c in certificates])  # by anyone bound to them
    for certificate in certificates:
        if certificate.id in with_open_order:  # its order is listed above (or belongs to another bound user)
            continue
        eligibility = check_eligibility(certificate)
        if eligibility.renewable:
            items.append(Todo("证书待续期", f"{certificate.subject_o}：{eligibility.message}",
                              f"/h5/certificates/{certificate.id}/renew"))
        for app in certificate.apps:  # the 应用 expiry reminders are about, with the same link
            app_eligibility = check_eligibility(certificate, app)
            if app.status == CertAppStatus.ACTIVE and app_eligibility.renewable:
                items.append(Todo("应用待续期", f"{certificate.subject_o}（{app.name}）：{app_eligibility.message}",
                                  f"/h5/certificates/{certificate.id}/renew?app={app.id}"))
    return items
