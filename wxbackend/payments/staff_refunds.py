"""Refunds staff start from the console (DESIGN §9, §15): 财务 or 管理员 pay a refundable order back through the
channel that paid it, with a reason. Up to `REFUND_APPROVAL_THRESHOLD_FEN` the refund is made at once; above it
an approval request of kind "refund" (steps 财务, then 管理员, none decided by its creator nor one person twice)
is opened, and approving its last step makes the refund through the same `payments.service.refund_order`.

The "refund" kind (`REFUND_APPROVAL`) is registered from create_app. An order's revision is the number of its
timeline events: any status change after the request was opened voids it at the next decision."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from wxbackend.approvals.models import ApprovalRequest
from wxbackend.approvals.service import ApprovalKind, Step, last_decider, pending_request, submit
from wxbackend.audit.service import record_audit
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, NotFound
from wxbackend.core.money import format_fen
from wxbackend.core.validation import InvalidFields, clean
from wxbackend.orders.models import Order, OrderEvent, OrderStatus, PayChannel
from wxbackend.orders.service import lock_order
from wxbackend.orders.transitions import ORDER_STATES
from wxbackend.payments.models import Refund
from wxbackend.payments.service import refund_order

KIND = "refund"
REFUND_STEPS = (Step("财务审批", ("finance",)), Step("管理员审批", ("admin",)))
CHANNEL_LABELS = {PayChannel.WECHAT: "微信支付（原路退回）", PayChannel.TRANSFER: "对公转账（银行转账退回付款账户）"}
REASON_MAX = 80  # what a Refund keeps


def refundable_statuses() -> list[str]:
    return [str(s) for s in ORDER_STATES.sources(OrderStatus.REFUNDING)]


def order_revision(order_id: int) -> int:
    """An order's revision: how many events its timeline has (every status change adds one)."""
    return db.session.scalar(sa.select(sa.func.count(OrderEvent.id)).where(OrderEvent.order_id == order_id))


def threshold_fen() -> int:
    return int(current_app.config["REFUND_APPROVAL_THRESHOLD_FEN"])


@dataclass
class RefundPage:
    order: Order
    organisation: str
    channel: str
    refundable: bool
    why_not: str
    needs_approval: bool
    threshold: str
    pending: ApprovalRequest | None


def _not_refundable(order: Order) -> str:
    return (f"受理单当前为“{order.status_label}”，不能退款（只有已支付、待制证、审核通过或未通过的受理单可以退款）"
            if not ORDER_STATES.can_move(order, OrderStatus.REFUNDING) else "")


def refund_page(order_id: int) -> RefundPage:
    """What the staff refund page shows: the order (受理单号, organisation, amount paid, channel), whether it can
    be refunded now, and whether that needs an approval. NotFound."""
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound("没有找到该受理单")
    why = _not_refundable(order)
    pending = pending_request(KIND, order.id)
    if pending is not None and not why:
        why = f"该受理单已有待审批的退款申请（审批单 #{pending.id}）"
    return RefundPage(order=order, organisation=order.certificate.subject_o,
                      channel=CHANNEL_LABELS.get(order.pay_channel, "未支付"), refundable=not why, why_not=why,
                      needs_approval=order.amount_fen > threshold_fen(), threshold=format_fen(threshold_fen()),
                      pending=pending)


def find_order_id(order_no: str) -> int:
    """The id of the order numbered `order_no` (受理单号). NotFound."""
    order_id = db.session.scalar(sa.select(Order.id).where(Order.order_no == clean(order_no).upper()))
    if order_id is None:
        raise NotFound("没有找到该受理单号")
    return order_id


def _refused(actor: str, order: Order, error: Conflict, ip: str) -> Conflict:
    """Audit a refused staff refund (the row outlives the rollback); the error to raise."""
    record_audit(actor, "order.staff_refund", target=f"order:{order.id}", ip=ip, result="refused",
                 detail={"why": error.code, "status": order.status})
    return error


def start_refund(staff_id: int, order_id: int, reason: str, ip: str = "") -> Refund | ApprovalRequest:
    """财务 or 管理员 (checked at the edge) refund an order: up to the threshold at once, through
    `refund_order` (the Refund returned); above it an approval request is opened (returned). Raises InvalidFields
    (no reason, too long), NotFound, Conflict `not_refundable` (the order's status allows no refund) or
    `approval_pending` (an open refund request for the order; both audited), and refund_order's refusals
    (WeChatPayError: nothing kept)."""
    reason = clean(reason)
    if not reason:
        raise InvalidFields({"reason": "请填写退款原因"})
    if len(reason) > REASON_MAX:
        raise InvalidFields({"reason": f"退款原因最多{REASON_MAX}个字"})
    actor = f"staff:{staff_id}"
    order = lock_order(order_id)
    why = _not_refundable(order)
    if why:
        raise _refused(actor, order, Conflict(why, code="not_refundable"), ip)
    pending = pending_request(KIND, order.id)
    if pending is not None:
        raise _refused(actor, order, Conflict(f"该受理单已有待审批的退款申请（审批单 #{pending.id}），不能重复提交",
                                              code="approval_pending"), ip)
    before = {"status": order.status}
    if order.amount_fen <= threshold_fen():
        refund = refund_order(None, order.id, actor=actor, reason=reason)
        record_audit(actor, "order.staff_refund", target=f"order:{order.id}", ip=ip,
                     detail={"before": before, "after": {"status": order.status, "refund": refund.out_refund_no},
                             "amount_fen": order.amount_fen, "reason": reason})
        return refund
    channel = CHANNEL_LABELS.get(order.pay_channel, order.pay_channel or "")
    summary = (f"为受理单 {order.order_no}（{order.certificate.subject_o}，{order.kind_label}）退款 "
               f"{format_fen(order.amount_fen)} 元，退款方式：{channel}。退款原因：{reason}")
    payload = {"order_id": order.id, "order_no": order.order_no, "organisation": order.certificate.subject_o,
               "amount_fen": order.amount_fen, "channel": order.pay_channel, "status": order.status,
               "reason": reason}
    return submit(KIND, order.id, order_revision(order.id), summary, payload, REFUND_STEPS, actor, ip)


def refund_approved(request: ApprovalRequest) -> Refund:
    """The effect of an approved refund request: the refund, by whoever approved the last step, of the amount the
    approvers saw. Conflict when the order's amount is not that amount."""
    order = lock_order(request.object_id)
    if order.amount_fen != request.payload["amount_fen"]:
        raise Conflict("受理单金额与审批时不一致，不能退款", code="refund_amount_changed")
    return refund_order(None, order.id, actor=f"staff:{last_decider(request)}", reason=request.payload["reason"])


REFUND_APPROVAL = ApprovalKind(name=KIND, label="退款", object_type="order", lock=lock_order,
                               revision=order_revision, approved=refund_approved)
