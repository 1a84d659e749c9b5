"""受理单: quotes, creation, cancellation, payment received, the user's lists, the timeline, 待办事项."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from wxbackend.certificates.models import Binding, BindingStatus, CertApp, Certificate, CertificateStatus
from wxbackend.certificates.service import renew_app, user_certificate
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.money import format_fen
from wxbackend.core.times import SHANGHAI, local_day, utcnow
from wxbackend.notices.service import queue_notice
from wxbackend.orders import transitions
from wxbackend.orders.eligibility import (
    Eligibility,
    check_eligibility,
    local_date,
    max_years_within_issuer,
    new_validity,
)
from wxbackend.orders.models import CLOSED_STATUSES, Order, OrderKind, OrderStatus, RenewalPath
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
class Quote:
    certificate: Certificate
    app: CertApp | None
    eligibility: Eligibility
    years: int
    amount_fen: int
    fee_detail: str
    old_not_after: datetime
    new_not_after: datetime

    @property
    def amount_yuan(self) -> str:
        return format_fen(self.amount_fen)


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
                 f"{label} {format_fen(per_year)}元/年 × {years}年", old_not_after, new_validity(old_not_after, years))


def open_order_for(certificate_id: int) -> Order | None:
    return db.session.scalar(sa.select(Order).where(Order.certificate_id == certificate_id,
                                                    Order.status.not_in(CLOSED_STATUSES)))


def new_order_no() -> str:
    return utcnow().astimezone(SHANGHAI).strftime("SA%Y%m%d") + f"{secrets.randbelow(10**8):08d}"


def create_order(user_id: int, certificate_id: int, years: int, app_id: int | None = None,
                 shown_amount_fen: int | None = None) -> Order:
    """A renewal order (待支付 on the online path; 编辑中 needing materials and audit on the reviewed path).
    `shown_amount_fen` is the amount the user saw; an order is never created for any other amount.
    Raises IdentityRequired before the first identity check, NotRenewable with the eligibility's reason,
    PriceChanged when the shown amount is not this quote's, and Conflict when the certificate already has an
    open order."""
    user = db.session.get(User, user_id)
    if not user.identity_verified:
        raise IdentityRequired()
    offer = quote(user_id, certificate_id, years, app_id)
    if not offer.eligibility.renewable:
        raise NotRenewable(offer.eligibility.message, code=offer.eligibility.code)
    if shown_amount_fen is not None and shown_amount_fen != offer.amount_fen:
        raise PriceChanged(f"{years}年的收费金额为¥{offer.amount_yuan}，与页面显示的不一致，请确认后再提交")
    if open_order_for(certificate_id) is not None:
        raise Conflict("该证书已有未完成的受理单，请先完成或撤销", code="open_order_exists")
    online = offer.eligibility.path == RenewalPath.ONLINE
    order = Order(order_no=new_order_no(), user_id=user_id, certificate_id=certificate_id, cert_app_id=app_id,
                  kind=OrderKind.APP_RENEWAL if app_id else OrderKind.RENEWAL, path=offer.eligibility.path,
                  years=years, amount_fen=offer.amount_fen, fee_detail=offer.fee_detail,
                  status=OrderStatus.PENDING_PAYMENT if online else OrderStatus.DRAFT,
                  old_not_after=offer.old_not_after, new_not_after=offer.new_not_after)
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
    """待办事项: certificates in the renewal window without an order, unpaid orders, orders ready to write."""
    items: list[Todo] = []
    orders = db.session.scalars(  # only those with something to do: a user's closed history is not read
        sa.select(Order).where(Order.user_id == user_id, Order.status.in_(TODO_STATUSES)).order_by(Order.id.desc())
        .options(selectinload(Order.certificate), selectinload(Order.cert_app)))
    for order in orders:
        if order.status == OrderStatus.PENDING_PAYMENT:
            items.append(Todo("待支付", f"{order.subject} {order.kind_label} {order.amount_yuan}元",
                              f"/h5/orders/{order.id}"))
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
               Certificate.status.in_([CertificateStatus.VALID, CertificateStatus.EXPIRED]))))
    with_open_order = set(db.session.scalars(  # by anyone bound to them, in one query
        sa.select(Order.certificate_id).where(Order.certificate_id.in_([c.id for c in certificates]),
                                              Order.status.not_in(CLOSED_STATUSES)))) if certificates else set()
    for certificate in certificates:
        eligibility = check_eligibility(certificate)
        if eligibility.renewable and certificate.id not in with_open_order:
            items.append(Todo("证书待续期", f"{certificate.subject_o}：{eligibility.message}",
                              f"/h5/certificates/{certificate.id}/renew"))
    return items
