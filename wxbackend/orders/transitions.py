"""The order status machine (DESIGN §3): one table of legal moves. `move` is the only way a status changes, and
every change writes an `OrderEvent` (the user's progress timeline); an illegal move raises `IllegalTransition` and
changes nothing."""

from __future__ import annotations

from wxbackend.core import states
from wxbackend.core.db import db
from wxbackend.orders.models import GROUP_STATUS_LABELS, STATUS_LABELS, GroupStatus, Order, OrderEvent
from wxbackend.orders.models import OrderStatus as S

TRANSITIONS: dict[S, set[S]] = {
    S.DRAFT: {S.PENDING_PAYMENT, S.CANCELLED},
    S.PENDING_PAYMENT: {S.PAID, S.CANCELLED},
    S.PAID: {S.READY_TO_WRITE, S.PENDING_REVIEW, S.REFUNDING, S.COMPLETED},  # 应用续期: nothing to write
    S.PENDING_REVIEW: {S.APPROVED, S.REJECTED},
    S.APPROVED: {S.PENDING_FIN_VERIFICATION, S.READY_TO_WRITE, S.MAKING, S.REFUNDING},
    S.REJECTED: {S.DRAFT, S.REFUNDING, S.PENDING_REVIEW},  # resubmitted after correction: reviewed again
    S.PENDING_FIN_VERIFICATION: {S.READY_TO_WRITE, S.FIN_VERIFICATION_FAILED},
    S.FIN_VERIFICATION_FAILED: {S.PENDING_FIN_VERIFICATION},
    S.READY_TO_WRITE: {S.ISSUED, S.REFUNDING},  # the user may still cancel (refund) before writing
    S.ISSUED: {S.COMPLETED, S.READY_TO_WRITE},  # back when an issued certificate was voided (its key gone)
    S.MAKING: {S.SHIPPED},
    S.SHIPPED: {S.COMPLETED},
    S.REFUNDING: {S.REFUNDED},
    S.CANCELLED: set(),
    S.COMPLETED: set(),
    S.REFUNDED: set(),
}


class IllegalTransition(states.IllegalTransition):
    code = "illegal_transition"

    def __init__(self, order: Order, to: S):
        super().__init__(ORDER_STATES.message(order.status, to))


class _OrderStates(states.StateMachine[S]):
    """Refuses with `IllegalTransition(order, to)`, the error callers have always raised themselves."""

    def refusal(self, obj: Order, to: S) -> IllegalTransition:
        return IllegalTransition(obj, to)


ORDER_STATES = _OrderStates(TRANSITIONS, noun="受理单", labels=STATUS_LABELS)


def can_move(order: Order, to: S) -> bool:
    return ORDER_STATES.can_move(order, to)


def move(order: Order, to: S, actor: str, note: str = "") -> OrderEvent:
    """Change `order` to `to`, recording who did it; IllegalTransition (nothing changed) when the table has no
    such move."""
    previous = ORDER_STATES.move(order, to)
    event = OrderEvent(order=order, from_status=previous, to_status=to, actor=actor, note=note)
    db.session.add(event)
    db.session.flush()
    return event


def record_creation(order: Order, actor: str, note: str = "") -> OrderEvent:
    """The first event of a new order: created in its initial status."""
    event = OrderEvent(order=order, from_status=None, to_status=order.status, actor=actor, note=note)
    db.session.add(event)
    return event


class IllegalGroupTransition(states.IllegalTransition):
    code = "illegal_group_transition"


# 批量续期: the group is paid once, as a whole, or cancelled before that; afterwards each order goes its own way
GROUP_STATES = states.StateMachine({
    GroupStatus.PENDING_PAYMENT: {GroupStatus.PAID, GroupStatus.CANCELLED},
    GroupStatus.PAID: set(),
    GroupStatus.CANCELLED: set(),
}, noun="批量续期", labels=GROUP_STATUS_LABELS, error=IllegalGroupTransition)
