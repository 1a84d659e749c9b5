"""Shipping the replacement key (DESIGN §11): the recipient chosen from 我的地址, the label, the waybill staff enter
(制证中 → 已寄出), and tracking through the express adapter until 签收 completes the order (已寄出 → 已完成).

The carrier is asked about one waybill at most once per QUERY_INTERVAL (快递100's rule): the time of the last
query is kept on the shipment and checked under its row lock, so a sweep run twice, or two workers, ask once.
Services flush; the request or job commits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from wxbackend.addresses.service import mobile_of, user_address
from wxbackend.audit.service import record_audit
from wxbackend.core.cjk_pdf import FontMissing
from wxbackend.core.crypto import decrypt, encrypt, mask_mobile
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound, UpstreamError
from wxbackend.core.times import utcnow
from wxbackend.core.validation import InvalidFields
from wxbackend.integrations.express import CARRIERS, SIGNED, ExpressRefused, express_tracker, state_label
from wxbackend.notices.service import queue_notice
from wxbackend.orders import transitions
from wxbackend.orders.models import Order, OrderKind, OrderStatus
from wxbackend.orders.service import lock_order, user_order
from wxbackend.shipping.label import Party, shipping_label
from wxbackend.shipping.models import Shipment

log = logging.getLogger(__name__)

MOBILE_PURPOSE = "mobile"
QUERY_INTERVAL = timedelta(minutes=30)
SWEEP_BATCH = 500
SHIPPED_ACTOR = "system:express"
# the order statuses in which the user may still change where the key goes
NOT_YET_SHIPPED = (OrderStatus.DRAFT, OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.PENDING_REVIEW,
                   OrderStatus.APPROVED, OrderStatus.REJECTED, OrderStatus.MAKING)


class LabelUnavailable(DomainError):
    """The label cannot be drawn on this server (its CJK font is missing): the log names the file."""

    code, message, status = "label_unavailable", "寄件单暂时无法生成，请稍后再试；如持续出现请联系管理员", 503


@dataclass(frozen=True)
class TrackingEventView:
    time: datetime
    context: str


@dataclass(frozen=True)
class ShipmentView:
    """What the customer's pages and the API show of a shipment (the mobile masked)."""

    recipient: str
    mobile_masked: str
    address: str
    carrier: str | None
    carrier_name: str | None
    waybill_no: str | None
    shipped_at: datetime | None
    state: int | None
    state_label: str
    events: list[TrackingEventView]
    signed_at: datetime | None


def _replacement(order: Order) -> Order:
    if order.kind != OrderKind.REPLACEMENT:
        raise NotFound("该受理单无需寄送介质")
    return order


def shipment_for_order(order_id: int) -> Shipment | None:
    return db.session.scalar(sa.select(Shipment).where(Shipment.order_id == order_id))


def _lock_shipment(shipment_id: int) -> Shipment | None:
    return db.session.scalar(sa.select(Shipment).where(Shipment.id == shipment_id).with_for_update()
                             .execution_options(populate_existing=True))


def choose_address(user_id: int, order_id: int, address_id: int) -> Shipment:
    """Ship the order's key to one of the user's own addresses: its recipient, mobile (encrypted, masked), region
    and detail are copied onto the order's shipment, so a later edit of the address changes nothing here. May be
    called again to change it until the key is shipped. Raises NotFound (another user's order or address, or an
    order that ships nothing) and Conflict once shipped or closed."""
    order = _replacement(user_order(user_id, order_id))
    order = lock_order(order.id)
    if order.status not in NOT_YET_SHIPPED:
        raise Conflict("介质已寄出或受理单已结束，不能再修改收件地址", code="already_shipped")
    address = user_address(user_id, address_id)
    shipment = shipment_for_order(order.id)
    if shipment is None:
        shipment = Shipment(order_id=order.id, user_id=user_id, tracking_events=[], tracking_error="")
        db.session.add(shipment)
    mobile = mobile_of(address)
    shipment.address_id = address.id
    shipment.recipient, shipment.postcode = address.recipient, address.postcode
    shipment.mobile_enc, shipment.mobile_masked = encrypt(mobile, MOBILE_PURPOSE), mask_mobile(mobile)
    shipment.province, shipment.city, shipment.district = address.province, address.city, address.district
    shipment.detail = address.detail
    db.session.flush()
    record_audit(f"user:{user_id}", "shipment.address_chosen", target=f"order:{order.id}",
                 detail={"address": address.id})
    return shipment


def shipment_view(order: Order) -> ShipmentView | None:
    """The shipment of an order the caller has already found as the user's own (None when it ships nothing or no
    address was chosen yet)."""
    shipment = shipment_for_order(order.id) if order.kind == OrderKind.REPLACEMENT else None
    if shipment is None:
        return None
    events = [TrackingEventView(datetime.fromisoformat(item["time"]), item["context"])
              for item in shipment.tracking_events or []]
    if shipment.tracking_state is not None:
        label = state_label(shipment.tracking_state)
    else:
        label = "已寄出，等待物流信息" if shipment.shipped_at else "待寄出"
    return ShipmentView(shipment.recipient, shipment.mobile_masked, shipment.full_address, shipment.carrier,
                        CARRIERS.get(shipment.carrier or ""), shipment.waybill_no, shipment.shipped_at,
                        shipment.tracking_state, label, events, shipment.signed_at)


# ------------------------------------------------------------------------------------------------- staff


@dataclass(frozen=True)
class StaffShipment:
    order: Order
    shipment: Shipment | None
    view: ShipmentView | None
    mobile: str  # masked unless revealed in this one answer
    key_made: bool


def staff_shipment(order_id: int, revealed_mobile: str | None = None) -> StaffShipment:
    """The console's shipment page of a replacement order. NotFound for any other order."""
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("没有找到该受理单")
    _replacement(order)
    shipment = shipment_for_order(order.id)
    mobile = revealed_mobile or (shipment.mobile_masked if shipment else "")
    return StaffShipment(order, shipment, shipment_view(order), mobile, order.new_certificate_id is not None)


def _staff_target(order_id: int) -> tuple[Order, Shipment]:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("没有找到该受理单")
    shipment = shipment_for_order(_replacement(order).id)
    if shipment is None:
        raise Conflict("用户尚未选择收件地址", code="no_address")
    return order, shipment


def reveal_mobile(staff_id: int, order_id: int, ip: str = "") -> StaffShipment:
    """The page with the recipient's mobile in full for this one answer; an audit row names who saw it (never the
    number). The caller has checked the role and a fresh TOTP code."""
    _, shipment = _staff_target(order_id)
    record_audit(f"staff:{staff_id}", "shipment.mobile_viewed", target=f"order:{order_id}", ip=ip,
                 detail={"fields": ["mobile"]})
    db.session.flush()
    return staff_shipment(order_id, revealed_mobile=decrypt(shipment.mobile_enc, MOBILE_PURPOSE))


def label_pdf(staff_id: int, order_id: int, ip: str = "") -> bytes:
    """The shipping label (it carries the recipient's full mobile for the courier: printing it is audited).
    Conflict before an address is chosen; LabelUnavailable without the font."""
    order, shipment = _staff_target(order_id)
    cfg = current_app.config
    sender = Party(cfg["SHIPPING_SENDER_NAME"], cfg["SHIPPING_SENDER_PHONE"], cfg["SHIPPING_SENDER_ADDRESS"])
    recipient = Party(shipment.recipient, decrypt(shipment.mobile_enc, MOBILE_PURPOSE),
                      f"{shipment.full_address}（邮编{shipment.postcode}）")
    try:
        pdf = shipping_label(order_no=order.order_no, sender=sender, recipient=recipient,
                             carrier=CARRIERS.get(shipment.carrier or "", ""), font_path=cfg["APPLICATION_PDF_FONT"])
    except FontMissing:
        log.exception("shipping label of order %s: APPLICATION_PDF_FONT is not installed", order.order_no)
        raise LabelUnavailable() from None
    record_audit(f"staff:{staff_id}", "shipment.label_printed", target=f"order:{order.id}", ip=ip)
    return pdf


def _checked_waybill(carrier: str | None, number: str | None) -> tuple[str, str]:
    errors: dict[str, str] = {}
    carrier = (carrier or "").strip()
    number = "".join((number or "").split()).upper()
    if carrier not in CARRIERS:
        errors["carrier"] = "请选择快递公司"
    if not number:
        errors["waybill_no"] = "请填写快递单号"
    elif len(number) > 32 or not number.isascii() or not number.isalnum():
        errors["waybill_no"] = "快递单号应为字母或数字，最长32位"
    if errors:
        raise InvalidFields(errors)
    return carrier, number


def record_waybill(staff_id: int, order_id: int, carrier: str | None, waybill_no: str | None,
                   ip: str = "") -> Shipment:
    """Staff (制证, checked at the edge) hand the key to the carrier: the waybill is recorded, the order moves
    制证中 → 已寄出, the user is told, and an audit row names who did it. Refused (Conflict, in Chinese) before the
    new key is made (`order.new_certificate_id`) or an address is chosen, and once shipped; InvalidFields for a
    carrier not in the list, a malformed number or one already on another shipment."""
    carrier, number = _checked_waybill(carrier, waybill_no)
    order = lock_order(order_id)
    _replacement(order)
    shipment = shipment_for_order(order.id)
    refusal = None
    if order.status != OrderStatus.MAKING:
        refusal = Conflict(f"受理单当前为“{order.status_label}”，不能登记快递单号", code="not_making")
    elif order.new_certificate_id is None:
        refusal = Conflict("新介质尚未制作完成（证书未写入），不能登记快递单号", code="key_not_made")
    elif shipment is None:
        refusal = Conflict("用户尚未选择收件地址，不能登记快递单号", code="no_address")
    if refusal is not None:  # the attempt is audited too (the row outlives the rollback)
        record_audit(f"staff:{staff_id}", "shipment.waybill_recorded", target=f"order:{order.id}", ip=ip,
                     result="refused", detail={"why": refusal.code, "carrier": carrier, "waybill_no": number})
        raise refusal
    shipment = _lock_shipment(shipment.id)
    taken = db.session.scalar(sa.select(Shipment.id).where(Shipment.carrier == carrier, Shipment.waybill_no == number,
                                                           Shipment.id != shipment.id))
    if taken is not None:
        raise InvalidFields({"waybill_no": "该快递单号已登记在其他受理单上"})
    shipment.carrier, shipment.waybill_no = carrier, number
    shipment.shipped_at, shipment.shipped_by = utcnow(), f"staff:{staff_id}"
    transitions.move(order, OrderStatus.SHIPPED, f"staff:{staff_id}", f"已寄出：{CARRIERS[carrier]} {number}")
    record_audit(f"staff:{staff_id}", "shipment.waybill_recorded", target=f"order:{order.id}", ip=ip,
                 detail={"carrier": carrier, "waybill_no": number, "before": OrderStatus.MAKING,
                         "after": OrderStatus.SHIPPED})
    queue_notice(order.user_id, "replacement_shipped",
                 {"order_no": order.order_no, "carrier": CARRIERS[carrier], "waybill_no": number})
    db.session.flush()
    return shipment


# ------------------------------------------------------------------------------------------------- tracking


def due_shipment_ids(after_id: int = 0, limit: int = SWEEP_BATCH, now: datetime | None = None) -> list[int]:
    """One keyset batch (ids above `after_id`, ascending) of shipments out with the carrier, not signed for, and
    not asked about within QUERY_INTERVAL."""
    cutoff = (now or utcnow()) - QUERY_INTERVAL
    query = (sa.select(Shipment.id).where(Shipment.shipped_at.is_not(None), Shipment.signed_at.is_(None),
                                          Shipment.id > after_id,
                                          sa.or_(Shipment.last_queried_at.is_(None),
                                                 Shipment.last_queried_at <= cutoff))
             .order_by(Shipment.id).limit(limit))
    return list(db.session.scalars(query))


def track(shipment_id: int) -> str:
    """Ask the carrier about one shipment and keep its answer; 签收 completes the order with a notice. Safe to
    run twice: asked within QUERY_INTERVAL (the time kept on the shipment, under its row lock) or already signed
    for, it asks nothing. A failed query is noted on the shipment and tried again by a later sweep. Returns what
    happened: not_found, not_shipped, done, too_soon, failed, tracking, signed."""
    found = db.session.get(Shipment, shipment_id)
    if found is None:
        return "not_found"
    order = lock_order(found.order_id)  # the order first, as everyone locking an order and its rows does
    shipment = _lock_shipment(shipment_id)
    if shipment.shipped_at is None or shipment.waybill_no is None:
        return "not_shipped"
    if shipment.signed_at is not None or order.status != OrderStatus.SHIPPED:
        return "done"
    now = utcnow()
    if shipment.last_queried_at is not None and now - shipment.last_queried_at < QUERY_INTERVAL:
        return "too_soon"
    shipment.last_queried_at = now
    try:
        tracking = express_tracker().query(carrier=shipment.carrier, number=shipment.waybill_no,
                                           phone=decrypt(shipment.mobile_enc, MOBILE_PURPOSE))
    except (UpstreamError, ExpressRefused) as failed:
        log.warning("tracking shipment %s (%s %s): %s", shipment.id, shipment.carrier, shipment.waybill_no,
                    failed.message)
        shipment.tracking_error = failed.message[:200]
        db.session.flush()
        return "failed"
    shipment.tracking_error = ""
    shipment.tracking_state = tracking.state
    shipment.tracking_events = [{"time": event.time.isoformat(), "context": event.context[:500]}
                                for event in tracking.events]
    if tracking.state != SIGNED:
        db.session.flush()
        return "tracking"
    shipment.signed_at = now
    transitions.move(order, OrderStatus.COMPLETED, SHIPPED_ACTOR, "快件已签收")
    record_audit("system", "shipment.signed", target=f"order:{order.id}",
                 detail={"carrier": shipment.carrier, "waybill_no": shipment.waybill_no})
    queue_notice(order.user_id, "replacement_delivered",
                 {"order_no": order.order_no, "waybill_no": shipment.waybill_no})
    db.session.flush()
    return "signed"
