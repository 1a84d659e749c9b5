"""A replacement order in 制证中 for the counter's tests (the integrator's end-to-end test replaces it with the real
flow): a user bound to a certificate issued by the test CA (on a demo key, then the key 'lost': its token deleted),
the loss reported and confirmed (the certificate revoked), the order paid, and its application's materials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.support.applications import materials
from tests.support.factories import bind, make_user
from wxbackend.applications import materials as application_materials
from wxbackend.applications.models import Application, ApplicationKind, ApplicationRevision
from wxbackend.certificates import revocation
from wxbackend.certificates.models import CertApp, Certificate
from wxbackend.core.db import db
from wxbackend.core.times import utcnow
from wxbackend.demo.service import make_demo_key
from wxbackend.orders.models import Order, OrderKind, OrderStatus, RenewalPath
from wxbackend.orders.transitions import record_creation
from wxbackend.users.models import User

BLANK_PIN = "11223344"  # the blank key's initial user PIN, as the vendor ships it
ORGANISATION = "深圳某某科技有限公司"


@dataclass
class Replacement:
    user: User
    old: Certificate
    order: Order


def replacement_order(softhsm_store, pay_channel: str = "wechat", **material_changes) -> Replacement:
    user = make_user("张三")
    key = make_demo_key(organisation=ORGANISATION, expires_in_days=200, email="it@example.cn",
                        credit_code="91350100M000100Y43", label="LOST UKEY")
    old = key.certificate
    old.apps.append(CertApp(name="深圳公共资源交易中心", expires_at=old.not_after))
    bind(user, old)
    softhsm_store.delete_token(key.serial)  # the key is lost
    revocation.report_lost(user.id, old.id)
    revocation.confirm_lost(old.id, "staff:test")
    now = utcnow()
    order = Order(order_no="R" + secrets.token_hex(6).upper(), user_id=user.id, certificate_id=old.id,
                  kind=OrderKind.REPLACEMENT, path=RenewalPath.REVIEWED, years=0, amount_fen=10000,
                  fee_detail="补办介质 100.00元", status=OrderStatus.MAKING, old_not_after=old.not_after,
                  new_not_after=old.not_after, pay_channel=pay_channel, paid_at=now)
    db.session.add(order)
    record_creation(order, "test")
    db.session.flush()
    data = application_materials.check(materials(org_name=ORGANISATION, bank_account_name=ORGANISATION,
                                                 **material_changes), ORGANISATION)
    plain, secret = application_materials.seal(data)
    application = Application(application_no="A" + secrets.token_hex(6).upper(), kind=ApplicationKind.REPLACEMENT,
                              user_id=user.id, certificate_id=old.id, order_id=order.id, revision=1)
    db.session.add(application)
    db.session.add(ApplicationRevision(application=application, number=1, fields=plain, sensitive_enc=secret,
                                       created_at=now, updated_at=now, submitted_at=now))
    db.session.commit()
    return Replacement(user, old, order)
