"""The unit of work at the edge (STYLE 3, issue "one house"): a refused request commits nothing it flushed, keeps
the audit rows of its refusal, and enqueues nothing; work asked for inside a request that fails never happens."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint
from rq import Queue

from tests.support.factories import bind, make_certificate
from tests.support.flows import run_jobs, sign_in
from tests.support.wechatpay import deliver
from wxbackend import create_app
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.audit.models import AuditLog
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict
from wxbackend.core.redis import get_redis
from wxbackend.notices.service import queue_notice
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.orders.service import create_order
from wxbackend.payments.models import Payment
from wxbackend.payments.service import start_wechat_payment
from wxbackend.users.models import User


def every_table(session) -> dict[str, list[tuple]]:
    """Every row of every table, as the database holds it now."""
    session.expire_all()
    return {table.name: sorted(map(tuple, session.execute(sa.select(table)).all()), key=repr)
            for table in db.metadata.sorted_tables}


def queued_jobs(app) -> int:
    return sum(Queue(name, connection=get_redis()).count for name in app.config["RQ_QUEUES"])


def test_an_h5_refusal_after_a_flush_leaves_every_table_as_it_was_and_enqueues_nothing(app, client, db_session,
                                                                                      wechatpay):
    csrf = sign_in(client, "张三")
    user = db_session.scalar(sa.select(User).where(User.openid == "dev-张三"))
    user.identity_verified = True
    certificate = make_certificate()
    bind(user, certificate)
    order = create_order(user.id, certificate.id, 1, agreement_version=SERVICE_AGREEMENT.version)
    start_wechat_payment(user.id, order.id, "jsapi")
    payment = db_session.scalar(sa.select(Payment).where(Payment.order_id == order.id))
    assert deliver(client, wechatpay.pay(payment.out_trade_no)).status_code == 204
    db_session.commit()
    run_jobs()  # the payment's notices are out of the way
    before, jobs_before = every_table(db_session), queued_jobs(app)
    assert db_session.get(Order, order.id).status == OrderStatus.READY_TO_WRITE

    # WeChat Pay refuses the refund after the service flushed 退款中, the refund row and the payment's status
    wechatpay.fail("/v3/refund/domestic/refunds", 500, "SYSTEM_ERROR")
    refused = client.post(f"/h5/orders/{order.id}/refund", data={"csrf_token": csrf})
    assert refused.status_code == 302 and refused.headers["Location"] == f"/h5/orders/{order.id}"
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 1  # the refusal came after the flush
    assert every_table(db_session) == before
    assert queued_jobs(app) == jobs_before == 0
    page = client.get(refused.headers["Location"]).text
    assert "外部服务暂时不可用" in page or "微信支付" in page  # the refusal is told to the user, in Chinese


def test_a_refusal_keeps_its_audit_row_and_nothing_else(client, db_session):
    """A wrong binding code is refused and audited: the audit row outlives the rollback."""
    csrf = sign_in(client, "李四")
    before = db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    client.post("/h5/bind", data={"csrf_token": csrf, "code": "12345678", "last4": "abcd"})
    db_session.expire_all()
    rows = db_session.scalars(sa.select(AuditLog).order_by(AuditLog.id)).all()[before:]
    assert [(r.action, r.result) for r in rows] == [("binding.claim", "unknown")]


def failing_app(app_config):
    """The real app with one more route that asks for a notice and a new row, then fails in the way named."""
    failing = create_app(app_config)
    probe = Blueprint("probe", __name__)

    @probe.post("/probe/<how>")
    def ask_then_fail(how: str):
        user = User(openid=f"oProbe-{how}")
        db.session.add(user)
        db.session.flush()
        queue_notice(user.id, "payment_received", {"order_no": "SA2026120200000001", "amount": "300.00"})
        if how == "refused":
            raise Conflict("状态已变化")
        raise RuntimeError("a bug after the notice was asked for")

    failing.register_blueprint(probe)
    return failing


def test_a_notice_asked_for_in_a_request_that_then_fails_is_never_sent(app_config, app, wechat):
    failing = failing_app(app_config)
    client = failing.test_client()
    bearer = {"Authorization": "Bearer probe"}  # a bearer-authenticated call needs no CSRF token
    assert client.post("/probe/refused", headers=bearer).status_code == 409
    assert client.post("/probe/crashed", headers=bearer).status_code == 500
    with failing.app_context():
        assert queued_jobs(failing) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)
                                 .where(User.openid.like("oProbe-%"))) == 0
        run_jobs()
    assert wechat.messages() == []
