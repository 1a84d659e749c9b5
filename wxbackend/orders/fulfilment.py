"""待制证/待寄出 (DESIGN §11, §15): replacement keys being made (制证中) and shipped (已寄出), for 制证 staff. The
reviewed lost-key flow adds the actions (write the key, ship it with a tracking number); today this only lists."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from wxbackend.core import keyset
from wxbackend.core.db import db
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.users.models import User

FULFILMENT_STATUSES = (OrderStatus.MAKING, OrderStatus.SHIPPED)


def fulfilment_count() -> int:
    """How many orders are being made or shipped (the console home's tile)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Order)
                             .where(Order.status.in_(FULFILMENT_STATUSES))) or 0


@dataclass(frozen=True)
class FulfilmentRow:
    order: Order
    user_name: str  # masked


def fulfilment_orders(status: str, cursor: str | None = None, size: int = keyset.PAGE_SIZE) -> keyset.Page:
    """One page of orders in `status` (制证中 or 已寄出; anything else is 制证中), oldest first, keyset-paged on
    the order id (the few orders in these states are found through `ix_orders_status`); rows are
    `FulfilmentRow`s, the user masked."""
    wanted = OrderStatus(status) if status in FULFILMENT_STATUSES else OrderStatus.MAKING
    found = keyset.page(sa.select(Order).where(Order.status == wanted), None, Order.id,
                        cursor, lambda order: (None, order.id), size=size)
    users = {user.id: user for user in db.session.scalars(
        sa.select(User).where(User.id.in_({order.user_id for order in found.rows})))} if found.rows else {}
    return keyset.Page([FulfilmentRow(order, users[order.user_id].masked_name if order.user_id in users else "**")
                        for order in found.rows], found.next_cursor)
