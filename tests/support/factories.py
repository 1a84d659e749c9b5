"""Small factories for service tests: a bound certificate, a verified user, an order waiting for payment."""

from __future__ import annotations

import secrets
from datetime import timedelta

from wxbackend.agreements import service as agreements
from wxbackend.certificates.models import Binding, CertApp, Certificate
from wxbackend.core.db import db
from wxbackend.core.times import utcnow
from wxbackend.orders.contacts import ContactsInput
from wxbackend.orders.models import Order
from wxbackend.orders.service import create_order
from wxbackend.users.models import User


def make_user(name: str = "张三", verified: bool = True, agreed: bool = True) -> User:
    """A user; `agreed`: who has accepted the current 电子认证服务协议 (as before a first order)."""
    user = User(openid=f"o{secrets.token_hex(8)}", nickname=name, identity_verified=verified)
    db.session.add(user)
    db.session.flush()
    if agreed:
        agreements.accept(user.id)
    return user


def make_certificate(organisation: str = "广州某某科技有限公司", expires_in_days: float = 60,
                     cert_type: str = "org_sign", apps: tuple[tuple[str, float], ...] = ()) -> Certificate:
    now = utcnow()
    certificate = Certificate(serial=secrets.token_hex(16).upper(), subject_o=organisation, subject_cn=organisation,
                              not_before=now - timedelta(days=300), not_after=now + timedelta(days=expires_in_days),
                              medium_number=secrets.token_hex(8), pem="-", cert_type=cert_type)
    for name, days in apps:
        certificate.apps.append(CertApp(name=name, expires_at=now + timedelta(days=days)))
    db.session.add(certificate)
    db.session.flush()
    return certificate


def bind(user: User, certificate: Certificate) -> None:
    db.session.add(Binding(user_id=user.id, certificate_id=certificate.id))
    db.session.flush()


def pending_order(years: int = 1, organisation: str = "广州某某科技有限公司", user: User | None = None) -> Order:
    """A verified user's online renewal order, 待支付 (300.00 元 per year for org_sign by default)."""
    user = user or make_user()
    certificate = make_certificate(organisation)
    bind(user, certificate)
    agreements.accept(user.id)
    return create_order(user.id, certificate.id, years)


OPERATOR_ID = "11010519491231002X"  # GB 11643's own example
CONTACTS = {"operator_id_type": "resident_id", "operator_id_number": OPERATOR_ID, "operator_name": "张三",
            "operator_mobile": "13812345678", "operator_email": "zhangsan@example.cn", "recipient_name": "李四",
            "recipient_mobile": "13900001111", "recipient_address": "广东省广州市天河区体育西路100号"}


def contacts_json(**changes) -> dict:
    """经办人/收件人 as the API takes them (`contacts` of POST /api/orders); the H5 form posts the same names."""
    return {**CONTACTS, **changes}


def contacts(**changes) -> ContactsInput:
    return ContactsInput(**contacts_json(**changes))
