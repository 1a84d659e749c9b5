"""Paying 受理单 with WeChat Pay and paying them back (DESIGN §9).

- `start_wechat_payment` gives the phone what it needs to pay one of the user's orders, reusing a payment that can
  still be paid instead of opening a second one.
- `handle_notification` and the query job (`sync_wechat_payment`) both end in `apply_transaction`: each
  `out_trade_no` is processed once, under a Redis lock (one process at a time does the work) and the order's and
  payment's row locks (held until the caller commits, so a second copy sees the first one's result); mchid, appid
  and amount must fit the order, a transaction id pays one payment only, then `orders.service.mark_paid`.
- A 批量续期 group is paid by one payment (`start_group_wechat_payment`, `payments.group_id`): its notification
  pays every order of the group in one unit of work (`orders.service.mark_group_paid`); cancelling one order of it
  refunds that order's amount only, a partial refund of the group's one transaction.
- `refund_order` pays a paid order back through the channel that paid; `handle_refund_notification` (or
  `sync_refund`) finishes it; for a corporate transfer finance pays it back and records the bank's reference
  (`complete_manual_refund`, from the console's 退款 queue, `refund_queue`).

Services flush; the request or job commits. Lock order is always order row, then payment / refund row.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from redis.exceptions import LockError

from wxbackend.audit.service import record_audit
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.core.validation import InvalidFields
from wxbackend.integrations import wechatpay
from wxbackend.orders import transitions
from wxbackend.orders.models import GroupStatus, Order, OrderGroup, OrderStatus, PayChannel
from wxbackend.orders.service import lock_group, lock_order, mark_group_paid, mark_paid, user_group, user_order
from wxbackend.payments.bank_models import BankStatementLine, LineStatus
from wxbackend.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from wxbackend.payments.transitions import PAYMENT_STATES, REFUND_STATES
from wxbackend.staff.service import get_staff
from wxbackend.users.models import User

log = logging.getLogger(__name__)

VIAS = ("jsapi", "mini")  # the official account's H5 pages | the mini-program
PREPAY_LIFETIME = timedelta(minutes=120)  # WeChat Pay keeps a prepay_id for 2 hours
REUSE_MARGIN = timedelta(minutes=1)  # a payment about to expire is not handed out again
QUERY_AFTER = timedelta(minutes=5)  # the notification is late: ask
QUERY_WITHIN = timedelta(days=2)
LOCK_SECONDS, LOCK_WAIT_SECONDS = 30, 10
ACTOR = "wechatpay"


class PaymentBusy(DomainError):
    code, message, status = "payment_busy", "支付正在处理中，请稍后再试", 503


class UnknownPayment(DomainError):
    code, message, status = "unknown_payment", "没有找到该支付记录", 404


@contextmanager
def _processing(name: str) -> Iterator[None]:
    """One process at a time works on `name`; PaymentBusy when the lock does not come within 10 s (WeChat Pay
    sends the notification again, the job runs again)."""
    lock = get_redis().lock(f"payments:lock:{name}", timeout=LOCK_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS)
    if not lock.acquire():
        raise PaymentBusy()
    try:
        yield
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("payment lock %s expired before it was released", name)


def _locked(model: type, row_id: int) -> Any:
    return db.session.scalar(sa.select(model).where(model.id == row_id).with_for_update()
                             .execution_options(populate_existing=True))


def new_out_trade_no(order: Order) -> str:
    """Our reference for one payment attempt: the order number and 6 random characters (≤ 32, WeChat's limit)."""
    return f"{order.order_no}P{secrets.token_hex(3).upper()}"


# --- paying ---------------------------------------------------------------------------------------------------


def start_wechat_payment(user_id: int, order_id: int, via: str) -> dict[str, str]:
    """The parameters for `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` (via "jsapi", the official account's
    H5 pages) or `wx.requestPayment` (via "mini", the mini-program) to pay the user's own order, amount from the
    order. A payment of the same order by the same person and app that can still be paid is reused, so tapping
    twice never opens two. Raises NotFound (not the user's order), Conflict (not waiting for payment),
    DomainError `no_openid` (the user is not known to that app), WeChatPayUnavailable (merchant not configured),
    WeChatPayError (WeChat Pay refused or did not answer; nothing is kept then)."""
    if via not in VIAS:
        raise DomainError("不支持的支付方式", code="invalid_via")
    order = lock_order(user_order(user_id, order_id).id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise Conflict(f"受理单当前为“{order.status_label}”，无需支付", code="not_pending_payment")
    if order.group_id is not None:
        raise Conflict("该受理单属于批量续期，请在批量续期页面统一支付", code="in_group")
    appid, openid = _payer(user_id, via)
    return _prepaid(Payment.order_id == order.id, appid, openid, order.amount_fen,
                    dict(order_id=order.id, out_trade_no=new_out_trade_no(order)),
                    f"{order.kind_label} {order.order_no}", f"order {order.id} ({via})")


def _prepaid(whose: sa.ColumnElement[bool], appid: str, openid: str, amount_fen: int, keys: dict,
             description: str, what: str) -> dict[str, str]:
    """The pay parameters of a WeChat Pay payment of `amount_fen` by this payer in this app: the pending one that
    can still be paid (`whose` names the order or the group), else a new one (`keys`: its order or group and
    out_trade_no) prepaid now. WeChatPayError leaves nothing (the caller's unit of work rolls back)."""
    now = utcnow()
    payment = db.session.scalar(
        sa.select(Payment).where(whose, Payment.channel == PayChannel.WECHAT,
                                 Payment.status == PaymentStatus.PENDING, Payment.appid == appid,
                                 Payment.payer_openid == openid, Payment.amount_fen == amount_fen,
                                 Payment.prepay_id.is_not(None), Payment.expires_at > now + REUSE_MARGIN)
        .order_by(Payment.id.desc()).limit(1))
    if payment is None:
        minutes = min(max(current_app.config["WECHAT_PAY_EXPIRE_MINUTES"], 5),
                      int(PREPAY_LIFETIME.total_seconds()) // 60)
        payment = Payment(**keys, channel=PayChannel.WECHAT, amount_fen=amount_fen, status=PaymentStatus.PENDING,
                          appid=appid, payer_openid=openid, expires_at=now + timedelta(minutes=minutes))
        db.session.add(payment)
        db.session.flush()
        payment.prepay_id = wechatpay.create_jsapi_prepay(
            appid=appid, openid=openid, out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen,
            description=description, expires_at=payment.expires_at)
        db.session.flush()
        log.info("WeChat payment %s started for %s", payment.out_trade_no, what)
    return wechatpay.pay_parameters(appid, payment.prepay_id)


def _payer(user_id: int, via: str) -> tuple[str, str]:
    """The app and the user's openid in it that pay (WeChatPayUnavailable, DomainError `no_openid`)."""
    cfg = current_app.config
    user = db.session.get(User, user_id)
    appid, openid = (cfg["WECHAT_APP_ID"], user.openid) if via == "jsapi" else (cfg["WECHAT_MINI_APP_ID"],
                                                                               user.mp_openid)
    if not appid:
        raise wechatpay.WeChatPayUnavailable()
    wechatpay.client()  # WeChatPayUnavailable before anything is written
    if not openid:
        where = "公众号" if via == "jsapi" else "小程序"
        raise DomainError(f"请在微信{where}中打开后支付", code="no_openid")
    return appid, openid


def start_group_wechat_payment(user_id: int, group_id: int, via: str) -> dict[str, str]:
    """As `start_wechat_payment`, for a 批量续期 group: one WeChat Pay transaction (one out_trade_no) for the
    group's total. Raises NotFound (not the user's group), Conflict (not waiting for payment), and the errors of
    `start_wechat_payment`."""
    if via not in VIAS:
        raise DomainError("不支持的支付方式", code="invalid_via")
    group = lock_group(user_group(user_id, group_id).id)
    if group.status != GroupStatus.PENDING_PAYMENT:
        raise Conflict(f"批量续期当前为“{group.status_label}”，无需支付", code="not_pending_payment")
    appid, openid = _payer(user_id, via)
    return _prepaid(Payment.group_id == group.id, appid, openid, group.amount_fen,
                    dict(order_id=None, group_id=group.id,
                         out_trade_no=f"{group.group_no}P{secrets.token_hex(3).upper()}"),
                    f"批量续期 {group.group_no}（{len(group.orders)}个证书）", f"group {group.id} ({via})")


def handle_notification(headers: Mapping[str, str], body: bytes) -> None:
    """A payment notification POSTed by WeChat Pay. `wechatpay.open_notification` checks, in order, the signature
    headers, the serial (unknown: refused without a network call), the timestamp (±300 s), the RSA signature
    (SIGNTEST probes refused) and decrypts; then `apply_transaction`. Raises NotificationRefused (nothing used),
    UnknownPayment (not one of our out_trade_no), PaymentBusy. A notification that fits no order (mchid, appid,
    amount) is not refused — WeChat Pay would only send it again — but alerted and audited; the order stays
    unpaid."""
    notice = wechatpay.open_notification(headers, body)
    if notice.event_type != "TRANSACTION.SUCCESS" or notice.resource.get("trade_state") != "SUCCESS":
        log.info("WeChat Pay notification %s (%s) needs nothing", notice.id, notice.event_type)
        return
    apply_transaction(notice.resource, source="notification")


def apply_transaction(transaction: Mapping[str, Any], source: str) -> str:
    """Apply WeChat Pay's word that one of our payments succeeded (from a verified notification or a query):
    'paid', or why not ('already' processed, 'mismatch', 'duplicate_transaction', 'order_not_pending',
    'not_paid'). Runs once per out_trade_no: a copy arriving at the same time waits for the lock and then finds
    the payment no longer pending. UnknownPayment when out_trade_no is not ours; PaymentBusy."""
    out_trade_no = str(transaction.get("out_trade_no", ""))
    found = db.session.scalar(sa.select(Payment).where(Payment.out_trade_no == out_trade_no,
                                                       Payment.channel == PayChannel.WECHAT))
    if found is None:
        log.error("WeChat Pay reports out_trade_no %r which is not ours (%s)", out_trade_no[:32], source)
        raise UnknownPayment()
    if transaction.get("trade_state") != "SUCCESS":
        return "not_paid"
    if found.group_id is not None:
        return _apply_group_transaction(found, transaction, source)
    with _processing(f"wechat:{out_trade_no}"):
        order = lock_order(found.order_id)
        payment: Payment = _locked(Payment, found.id)
        if payment.status not in (PaymentStatus.PENDING, PaymentStatus.CLOSED):
            log.info("WeChat payment %s already processed (%s, %s)", out_trade_no, payment.status, source)
            return "already"
        problems = _mismatches(payment, order, transaction)
        if problems:
            PAYMENT_STATES.move(payment, PaymentStatus.MISMATCH)
            payment.notification = _summary(transaction, source)
            _alert("payment.mismatch", order, payment, problems, transaction)
            db.session.flush()
            return "mismatch"
        transaction_id = str(transaction.get("transaction_id", ""))
        holder = db.session.scalar(sa.select(Payment.out_trade_no).where(Payment.transaction_id == transaction_id,
                                                                         Payment.id != payment.id))
        if not transaction_id or holder is not None:
            PAYMENT_STATES.move(payment, PaymentStatus.MISMATCH)
            _alert("payment.duplicate_transaction", order, payment, [f"transaction_id already pays {holder}"],
                   transaction)
            db.session.flush()
            return "duplicate_transaction"
        _record_paid(payment, transaction_id, transaction, source)
        if not mark_paid(order.id, PayChannel.WECHAT, ACTOR, f"微信支付（交易单号{transaction_id}）"):
            _alert("payment.order_not_pending", order, payment,
                   [f"order is {order.status}, money received: refunded through WeChat Pay"], transaction)
            _refund_unwanted_payment(order, payment)
            return "order_not_pending"
        record_audit(ACTOR, "payment.paid", target=f"order:{order.id}",
                     detail={"out_trade_no": out_trade_no, "transaction_id": transaction_id,
                             "amount_fen": payment.amount_fen, "source": source})
        log.info("WeChat payment %s paid order %s (%s)", out_trade_no, order.id, source)
        return "paid"


def _record_paid(payment: Payment, transaction_id: str, transaction: Mapping[str, Any], source: str) -> None:
    """The payment (locked, its transaction checked) paid: WeChat Pay's transaction id, time and payer."""
    PAYMENT_STATES.move(payment, PaymentStatus.PAID)
    payment.transaction_id = transaction_id
    payment.paid_at = _parse_time(transaction.get("success_time")) or utcnow()
    payment.payer_openid = (transaction.get("payer") or {}).get("openid") or payment.payer_openid
    payment.notification = _summary(transaction, source)
    db.session.flush()


def _apply_group_transaction(found: Payment, transaction: Mapping[str, Any], source: str) -> str:
    """`apply_transaction` for a group's payment: the same checks against the group's total, then every order of
    the group paid at once (`mark_group_paid`). A group cancelled meanwhile has its money refunded, order by
    order."""
    out_trade_no = found.out_trade_no
    with _processing(f"wechat:{out_trade_no}"):
        group = lock_group(found.group_id)
        payment: Payment = _locked(Payment, found.id)
        if payment.status not in (PaymentStatus.PENDING, PaymentStatus.CLOSED):
            log.info("WeChat payment %s already processed (%s, %s)", out_trade_no, payment.status, source)
            return "already"
        problems = _mismatches(payment, group, transaction)
        transaction_id = str(transaction.get("transaction_id", ""))
        holder = db.session.scalar(sa.select(Payment.out_trade_no).where(Payment.transaction_id == transaction_id,
                                                                         Payment.id != payment.id))
        if not transaction_id or holder is not None:
            problems.append(f"transaction_id already pays {holder}")
        if problems:
            PAYMENT_STATES.move(payment, PaymentStatus.MISMATCH)
            payment.notification = _summary(transaction, source)
            _alert_group("payment.mismatch", group, payment, problems, transaction)
            db.session.flush()
            return "mismatch"
        _record_paid(payment, transaction_id, transaction, source)
        if not mark_group_paid(group.id, PayChannel.WECHAT, ACTOR, f"微信支付（批量续期，交易单号{transaction_id}）"):
            _alert_group("payment.order_not_pending", group, payment,
                         [f"group is {group.status}, money received: refunded through WeChat Pay"], transaction)
            for order in group.orders:
                _refund_unwanted_payment(order, payment, order.amount_fen)
            return "order_not_pending"
        record_audit(ACTOR, "payment.paid", target=f"group:{group.id}",
                     detail={"out_trade_no": out_trade_no, "transaction_id": transaction_id,
                             "amount_fen": payment.amount_fen, "orders": [order.id for order in group.orders],
                             "source": source})
        log.info("WeChat payment %s paid group %s (%s)", out_trade_no, group.id, source)
        return "paid"


def _alert_group(action: str, group: OrderGroup, payment: Payment, problems: list[str],
                 seen: Mapping[str, Any]) -> None:
    log.error("ALERT %s: group %s payment %s: %s", action, group.id, payment.out_trade_no, "; ".join(problems))
    record_audit(ACTOR, action, target=f"group:{group.id}", result="alert",
                 detail={"out_trade_no": payment.out_trade_no, "problems": problems,
                         "transaction_id": seen.get("transaction_id"), "amount": seen.get("amount")})


def _refund_no(payment: Payment, order: Order) -> str:
    """A refund's out_refund_no: the payment's with R (one refund of a single order's payment), and the order id
    for each order refunded out of a group's payment."""
    return f"{payment.out_trade_no}R{order.id}" if payment.group_id is not None else f"{payment.out_trade_no}R"


def _refund_unwanted_payment(order: Order, payment: Payment, amount_fen: int | None = None) -> None:
    """Money for an order no longer waiting for it (撤销 while its prepay was still open, then paid anyway): the
    whole payment goes back to the payer through WeChat Pay; the order keeps its status. If WeChat Pay cannot be
    asked now the refund stays processing and `sync_refund` asks again under the same out_refund_no. For a group's
    payment each order's `amount_fen` is refunded on its own and the payment stays paid until all of it is."""
    refund = Refund(order_id=order.id, payment_id=payment.id, channel=PayChannel.WECHAT,
                    out_refund_no=_refund_no(payment, order), amount_fen=amount_fen or payment.amount_fen,
                    status=RefundStatus.PROCESSING, reason="受理单已撤销", actor=ACTOR)
    if payment.group_id is None:
        PAYMENT_STATES.move(payment, PaymentStatus.REFUNDING)
    db.session.add(refund)
    db.session.flush()
    record_audit(ACTOR, "order.refund_requested", target=f"order:{order.id}",
                 detail={"out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen,
                         "channel": refund.channel, "reason": refund.reason})
    try:
        answer = wechatpay.request_refund(out_trade_no=payment.out_trade_no, out_refund_no=refund.out_refund_no,
                                          refund_fen=refund.amount_fen, total_fen=payment.amount_fen,
                                          reason=refund.reason)
    except (wechatpay.WeChatPayError, wechatpay.WeChatPayUnavailable) as error:
        log.error("ALERT refund %s could not be asked now (%s): the refund job asks again", refund.out_refund_no,
                  error)
        return
    refund.refund_id = answer.get("refund_id") or None
    db.session.flush()
    if answer.get("status") in ("SUCCESS", "CLOSED", "ABNORMAL"):
        _finish_refund(order, refund, answer["status"], answer, "refund")


def _mismatches(payment: Payment, order: Order | OrderGroup, transaction: Mapping[str, Any]) -> list[str]:
    cfg = current_app.config
    amount = transaction.get("amount") or {}
    problems = []
    if transaction.get("mchid") != cfg["WECHAT_PAY_MCH_ID"]:
        problems.append(f"mchid {transaction.get('mchid')!r} is not ours")
    if transaction.get("appid") != payment.appid:
        problems.append(f"appid {transaction.get('appid')!r}, payment was started for {payment.appid!r}")
    if amount.get("total") != payment.amount_fen or payment.amount_fen != order.amount_fen:
        problems.append(f"amount.total {amount.get('total')!r} fen, payment {payment.amount_fen}, "
                        f"order {order.amount_fen}")
    if amount.get("currency", "CNY") != "CNY":
        problems.append(f"currency {amount.get('currency')!r}")
    return problems


def _alert(action: str, order: Order, payment: Payment | None, problems: list[str],
           seen: Mapping[str, Any]) -> None:
    """Money or a refund that does not fit: logged at ERROR for whoever watches the logs, and audited."""
    out_trade_no = payment.out_trade_no if payment is not None else ""
    log.error("ALERT %s: order %s payment %s: %s", action, order.id, out_trade_no, "; ".join(problems))
    record_audit(ACTOR, action, target=f"order:{order.id}", result="alert",
                 detail={"out_trade_no": out_trade_no, "problems": problems,
                         "transaction_id": seen.get("transaction_id"), "amount": seen.get("amount")})


def _summary(transaction: Mapping[str, Any], source: str) -> dict:
    """What we keep of WeChat Pay's confirmation: no payer, no keys, no signature."""
    amount = transaction.get("amount") or {}
    return {"source": source, "trade_state": transaction.get("trade_state"),
            "trade_type": transaction.get("trade_type"), "bank_type": transaction.get("bank_type"),
            "success_time": transaction.get("success_time"), "transaction_id": transaction.get("transaction_id"),
            "amount": {key: amount.get(key) for key in ("total", "payer_total", "currency") if key in amount}}


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def unconfirmed_payment_ids(now: datetime | None = None) -> list[int]:
    """WeChat payments still pending 5 minutes after they started (and started within 2 days): the query job's
    work list."""
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(Payment.id).where(Payment.channel == PayChannel.WECHAT, Payment.status == PaymentStatus.PENDING,
                                    Payment.created_at < now - QUERY_AFTER, Payment.created_at > now - QUERY_WITHIN)
        .order_by(Payment.id)))


def sync_wechat_payment(payment_id: int) -> str:
    """Ask WeChat Pay about a pending payment whose notification has not come. SUCCESS is applied exactly as a
    notification would be (`apply_transaction`); a payment past its expiry that was not paid is closed at WeChat
    Pay and here ('closed'); otherwise 'pending'. A payment no longer pending is left alone ('skipped'), so
    running this twice is harmless. WeChatPayError when WeChat Pay does not answer (the job is retried)."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.channel != PayChannel.WECHAT or payment.status != PaymentStatus.PENDING:
        return "skipped"
    transaction = wechatpay.query_transaction(payment.out_trade_no)
    state = transaction.get("trade_state") if transaction else "NOT_FOUND"
    if state == "SUCCESS":
        return apply_transaction(transaction, source="query")
    if state == "REFUND":  # paid, then refunded at WeChat Pay by someone other than us
        log.error("ALERT WeChat payment %s was paid and refunded outside this system", payment.out_trade_no)
    expired = payment.expires_at is None or payment.expires_at <= utcnow()
    if state in ("CLOSED", "REVOKED", "PAYERROR") or (expired and state in ("NOTPAY", "NOT_FOUND")):
        if state == "NOTPAY":
            try:
                wechatpay.close_transaction(payment.out_trade_no)
            except wechatpay.WeChatPayError as refused:
                if refused.wx_code != "ORDERPAID":
                    raise
                paid = wechatpay.query_transaction(payment.out_trade_no)  # paid in the last second
                return apply_transaction(paid, source="query") if paid else "pending"
        return _close(payment.id, state)
    return "pending"


def _close(payment_id: int, state: str) -> str:
    payment = db.session.get(Payment, payment_id)
    with _processing(f"wechat:{payment.out_trade_no}"):
        if payment.group_id is not None:
            lock_group(payment.group_id)
        else:
            lock_order(payment.order_id)
        payment = _locked(Payment, payment_id)
        if payment.status != PaymentStatus.PENDING:
            return "skipped"
        PAYMENT_STATES.move(payment, PaymentStatus.CLOSED)
        payment.notification = {"source": "query", "trade_state": state}
        db.session.flush()
        log.info("WeChat payment %s closed (%s)", payment.out_trade_no, state)
        return "closed"


# --- refunds --------------------------------------------------------------------------------------------------


def refund_order(user_id: int | None, order_id: int, actor: str, reason: str) -> Refund:
    """Pay a paid order back through the channel that paid it — on rejection, or on cancellation after payment
    (`user_id` given: only the user's own order). The order moves to 退款中 and a Refund is recorded: for WeChat
    Pay the whole amount is asked back to the payer (the result comes by `handle_refund_notification` or
    `sync_refund`); for a corporate transfer staff pay it back (status manual, `complete_manual_refund`).
    Raises NotFound, IllegalTransition (the order's status allows no refund: only 已支付, 待制证, 审核通过 and 未通过
    do), Conflict `no_payment`, WeChatPayError (nothing is kept then: the caller's transaction rolls back; asking
    again reuses the same out_refund_no, so WeChat Pay never refunds twice)."""
    if user_id is not None:
        order_id = user_order(user_id, order_id).id
    order = lock_order(order_id)
    transitions.ORDER_STATES.check(order, OrderStatus.REFUNDING)
    reason = (reason or "").strip()[:80]
    paid_by = Payment.group_id == order.group_id if order.group_id is not None else Payment.order_id == order.id
    payment = db.session.scalar(
        sa.select(Payment).where(paid_by, Payment.status == PaymentStatus.PAID)
        .order_by(Payment.id.desc()).limit(1).with_for_update().execution_options(populate_existing=True))
    if payment is not None and payment.channel == PayChannel.WECHAT:
        transitions.move(order, OrderStatus.REFUNDING, actor, f"申请退款：{reason}" if reason else "申请退款")
        # a group's payment: this order's amount only, out of the group's one transaction (the others stay paid)
        refund = Refund(order_id=order.id, payment_id=payment.id, channel=PayChannel.WECHAT,
                        out_refund_no=_refund_no(payment, order),
                        amount_fen=order.amount_fen if payment.group_id is not None else payment.amount_fen,
                        status=RefundStatus.PROCESSING, reason=reason, actor=actor)
        if payment.group_id is None:
            PAYMENT_STATES.move(payment, PaymentStatus.REFUNDING)
        db.session.add(refund)
        db.session.flush()
        answer = wechatpay.request_refund(out_trade_no=payment.out_trade_no, out_refund_no=refund.out_refund_no,
                                          refund_fen=refund.amount_fen, total_fen=payment.amount_fen,
                                          reason=reason or "受理单退款")
        refund.refund_id = answer.get("refund_id") or None
        record_audit(actor, "order.refund_requested", target=f"order:{order.id}",
                     detail={"out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen,
                             "channel": refund.channel, "reason": reason})
        db.session.flush()
        if answer.get("status") in ("SUCCESS", "CLOSED", "ABNORMAL"):
            _finish_refund(order, refund, answer["status"], answer, "refund")
        return refund
    if order.pay_channel == PayChannel.TRANSFER and order.paid_at is not None:
        transitions.move(order, OrderStatus.REFUNDING, actor, "申请退款，将通过银行转账退回付款账户")
        refund = Refund(order_id=order.id, payment_id=None, channel=PayChannel.TRANSFER,
                        out_refund_no=f"{order.order_no}R", amount_fen=order.amount_fen,
                        status=RefundStatus.MANUAL, reason=reason, actor=actor)
        db.session.add(refund)
        record_audit(actor, "order.refund_requested", target=f"order:{order.id}",
                     detail={"out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen,
                             "channel": refund.channel, "reason": reason})
        db.session.flush()
        log.info("order %s paid by transfer: refund %s waits for staff", order.id, refund.out_refund_no)
        return refund
    raise Conflict("没有找到该受理单的支付记录，无法退款", code="no_payment")


def handle_refund_notification(headers: Mapping[str, str], body: bytes) -> None:
    """A refund notification POSTed by WeChat Pay: the same checks as `handle_notification`, then mchid, then
    `apply_refund`. Raises NotificationRefused, UnknownPayment (not one of our out_refund_no), PaymentBusy."""
    notice = wechatpay.open_notification(headers, body)
    resource = notice.resource
    if resource.get("mchid") != current_app.config["WECHAT_PAY_MCH_ID"]:
        log.error("ALERT refund notification for mchid %r which is not ours", resource.get("mchid"))
        raise wechatpay.NotificationRefused("商户号不符", code="wrong_mchid", status=400)
    apply_refund(resource, source="notification")


def apply_refund(resource: Mapping[str, Any], source: str) -> str:
    """Apply WeChat Pay's word on one of our refunds (notification or query): SUCCESS makes the order 已退款;
    CLOSED / ABNORMAL are alerted for staff and the order stays 退款中; PROCESSING changes nothing. Runs once
    per out_refund_no. UnknownPayment when it is not ours; PaymentBusy."""
    out_refund_no = str(resource.get("out_refund_no", ""))
    found = db.session.scalar(sa.select(Refund).where(Refund.out_refund_no == out_refund_no,
                                                      Refund.channel == PayChannel.WECHAT))
    if found is None:
        log.error("WeChat Pay reports out_refund_no %r which is not ours (%s)", out_refund_no[:64], source)
        raise UnknownPayment("没有找到该退款记录")
    status = resource.get("refund_status") or resource.get("status")
    if status not in ("SUCCESS", "CLOSED", "ABNORMAL"):
        return "processing"
    with _processing(f"refund:{out_refund_no}"):
        order = lock_order(found.order_id)
        refund: Refund = _locked(Refund, found.id)
        if refund.status != RefundStatus.PROCESSING:
            return "already"
        return _finish_refund(order, refund, status, resource, source)


def _finish_refund(order: Order, refund: Refund, status: str, resource: Mapping[str, Any], source: str) -> str:
    refund.refund_id = refund.refund_id or resource.get("refund_id") or None
    refunded = (resource.get("amount") or {}).get("refund", refund.amount_fen)
    if status == "SUCCESS" and refunded == refund.amount_fen:
        REFUND_STATES.move(refund, RefundStatus.SUCCESS)
        refund.done_at = _parse_time(resource.get("success_time")) or utcnow()
        if refund.payment is not None and _refunded_in_full(refund.payment):
            PAYMENT_STATES.move(refund.payment, PaymentStatus.REFUNDED)
        if order.status == OrderStatus.REFUNDING:  # not for money refunded on a cancelled order, which stays so
            transitions.move(order, OrderStatus.REFUNDED, ACTOR, "退款已原路退回")
        record_audit(ACTOR, "order.refunded", target=f"order:{order.id}",
                     detail={"out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen,
                             "source": source})
        db.session.flush()
        return "refunded"
    if status == "SUCCESS":
        problems = [f"refunded {refunded!r} fen, asked {refund.amount_fen}"]
    else:
        REFUND_STATES.move(refund, RefundStatus(status.lower()))
        refund.done_at = utcnow()
        problems = [f"refund {refund.out_refund_no} ended {status}: pay back by hand"]
    _alert("refund.failed", order, refund.payment, problems, resource)
    db.session.flush()
    return status.lower()


def _refunded_in_full(payment: Payment) -> bool:
    """A single order's payment is refunded in full by its one refund; a group's payment once its refunds that
    succeeded add up to its amount."""
    if payment.group_id is None:
        return True
    _locked(Payment, payment.id)  # two orders' refunds finishing at once: the second counts the first
    refunded = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_fen), 0)).where(
        Refund.payment_id == payment.id, Refund.status == RefundStatus.SUCCESS))
    return refunded >= payment.amount_fen


def unconfirmed_refund_ids(now: datetime | None = None) -> list[int]:
    """WeChat refunds still processing 5 minutes after they were asked (and asked within 2 days)."""
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(Refund.id).where(Refund.channel == PayChannel.WECHAT, Refund.status == RefundStatus.PROCESSING,
                                   Refund.created_at < now - QUERY_AFTER, Refund.created_at > now - QUERY_WITHIN)
        .order_by(Refund.id)))


def sync_refund(refund_id: int) -> str:
    """Ask WeChat Pay about a refund whose notification has not come and apply the answer as a notification
    would be ('skipped' when the refund is no longer processing). A refund WeChat Pay does not know (the ask
    was lost) is asked again under the same out_refund_no, which WeChat Pay never pays twice."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.channel != PayChannel.WECHAT or refund.status != RefundStatus.PROCESSING:
        return "skipped"
    answer = wechatpay.query_refund(refund.out_refund_no)
    if answer is None:
        log.warning("refund %s unknown to WeChat Pay: asking again", refund.out_refund_no)
        answer = wechatpay.request_refund(out_trade_no=refund.payment.out_trade_no,
                                          out_refund_no=refund.out_refund_no, refund_fen=refund.amount_fen,
                                          total_fen=refund.payment.amount_fen, reason=refund.reason or "受理单退款")
    return apply_refund(answer, source="query")


BANK_REFERENCE_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z/_-]{3,63}")


def complete_manual_refund(staff_id: int, refund_id: int, bank_reference: str, ip: str = "") -> Refund:
    """Finance paid a corporate transfer back by bank transfer: the refund succeeded with the bank's reference of
    that transfer (`bank_reference`, 4–64 letters, digits, `-`, `_` or `/`; one transfer pays back one refund) and
    the order moves 退款中 → 已退款 (the user sees it on the order's timeline; there is no notice kind for refunds).
    Raises InvalidFields (reference missing or malformed), NotFound, Conflict `not_manual_refund` (not waiting
    for staff, e.g. completed before), Conflict `bank_reference_used`; nothing changes then. Audited."""
    reference = "".join((bank_reference or "").split())
    if not reference:
        raise InvalidFields({"bank_reference": "请填写退款转账的银行交易流水号"})
    if not BANK_REFERENCE_RE.fullmatch(reference):
        raise InvalidFields({"bank_reference": "银行交易流水号应为4至64位字母、数字或 - _ /"})
    found = db.session.get(Refund, refund_id)
    if found is None:
        raise NotFound("没有找到该退款记录")
    order = lock_order(found.order_id)
    refund: Refund = _locked(Refund, refund_id)
    if refund.status != RefundStatus.MANUAL:
        raise Conflict(f"该退款当前为“{refund.status_label}”，不是待人工退款状态", code="not_manual_refund")
    used = db.session.scalar(sa.select(Refund.out_refund_no).where(Refund.bank_reference == reference))
    if used is not None:
        raise Conflict(f"银行交易流水号{reference}已用于退款{used}，请核对", code="bank_reference_used")
    actor = f"staff:{staff_id}"
    before = {"refund_status": refund.status, "order_status": order.status}
    REFUND_STATES.move(refund, RefundStatus.SUCCESS)
    refund.done_at, refund.bank_reference, refund.done_by = utcnow(), reference, actor
    transitions.move(order, OrderStatus.REFUNDED, actor, "退款已转账退回付款账户")
    record_audit(actor, "order.refunded", target=f"order:{order.id}", ip=ip,
                 detail={"before": before, "after": {"refund_status": refund.status, "order_status": order.status},
                         "out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen,
                         "channel": refund.channel, "bank_reference": reference})
    db.session.flush()
    return refund


# --- the console's 退款 queue --------------------------------------------------------------------------------

REFUND_PAGE_SIZE = 50
REFUND_TABS = ("manual", "wechat", "done")


@dataclass(frozen=True)
class RefundRow:
    """A refund as the finance queue shows it: who paid (for a transfer: the statement line that paid the order,
    account masked) and who asked for the refund."""

    refund: Refund
    payer_name: str
    payer_account_masked: str
    bank_txn_id: str
    requested_by: str


@dataclass(frozen=True)
class RefundPage:
    rows: list[RefundRow]
    after: int | None  # the last refund id shown, when another page follows


def actor_label(actor: str) -> str:
    """Who an actor string names, for staff eyes: 用户本人, a staff member's name, or the system."""
    kind, _, ident = (actor or "").partition(":")
    if kind == "user":
        return "用户本人"
    if kind == "staff" and ident.isdigit():
        staff = get_staff(int(ident))
        return f"员工 {staff.display_name}" if staff is not None else f"员工 #{ident}"
    return {"system": "系统", ACTOR: "微信支付", "bank": "银行流水匹配", "cli": "命令行"}.get(actor, actor or "—")


def refund_queue(tab: str, after: int | None = None, limit: int = REFUND_PAGE_SIZE) -> RefundPage:
    """One page of refunds, keyset-paged by id: `manual` — corporate transfers waiting for finance to pay them
    back, oldest first; `wechat` — WeChat Pay refunds whose order is still 退款中 (processing, or ended closed or
    abnormal: staff act), oldest first; `done` — corporate-transfer refunds finance completed, newest first.
    Reads only."""
    query = sa.select(Refund).join(Order, Order.id == Refund.order_id)
    descending = tab == "done"
    if tab == "wechat":
        query = query.where(Refund.channel == PayChannel.WECHAT, Refund.status != RefundStatus.SUCCESS,
                            Order.status == OrderStatus.REFUNDING)
    elif tab == "done":
        query = query.where(Refund.channel == PayChannel.TRANSFER, Refund.status == RefundStatus.SUCCESS)
    else:
        query = query.where(Refund.status == RefundStatus.MANUAL)
    if after is not None:
        query = query.where(Refund.id < after if descending else Refund.id > after)
    found = list(db.session.scalars(query.order_by(Refund.id.desc() if descending else Refund.id).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    payers, group_payers = {}, {}
    transfer_orders = [refund.order_id for refund in found if refund.channel == PayChannel.TRANSFER]
    if transfer_orders:
        payers = {line.order_id: line for line in db.session.scalars(
            sa.select(BankStatementLine).where(BankStatementLine.order_id.in_(transfer_orders),
                                               BankStatementLine.status == LineStatus.MATCHED))}
        groups = {refund.order.group_id for refund in found
                  if refund.channel == PayChannel.TRANSFER and refund.order.group_id is not None}
        if groups:  # 批量续期: the one line that paid the group paid this order too
            group_payers = {line.group_id: line for line in db.session.scalars(
                sa.select(BankStatementLine).where(BankStatementLine.group_id.in_(groups),
                                                   BankStatementLine.status == LineStatus.MATCHED))}
    rows = []
    for refund in found:
        line = payers.get(refund.order_id) or group_payers.get(refund.order.group_id)
        rows.append(RefundRow(refund, line.payer_name if line else "", line.payer_account_masked if line else "",
                              line.bank_txn_id if line else "", actor_label(refund.actor)))
    return RefundPage(rows, found[-1].id if more and found else None)


def manual_refund_count() -> int:
    """How many corporate-transfer refunds wait for finance (the console home's tile)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Refund)
                             .where(Refund.status == RefundStatus.MANUAL))
