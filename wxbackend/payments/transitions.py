"""The status machines of payments, refunds and bank statement lines (DESIGN §3, §9). Each table lists the moves
the payment code makes; nothing else assigns these statuses, and an illegal move raises and changes nothing."""

from __future__ import annotations

from wxbackend.core.states import IllegalTransition, StateMachine
from wxbackend.payments.bank_models import LINE_STATUS_LABELS, LineStatus
from wxbackend.payments.models import PAYMENT_STATUS_LABELS, REFUND_STATUS_LABELS, PaymentStatus, RefundStatus


class IllegalPaymentTransition(IllegalTransition):
    code = "illegal_payment_transition"


class IllegalRefundTransition(IllegalTransition):
    code = "illegal_refund_transition"


class IllegalLineTransition(IllegalTransition):
    code = "illegal_line_transition"


P = PaymentStatus
PAYMENT_STATES = StateMachine({
    P.PENDING: {P.PAID, P.MISMATCH, P.CLOSED},
    P.CLOSED: {P.PAID, P.MISMATCH},  # WeChat Pay confirms a payment made just before it was closed
    P.PAID: {P.REFUNDING, P.REFUNDED},  # a group's payment is refunded order by order and stays paid till the last
    P.REFUNDING: {P.REFUNDED},  # a refund that ended closed or abnormal leaves the payment refunding (staff act)
    P.REFUNDED: set(),
    P.MISMATCH: set(),  # staff decide, by hand
}, noun="支付记录", labels=PAYMENT_STATUS_LABELS, error=IllegalPaymentTransition)

R = RefundStatus
REFUND_STATES = StateMachine({
    R.PROCESSING: {R.SUCCESS, R.CLOSED, R.ABNORMAL},  # WeChat Pay's answer
    R.MANUAL: {R.SUCCESS},  # staff paid a corporate transfer back
    R.SUCCESS: set(),
    R.CLOSED: set(),
    R.ABNORMAL: set(),
}, noun="退款", labels=REFUND_STATUS_LABELS, error=IllegalRefundTransition)

LINE_STATES = StateMachine({
    LineStatus.NEW: {LineStatus.MATCHED, LineStatus.MANUAL},  # the matching job decides each line once
    LineStatus.MATCHED: set(),
    # finance staff resolve a manual line once: matched to an order by hand, or set aside
    LineStatus.MANUAL: {LineStatus.MATCHED, LineStatus.RETURNED, LineStatus.DISMISSED},
    LineStatus.RETURNED: set(),
    LineStatus.DISMISSED: set(),
}, noun="银行流水", labels=LINE_STATUS_LABELS, error=IllegalLineTransition)
