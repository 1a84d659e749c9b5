"""A replacement order in 制证中 made directly (the lost-key flow before it is not on this branch): a user, a bound
certificate, the Order (kind replacement, path reviewed, status making) recorded with `record_creation`, and an
address in 我的地址. The integrator replaces these with the real flow in the end-to-end test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from tests.support.factories import bind, make_certificate, make_user
from wxbackend.addresses import service as addresses
from wxbackend.addresses.models import Address
from wxbackend.addresses.service import AddressInput
from wxbackend.certificates.models import Certificate
from wxbackend.core.db import db
from wxbackend.orders import transitions
from wxbackend.orders.models import Order, OrderKind, OrderStatus, RenewalPath
from wxbackend.orders.service import new_order_no
from wxbackend.users.models import User

HOME = {"recipient": "李四", "mobile": "13912345678", "province": "广东省", "city": "深圳市", "district": "南山区",
        "detail": "科技园路8号某某大厦3楼", "postcode": "518000"}


@dataclass
class Replacement:
    user: User
    order: Order
    certificate: Certificate
    address: Address


def make_address(user_id: int, **overrides) -> Address:
    return addresses.create_address(user_id, AddressInput(**{**HOME, **overrides}))


def replacement_order(user: User | None = None, organisation: str = "深圳某某科技有限公司",
                      status: OrderStatus = OrderStatus.MAKING) -> Replacement:
    """A replacement order in `status` for a user bound to its (lost) certificate, and one address of theirs."""
    user = user or make_user()
    certificate = make_certificate(organisation)
    bind(user, certificate)
    order = Order(order_no=new_order_no(), user_id=user.id, certificate_id=certificate.id, kind=OrderKind.REPLACEMENT,
                  path=RenewalPath.REVIEWED, years=1, amount_fen=20000, fee_detail="补办介质 200.00元（含介质费）",
                  status=status, old_not_after=certificate.not_after, new_not_after=certificate.not_after)
    db.session.add(order)
    transitions.record_creation(order, f"user:{user.id}", "介质遗失补办")
    db.session.flush()
    return Replacement(user, order, certificate, make_address(user.id))


def key_made(order: Order) -> Certificate:
    """What counter personalisation leaves: the new certificate on the order (the order stays 制证中)."""
    new = make_certificate(order.certificate.subject_o)
    order.new_certificate_id = new.id
    db.session.flush()
    return new


def user_named(name: str) -> User:
    """The user the development sign-in (`tests.support.flows.sign_in`) made for `name`."""
    return db.session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))


def queried_long_ago(shipment, minutes: int = 31) -> None:
    """As if the carrier was last asked `minutes` ago (the 30-minute rule without waiting)."""
    shipment.last_queried_at = shipment.last_queried_at - timedelta(minutes=minutes)
    db.session.flush()
