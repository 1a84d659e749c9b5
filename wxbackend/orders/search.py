"""受理单 for staff (DESIGN §15): the console's order search, everything one order's page shows, and showing the
operator's personal data in full, which is audited (PIPL: who saw which fields of whose order).

The search pages newest first by keyset on (created_at, id), never OFFSET, with the indexes of migration 0010, so it
stays fast with a million orders. A mobile is found by its keyed lookup hash (`core.crypto.lookup_hash`), never by
decrypting rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from wxbackend.audit.service import record_audit
from wxbackend.certificates.models import BINDING_STATUS_LABELS, Binding, BindingStatus, Certificate
from wxbackend.core.crypto import decrypt, lookup_hash, mask_name
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError, NotFound
from wxbackend.core.times import local_day_end, local_day_start
from wxbackend.identity.models import IdentityCheck
from wxbackend.identity.service import latest_check
from wxbackend.invoices.models import Invoice, InvoiceItem
from wxbackend.orders.models import STATUS_LABELS, Order, OrderEvent, OrderStatus, PayChannel
from wxbackend.payments.models import PAYMENT_STATUS_LABELS, REFUND_STATUS_LABELS, Payment, Refund
from wxbackend.staff.models import StaffMember
from wxbackend.users.models import User

PAGE_SIZE = 50
CHANNEL_LABELS = {PayChannel.WECHAT: "微信支付", PayChannel.TRANSFER: "对公打款"}
LABELS = {"order": STATUS_LABELS, "channel": CHANNEL_LABELS, "payment": PAYMENT_STATUS_LABELS,
          "refund": REFUND_STATUS_LABELS}
# the order statuses from which a refund may be asked for (the refund page decides; the detail page links it)
REFUNDABLE = (OrderStatus.PAID, OrderStatus.READY_TO_WRITE, OrderStatus.APPROVED, OrderStatus.REJECTED)
REVEALED_FIELDS = ("name", "id_number", "mobile")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"(\d{1,18})-(\d{1,18})")


class NothingToReveal(DomainError):
    code, message, status = "no_identity_check", "该用户没有通过的身份鉴别记录，没有可显示的个人信息", 409


@dataclass(frozen=True)
class OrderQuery:
    """What staff search by; every criterion given must hold. Dates are days in Asia/Shanghai, both inclusive."""

    order_no: str = ""  # 受理单号, exact
    serial: str = ""  # certificate serial, exact and case-sensitive (the order's certificate or the renewed one)
    organisation: str = ""  # a part of the certificate's 机构名称
    mobile: str = ""  # the mobile of one of the ordering user's passed identity checks, 11 digits
    status: str = ""  # an OrderStatus value
    created_from: date | None = None
    created_to: date | None = None

    @property
    def empty(self) -> bool:
        return not any((self.order_no, self.serial, self.organisation, self.mobile, self.status, self.created_from,
                        self.created_to))


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last order's (created_at, id). Text form `<µs since 1970>-<id>` for a link."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.created_at - EPOCH) // timedelta(microseconds=1)}-{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor in `text`, or None when it is not one."""
        matched = CURSOR.fullmatch(text or "")
        if matched is None or int(matched[2]) >= 2**31:  # an `integer` id column: no order past it
            return None
        try:
            return cls(EPOCH + timedelta(microseconds=int(matched[1])), int(matched[2]))
        except OverflowError:  # past the year 9999
            return None


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    next: Cursor | None  # None: this is the last page


def like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_orders(query: OrderQuery, after: Cursor | None = None, limit: int = PAGE_SIZE) -> OrderPage:
    """The orders matching every criterion of `query`, newest first (created_at, then id), `limit` of them after
    `after`; `next` is the cursor of the following page when there is one. Raises nothing: a criterion nothing
    matches gives an empty page."""
    select = sa.select(Order).options(joinedload(Order.certificate), joinedload(Order.cert_app))
    if query.order_no:
        select = select.where(Order.order_no == query.order_no)
    if query.serial:
        certificate_id = db.session.scalar(sa.select(Certificate.id).where(Certificate.serial == query.serial))
        if certificate_id is None:
            return OrderPage([], None)
        select = select.where(sa.or_(Order.certificate_id == certificate_id,
                                     Order.new_certificate_id == certificate_id))
    if query.organisation:
        organisations = sa.select(Certificate.id).where(
            Certificate.subject_o.ilike(f"%{like_escaped(query.organisation)}%", escape="\\"))
        select = select.where(Order.certificate_id.in_(organisations))
    if query.mobile:
        checked = sa.select(IdentityCheck.user_id).where(IdentityCheck.mobile_hash == lookup_hash(query.mobile,
                                                                                                 "mobile"),
                                                         IdentityCheck.result == "passed")
        select = select.where(Order.user_id.in_(checked))
    if query.status:
        select = select.where(Order.status == query.status)
    if query.created_from:
        select = select.where(Order.created_at >= local_day_start(query.created_from))
    if query.created_to:
        select = select.where(Order.created_at < local_day_end(query.created_to))
    if after is not None:
        select = select.where(sa.tuple_(Order.created_at, Order.id) < sa.tuple_(
            sa.literal(after.created_at, Order.created_at.type), sa.literal(after.id)))
    rows = list(db.session.scalars(select.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return OrderPage(rows, Cursor(rows[-1].created_at, rows[-1].id) if more else None)


# ------------------------------------------------------------------------------------------------ one order


@dataclass(frozen=True)
class BindingView:
    user_id: int
    user: str  # masked
    status: str
    status_label: str
    created_at: datetime
    unbound_at: datetime | None


@dataclass(frozen=True)
class CertificateView:
    certificate: Certificate
    role: str  # 续期前的证书 / 续期后的证书
    bindings: list[BindingView]


@dataclass(frozen=True)
class IdentityView:
    """The ordering user's identity check as staff see it: masked unless `revealed` (and then audited)."""

    check_id: int
    name: str
    id_number: str
    mobile: str
    provider: str
    checked_at: datetime
    consent_version: str
    consented_at: datetime
    revealed: bool = False


@dataclass(frozen=True)
class EventView:
    event: OrderEvent
    actor: str  # who, in words: 用户, 系统, a staff member's name


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    events: list[EventView]
    payments: list[Payment]
    refunds: list[Refund]
    invoice: Invoice | None
    certificates: list[CertificateView]
    identity: IdentityView | None
    refundable: bool
    actors: dict[str, str]  # who asked for each refund, in words


def actor_labels(actors: set[str]) -> dict[str, str]:
    """`staff:3` → the staff member's name (工号 3), `user:12` → 用户, `system` → 系统."""
    staff_ids = {int(a.split(":", 1)[1]) for a in actors if re.fullmatch(r"staff:\d+", a)}
    names = dict(db.session.execute(sa.select(StaffMember.id, StaffMember.display_name)
                                    .where(StaffMember.id.in_(staff_ids))).all()) if staff_ids else {}
    labels = {}
    for actor in actors:
        kind, _, number = actor.partition(":")
        if kind == "staff" and number.isdigit() and int(number) in names:
            labels[actor] = f"{names[int(number)]}（员工 {number}）"
        elif kind == "user":
            labels[actor] = f"用户（{number}）"
        elif actor == "system":
            labels[actor] = "系统"
        else:
            labels[actor] = actor
    return labels


def certificate_bindings(certificate_id: int) -> list[BindingView]:
    rows = db.session.execute(sa.select(Binding, User).join(User, User.id == Binding.user_id)
                              .where(Binding.certificate_id == certificate_id).order_by(Binding.id))
    return [BindingView(user.id, user.masked_name, binding.status,
                        BINDING_STATUS_LABELS.get(BindingStatus(binding.status), binding.status),
                        binding.created_at, binding.unbound_at) for binding, user in rows]


def identity_view(check: IdentityCheck, revealed: bool) -> IdentityView:
    if revealed:
        name, id_number, mobile = check.name, decrypt(check.id_number_enc, "id_number"), decrypt(check.mobile_enc,
                                                                                                   "mobile")
    else:
        name, id_number, mobile = mask_name(check.name), check.id_number_masked, check.mobile_masked
    return IdentityView(check.id, name, id_number, mobile, check.provider, check.created_at, check.consent_version,
                        check.consented_at, revealed)


def _detail(order: Order, identity: IdentityView | None) -> OrderDetail:
    events = list(order.events)
    paid_by = Payment.order_id == order.id
    if order.group_id is not None:  # 批量续期: the group's one payment paid this order too
        paid_by = sa.or_(paid_by, Payment.group_id == order.group_id)
    payments = list(db.session.scalars(sa.select(Payment).where(paid_by).order_by(Payment.id)))
    refunds = list(db.session.scalars(sa.select(Refund).where(Refund.order_id == order.id).order_by(Refund.id)))
    labels = actor_labels({event.actor for event in events} | {refund.actor for refund in refunds if refund.actor})
    invoice = db.session.scalar(sa.select(Invoice).join(InvoiceItem, InvoiceItem.invoice_id == Invoice.id)
                                .where(InvoiceItem.order_id == order.id))
    certificates = [CertificateView(order.certificate, "续期前的证书" if order.new_certificate else "证书",
                                    certificate_bindings(order.certificate_id))]
    if order.new_certificate is not None:
        certificates.append(CertificateView(order.new_certificate, "续期后的证书",
                                            certificate_bindings(order.new_certificate.id)))
    return OrderDetail(order, [EventView(event, labels[event.actor]) for event in events], payments, refunds, invoice,
                       certificates, identity, order.status in REFUNDABLE, labels)


def staff_order(order_id: int) -> Order:
    """Any order, for staff; NotFound when there is none."""
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("没有找到该受理单")
    return order


def order_detail(order_id: int) -> OrderDetail:
    """Everything the console shows about one order, the operator's personal data masked. Raises NotFound."""
    order = staff_order(order_id)
    check = latest_check(order.user_id)
    return _detail(order, identity_view(check, revealed=False) if check else None)


def reveal_personal_data(staff_id: int, order_id: int, ip: str = "") -> OrderDetail:
    """The order's detail with the ordering user's name, ID number and mobile in full, for this one answer; an
    audit row records who saw which fields of which order (never the values). The caller has checked the staff
    member's role. Raises NotFound, and NothingToReveal when the user has no passed identity check."""
    order = staff_order(order_id)
    check = latest_check(order.user_id)
    if check is None:
        raise NothingToReveal()
    record_audit(f"staff:{staff_id}", "order.personal_data_viewed", target=f"order:{order.id}", ip=ip,
                 detail={"fields": list(REVEALED_FIELDS), "identity_check": check.id, "user": order.user_id})
    db.session.flush()
    return _detail(order, identity_view(check, revealed=True))
