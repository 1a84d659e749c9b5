"""WeChat Pay (DESIGN §9) against the fake gateway on 127.0.0.1, real PostgreSQL and Redis: paying from the H5 page
and the mini-program, notifications as WeChat Pay sends them (and as an attacker might), the query job, refunds."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from rq import Queue

from tests.support.factories import make_user, pending_order
from tests.support.flows import run_jobs, sign_in
from tests.support.wechatpay import NOTIFY_PATH, REFUND_NOTIFY_PATH, FakeWeChatPay, deliver, pay_sign_verifies
from wxbackend.audit.models import AuditLog
from wxbackend.core.db import db
from wxbackend.core.errors import NotFound
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.orders.models import Order, OrderEvent, OrderStatus
from wxbackend.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from wxbackend.payments.service import refund_order, start_wechat_payment
from wxbackend.users.models import User
from wxbackend.web.auth import issue_api_token

JSAPI = "POST /v3/pay/transactions/jsapi"


@pytest.fixture
def pay_logs(caplog, monkeypatch):
    """caplog for the payments loggers. The session app's `flask_migrate.upgrade()` runs migrations/env.py, whose
    `fileConfig` disables every logger that existed before it (ours among them), so they are switched back on."""
    for name in ("wxbackend.payments.service", "wxbackend.integrations.wechatpay"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    return caplog


def bearer(user_id: int) -> dict:
    return {"Authorization": f"Bearer {issue_api_token(user_id)[0]}"}


def payments_of(db_session, order: Order) -> list[Payment]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(Payment).where(Payment.order_id == order.id).order_by(Payment.id)))


def started(db_session, order: Order, via: str = "jsapi") -> Payment:
    """The order's WeChat payment, started as the H5 page would."""
    start_wechat_payment(order.user_id, order.id, via)
    return payments_of(db_session, order)[-1]


def status_of(db_session, order: Order) -> str:
    db_session.expire_all()
    return db_session.get(Order, order.id).status


def events_of(db_session, order: Order) -> list[tuple[str | None, str]]:
    db_session.expire_all()
    return [(e.from_status, e.to_status) for e in db_session.scalars(
        sa.select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id))]


def audits(db_session, action: str) -> list[AuditLog]:
    return list(db_session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


# --- starting a payment ---------------------------------------------------------------------------------------


def test_h5_page_gets_jsapi_parameters_signed_by_the_merchant_key(client, wechatpay, db_session, app):
    csrf = sign_in(client, "张三")
    owner = db_session.scalar(sa.select(User).where(User.openid == "dev-张三"))
    owner.identity_verified = True
    order = pending_order(user=owner)

    response = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"},
                           headers={"X-CSRFToken": csrf})
    assert response.status_code == 200, response.json
    params = response.json
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == app.config["WECHAT_APP_ID"] and params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=wx")
    assert pay_sign_verifies(params, wechatpay.merchant_public_key_pem)
    assert not pay_sign_verifies({**params, "package": "prepay_id=wx-other"}, wechatpay.merchant_public_key_pem)

    [payment] = payments_of(db_session, order)
    assert (payment.status, payment.amount_fen, payment.payer_openid) == ("pending", 30000, "dev-张三")
    at_gateway = wechatpay.transaction(payment.out_trade_no)
    assert (at_gateway["total"], at_gateway["openid"], at_gateway["appid"]) == (30000, "dev-张三", params["appId"])
    assert at_gateway["notify_url"] == app.config["PUBLIC_BASE_URL"] + NOTIFY_PATH

    again = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"}, headers={"X-CSRFToken": csrf})
    assert again.json["package"] == params["package"]  # the open prepay is reused, not a second order
    assert len(payments_of(db_session, order)) == 1 and wechatpay.calls()[JSAPI] == 1


def test_mini_program_pays_with_its_own_appid_and_openid(client, wechatpay, db_session, app):
    order = pending_order()
    db_session.get(User, order.user_id).mp_openid = "oMiniPayer0001"
    db_session.flush()
    response = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "mini"}, headers=bearer(order.user_id))
    assert response.status_code == 200, response.json
    assert response.json["appId"] == app.config["WECHAT_MINI_APP_ID"]
    assert pay_sign_verifies(response.json, wechatpay.merchant_public_key_pem)
    [payment] = payments_of(db_session, order)
    assert wechatpay.transaction(payment.out_trade_no)["openid"] == "oMiniPayer0001"
    # the same order from the H5 page is a different payer identity: its own prepay
    client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"}, headers=bearer(order.user_id))
    assert len(payments_of(db_session, order)) == 2


def test_user_b_cannot_pay_user_a_order(client, wechatpay, db_session):
    order = pending_order()
    other = make_user("李四")
    response = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"}, headers=bearer(other.id))
    assert response.status_code == 404 and response.json["code"] == "not_found"
    assert payments_of(db_session, order) == [] and wechatpay.api_calls() == 0


def test_bad_via_and_paid_orders_are_refused(client, wechatpay, db_session):
    order = pending_order()
    bad = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "app"}, headers=bearer(order.user_id))
    assert bad.status_code == 400
    pay_and_deliver(client, wechatpay, db_session, order)
    paid = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"}, headers=bearer(order.user_id))
    assert paid.status_code == 409 and paid.json["code"] == "not_pending_payment"


def test_gateway_failure_is_502_and_keeps_nothing(client, wechatpay, db_session):
    order = pending_order()
    wechatpay.fail("/v3/pay/transactions/jsapi", 500, "SYSTEM_ERROR")
    response = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"}, headers=bearer(order.user_id))
    assert response.status_code == 502 and response.json["code"] == "upstream_error"
    assert payments_of(db_session, order) == []


# --- notifications --------------------------------------------------------------------------------------------


def pay_and_deliver(client, wechatpay, db_session, order: Order):
    payment = started(db_session, order)
    response = deliver(client, wechatpay.pay(payment.out_trade_no))
    assert response.status_code == 204, response.data
    return payment


def test_correct_notification_pays_the_order_once_and_tells_the_user(client, wechatpay, db_session):
    order = pending_order()
    payment = started(db_session, order)
    notices = Queue("notices", connection=get_redis())
    before = notices.count
    response = deliver(client, wechatpay.pay(payment.out_trade_no))
    assert response.status_code == 204 and response.data == b""
    assert status_of(db_session, order) == OrderStatus.READY_TO_WRITE
    [payment] = payments_of(db_session, order)
    assert payment.status == PaymentStatus.PAID and payment.transaction_id.startswith("4200")
    assert payment.notification["amount"] == {"total": 30000, "payer_total": 30000, "currency": "CNY"}
    assert db_session.get(Order, order.id).pay_channel == "wechat"
    assert notices.count == before + 2  # 缴费成功 and 证书可以写入
    assert events_of(db_session, order)[-2:] == [("pending_payment", "paid"), ("paid", "ready_to_write")]
    assert len(audits(db_session, "payment.paid")) == 1


def test_replayed_notification_changes_nothing(client, wechatpay, db_session):
    order = pending_order()
    payment = started(db_session, order)
    note = wechatpay.pay(payment.out_trade_no)
    assert deliver(client, note).status_code == 204
    events = events_of(db_session, order)
    notices = Queue("notices", connection=get_redis()).count
    assert deliver(client, note).status_code == 204  # acknowledged, so WeChat Pay stops sending it
    assert events_of(db_session, order) == events
    assert [p.status for p in payments_of(db_session, order)] == ["paid"]
    assert Queue("notices", connection=get_redis()).count == notices
    assert len(audits(db_session, "payment.paid")) == 1


def test_amount_that_does_not_fit_leaves_the_order_unpaid_and_alerts(client, wechatpay, db_session, pay_logs):
    order = pending_order()
    payment = started(db_session, order)
    note = wechatpay.pay(payment.out_trade_no, resource={"amount": {"total": 1, "payer_total": 1}})
    with pay_logs.at_level(logging.ERROR, logger="wxbackend.payments.service"):
        assert deliver(client, note).status_code == 204
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT
    assert [p.status for p in payments_of(db_session, order)] == [PaymentStatus.MISMATCH]
    alerts = [r for r in pay_logs.records if r.levelno == logging.ERROR and "payment.mismatch" in r.getMessage()]
    assert len(alerts) == 1 and "amount.total 1" in alerts[0].getMessage()
    [audit] = audits(db_session, "payment.mismatch")
    assert audit.result == "alert" and audit.target == f"order:{order.id}"
    assert audits(db_session, "payment.paid") == []


@pytest.mark.parametrize("resource", [{"mchid": "1900000999"}, {"appid": "wx0000000000000000"}])
def test_mchid_or_appid_that_does_not_fit_leaves_the_order_unpaid(client, wechatpay, db_session, resource):
    order = pending_order()
    payment = started(db_session, order)
    assert deliver(client, wechatpay.pay(payment.out_trade_no, resource=resource)).status_code == 204
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT
    assert len(audits(db_session, "payment.mismatch")) == 1


@pytest.mark.parametrize("variant, code", [("tampered", 401), ("stale", 401), ("bad_key", 401), ("signtest", 401)])
def test_notifications_not_provably_from_wechat_pay_are_refused(client, wechatpay, db_session, variant, code):
    order = pending_order()
    payment = started(db_session, order)
    events = events_of(db_session, order)
    response = deliver(client, wechatpay.pay(payment.out_trade_no, variant=variant))
    assert response.status_code == code
    assert response.json == {"code": "FAIL", "message": response.json["message"]} and response.json["message"]
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT
    assert events_of(db_session, order) == events
    assert [p.status for p in payments_of(db_session, order)] == ["pending"]


def test_signtest_probe_is_logged_as_a_probe(client, wechatpay, db_session, pay_logs):
    order = pending_order()
    payment = started(db_session, order)
    with pay_logs.at_level(logging.INFO, logger="wxbackend.integrations.wechatpay"):
        response = deliver(client, wechatpay.pay(payment.out_trade_no, variant="signtest", pay=False))
    assert response.status_code == 401
    assert any("SIGNTEST" in r.getMessage() for r in pay_logs.records)
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT


def test_unknown_serial_is_refused_without_calling_wechat_pay(client, wechatpay, db_session):
    order = pending_order()
    payment = started(db_session, order)
    calls = wechatpay.calls()
    response = deliver(client, wechatpay.pay(payment.out_trade_no, variant="unknown_serial"))
    assert response.status_code == 401 and response.json["code"] == "FAIL"
    assert wechatpay.calls() == calls  # no certificate download, no call at all
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT


def test_missing_headers_and_unknown_out_trade_no(client, wechatpay, db_session):
    order = pending_order()
    payment = started(db_session, order)
    note = wechatpay.pay(payment.out_trade_no)
    bare = client.post(NOTIFY_PATH, data=note.body.encode(), content_type="application/json")
    assert bare.status_code == 400 and bare.json["code"] == "FAIL"
    db_session.execute(sa.update(Payment).where(Payment.id == payment.id).values(out_trade_no="SOMEONEELSE01"))
    assert deliver(client, note).status_code == 404
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT


# --- the query job --------------------------------------------------------------------------------------------


def test_query_job_pays_an_order_whose_notification_never_came(wechatpay, db_session):
    from wxbackend.payments.tasks import query_unconfirmed_payments

    order = pending_order()
    payment = started(db_session, order)
    wechatpay.pay(payment.out_trade_no)  # paid at WeChat Pay; the notification is lost
    assert query_unconfirmed_payments() == 0  # too early: the notification may still come
    payment.created_at = utcnow() - timedelta(minutes=6)
    db_session.flush()
    assert query_unconfirmed_payments() == 1
    run_jobs()
    assert status_of(db_session, order) == OrderStatus.READY_TO_WRITE
    assert [(p.status, p.notification["source"]) for p in payments_of(db_session, order)] == [("paid", "query")]
    # running it again changes nothing
    events = events_of(db_session, order)
    assert query_unconfirmed_payments() == 0
    run_jobs()
    assert events_of(db_session, order) == events


def test_query_job_closes_an_expired_unpaid_payment(wechatpay, db_session):
    from wxbackend.payments.tasks import confirm_wechat_payment, query_unconfirmed_payments

    order = pending_order()
    payment = started(db_session, order)
    payment.created_at = utcnow() - timedelta(minutes=40)
    payment.expires_at = utcnow() - timedelta(minutes=10)
    db_session.flush()
    assert query_unconfirmed_payments() == 1
    run_jobs()
    assert [p.status for p in payments_of(db_session, order)] == [PaymentStatus.CLOSED]
    assert wechatpay.transaction(payment.out_trade_no)["trade_state"] == "CLOSED"
    assert confirm_wechat_payment(payment.id) == "skipped"
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT
    # paying again opens a new payment
    assert started(db_session, order).id != payment.id


# --- refunds --------------------------------------------------------------------------------------------------


def test_refund_of_a_paid_order_then_the_refund_notification(client, wechatpay, db_session):
    order = pending_order()
    payment = pay_and_deliver(client, wechatpay, db_session, order)
    refund = refund_order(order.user_id, order.id, f"user:{order.user_id}", "用户撤销")
    assert (refund.status, refund.amount_fen, refund.channel) == (RefundStatus.PROCESSING, 30000, "wechat")
    assert status_of(db_session, order) == OrderStatus.REFUNDING
    assert db_session.get(Payment, payment.id).status == PaymentStatus.REFUNDING
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 1

    note = wechatpay.finish_refund(refund.out_refund_no)
    response = deliver(client, note, REFUND_NOTIFY_PATH)
    assert response.status_code == 204
    assert status_of(db_session, order) == OrderStatus.REFUNDED
    db_session.expire_all()
    assert db_session.get(Refund, refund.id).status == RefundStatus.SUCCESS
    assert db_session.get(Payment, payment.id).status == PaymentStatus.REFUNDED
    assert deliver(client, note, REFUND_NOTIFY_PATH).status_code == 204  # again: nothing more
    assert events_of(db_session, order)[-2:] == [("ready_to_write", "refunding"), ("refunding", "refunded")]


def test_refund_rules(client, wechatpay, db_session):
    order = pending_order()
    with pytest.raises(Exception, match="illegal_transition"):  # not paid yet
        refund_order(None, order.id, "staff:1", "x")
    pay_and_deliver(client, wechatpay, db_session, order)
    with pytest.raises(NotFound):
        refund_order(make_user("李四").id, order.id, "user:x", "不是我的")
    assert status_of(db_session, order) == OrderStatus.READY_TO_WRITE


def test_refund_wechat_pay_could_not_make_alerts_and_stays_refunding(client, wechatpay, db_session, pay_logs):
    order = pending_order()
    pay_and_deliver(client, wechatpay, db_session, order)
    refund = refund_order(None, order.id, "staff:1", "审核未通过")
    with pay_logs.at_level(logging.ERROR, logger="wxbackend.payments.service"):
        response = deliver(client, wechatpay.finish_refund(refund.out_refund_no, "ABNORMAL"), REFUND_NOTIFY_PATH)
    assert response.status_code == 204
    assert status_of(db_session, order) == OrderStatus.REFUNDING
    assert db_session.get(Refund, refund.id).status == RefundStatus.ABNORMAL
    assert len(audits(db_session, "refund.failed")) == 1
    assert any("refund.failed" in r.getMessage() for r in pay_logs.records)


def test_refund_of_an_order_paid_by_transfer_is_made_by_staff(wechatpay, db_session):
    from wxbackend.orders.service import mark_paid
    from wxbackend.payments.service import complete_manual_refund

    order = pending_order()
    assert mark_paid(order.id, "transfer", "bank")
    refund = refund_order(order.user_id, order.id, f"user:{order.user_id}", "用户撤销")
    assert (refund.channel, refund.status, refund.payment_id, refund.amount_fen) == ("transfer", "manual", None, 30000)
    assert status_of(db_session, order) == OrderStatus.REFUNDING and wechatpay.api_calls() == 0
    complete_manual_refund(1, refund.id, "B20250304R001")
    assert status_of(db_session, order) == OrderStatus.REFUNDED
    assert db_session.get(Refund, refund.id).bank_reference == "B20250304R001"


def test_refund_job_finishes_a_refund_whose_notification_never_came(client, wechatpay, db_session):
    from wxbackend.payments.tasks import query_unconfirmed_refunds

    order = pending_order()
    pay_and_deliver(client, wechatpay, db_session, order)
    refund = refund_order(None, order.id, "staff:1", "审核未通过")
    wechatpay.finish_refund(refund.out_refund_no)  # not delivered
    refund.created_at = utcnow() - timedelta(minutes=6)
    db_session.flush()
    assert query_unconfirmed_refunds() == 1
    run_jobs()
    assert status_of(db_session, order) == OrderStatus.REFUNDED


# --- many copies at once, on a live server with real commits ---------------------------------------------------


# `live` (tests/support/live.py): the backend over HTTP on a database of its own, real commits and row locks.


def live_payment_started(live) -> tuple[int, str]:
    """An order waiting for payment on the live server, its WeChat payment started and committed; its id and
    out_trade_no."""
    with live.app_context():
        order = pending_order()
        start_wechat_payment(order.user_id, order.id, "jsapi")
        db.session.commit()
        return order.id, db.session.scalar(sa.select(Payment.out_trade_no).where(Payment.order_id == order.id))


def test_twenty_identical_notifications_at_once_pay_once(live_db, fake_wechatpay_server):
    live = live_db
    fake = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    order_id, out_trade_no = live_payment_started(live)
    note = fake.pay(out_trade_no)
    barrier = threading.Barrier(20)
    results: list[int] = []

    def post():
        barrier.wait()
        response = requests.post(live.base_url + NOTIFY_PATH, data=note.body.encode(), headers=note.headers,
                                 timeout=30)
        results.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [204] * 20
    with live.app_context():
        payments = db.session.scalars(sa.select(Payment).where(Payment.order_id == order_id)).all()
        assert [p.status for p in payments] == ["paid"]
        paid_events = db.session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order_id,
                                                                     OrderEvent.to_status == "paid")).all()
        assert len(paid_events) == 1
        assert db.session.get(Order, order_id).status == OrderStatus.READY_TO_WRITE
        assert len(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "payment.paid")).all()) == 1


# --- the gateway's side of the signatures ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["bad_key", "unknown_serial"])
def test_gateway_answers_not_signed_by_the_configured_key_are_refused(client, wechatpay, db_session, variant):
    order = pending_order()
    wechatpay.sign_answers(variant)
    response = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"}, headers=bearer(order.user_id))
    assert response.status_code == 502
    assert payments_of(db_session, order) == []
    assert set(wechatpay.calls()) == {JSAPI}  # never a platform-certificate download


def test_the_fake_gateway_refuses_requests_without_the_merchant_signature(wechatpay):
    answer = requests.post(wechatpay.base_url + "v3/pay/transactions/jsapi", json={"mchid": "1900000109"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"
    assert answer.headers["Wechatpay-Serial"].startswith("PUB_KEY_ID_") and answer.headers["Wechatpay-Signature"]
    forged = requests.post(wechatpay.base_url + "v3/pay/transactions/jsapi", json={}, timeout=10, headers={
        "Authorization": 'WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="n",signature="AAAA",'
                         f'timestamp="{int(utcnow().timestamp())}",serial_no="x"'})
    assert forged.status_code == 401


def test_a_lost_refund_ask_is_asked_again_by_the_job(client, wechatpay, db_session):
    from wxbackend.integrations.wechatpay import WeChatPayError
    from wxbackend.payments.service import sync_refund

    order = pending_order()
    pay_and_deliver(client, wechatpay, db_session, order)
    wechatpay.fail("/v3/refund/domestic/refunds", 500, "SYSTEM_ERROR")
    with pytest.raises(WeChatPayError):
        refund_order(None, order.id, "staff:1", "审核未通过")
    # a caller that swallowed the error and committed: the refund is recorded, WeChat Pay never heard of it
    refund = db_session.scalar(sa.select(Refund).where(Refund.order_id == order.id))
    assert sync_refund(refund.id) == "processing"
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 2
    wechatpay.finish_refund(refund.out_refund_no)
    assert sync_refund(refund.id) == "refunded"
    assert status_of(db_session, order) == OrderStatus.REFUNDED


def test_the_fake_delivers_the_notification_to_the_notify_url_itself(live_db, fake_wechatpay_server):
    """What a browser test or `make run` uses: `/_fake/pay {deliver: true}` POSTs to the backend's notify_url."""
    live = live_db
    fake = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    order_id, out_trade_no = live_payment_started(live)
    answer = fake.control("POST", "pay", json={"out_trade_no": out_trade_no, "deliver": True})
    assert answer["url"] == live.base_url + NOTIFY_PATH and answer["delivered"] == 204
    with live.app_context():
        assert db.session.get(Order, order_id).status == OrderStatus.READY_TO_WRITE


def test_the_user_cancels_a_paid_order_from_the_phone_and_is_refunded(client, wechatpay, db_session):
    csrf = sign_in(client, "退款人")
    user = db_session.scalar(sa.select(User).where(User.openid == "dev-退款人"))
    user.identity_verified = True
    order = pending_order(user=user)
    started = client.post(f"/api/orders/{order.id}/wechat-pay", json={"via": "jsapi"}, headers={"X-CSRFToken": csrf})
    assert started.status_code == 200, started.json
    payment = db_session.scalar(sa.select(Payment).where(Payment.order_id == order.id))
    assert deliver(client, wechatpay.pay(payment.out_trade_no)).status_code in (200, 204)
    page = client.get(f"/h5/orders/{order.id}").text
    assert "撤销并退款" in page
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert client.post(f"/h5/orders/{order.id}/refund", data={"csrf_token": token}).status_code == 302
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == "refunding"
    assert "已申请退款" in client.get(f"/h5/orders/{order.id}").text


# --- branches: paid after cancelling, a transaction id seen twice, another currency (issue 20) ---------------


def test_a_prepay_paid_after_the_order_was_cancelled_is_refunded_through_wechat_pay(client, wechatpay, db_session,
                                                                                   pay_logs):
    from wxbackend.orders.service import cancel_order

    order = pending_order()
    payment = started(db_session, order)  # the prepay stays open at WeChat Pay
    cancel_order(order.user_id, order.id)
    db_session.flush()
    assert status_of(db_session, order) == OrderStatus.CANCELLED
    events = events_of(db_session, order)
    note = wechatpay.pay(payment.out_trade_no)  # the payer pays it anyway
    with pay_logs.at_level(logging.ERROR, logger="wxbackend.payments.service"):
        assert deliver(client, note).status_code == 204
    assert status_of(db_session, order) == OrderStatus.CANCELLED  # never 已支付
    assert events_of(db_session, order) == events
    assert db_session.get(Order, order.id).paid_at is None
    assert audits(db_session, "payment.paid") == []
    [alert] = audits(db_session, "payment.order_not_pending")
    assert alert.result == "alert" and alert.target == f"order:{order.id}"
    assert any(r.levelno == logging.ERROR and "payment.order_not_pending" in r.getMessage() for r in pay_logs.records)
    # the money goes back through the channel that paid: a WeChat refund of the whole amount, asked at once
    [refund] = db_session.scalars(sa.select(Refund).where(Refund.order_id == order.id)).all()
    assert (refund.channel, refund.amount_fen, refund.status) == ("wechat", 30000, RefundStatus.PROCESSING)
    assert refund.payment_id == payment.id and refund.out_refund_no == f"{payment.out_trade_no}R"
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 1
    assert db_session.get(Payment, payment.id).status == PaymentStatus.REFUNDING
    assert len(audits(db_session, "order.refund_requested")) == 1
    assert deliver(client, note).status_code == 204  # the same notification again asks nothing more
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 1
    # WeChat Pay reports the refund done: the payment is refunded, the order stays 已撤销
    assert deliver(client, wechatpay.finish_refund(refund.out_refund_no), REFUND_NOTIFY_PATH).status_code == 204
    db_session.expire_all()
    assert db_session.get(Refund, refund.id).status == RefundStatus.SUCCESS
    assert db_session.get(Payment, payment.id).status == PaymentStatus.REFUNDED
    assert status_of(db_session, order) == OrderStatus.CANCELLED and events_of(db_session, order) == events
    assert len(audits(db_session, "order.refunded")) == 1


def test_a_second_notification_carrying_a_transaction_id_already_used_changes_nothing(client, wechatpay, db_session,
                                                                                      pay_logs):
    first = pending_order()
    paid = pay_and_deliver(client, wechatpay, db_session, first)
    transaction_id = payments_of(db_session, first)[0].transaction_id
    other = pending_order(organisation="深圳另一家有限公司")
    payment = started(db_session, other)
    events = events_of(db_session, other)
    note = wechatpay.pay(payment.out_trade_no, resource={"transaction_id": transaction_id})
    with pay_logs.at_level(logging.ERROR, logger="wxbackend.payments.service"):
        assert deliver(client, note).status_code == 204
    assert status_of(db_session, other) == OrderStatus.PENDING_PAYMENT and events_of(db_session, other) == events
    [payment] = payments_of(db_session, other)
    assert payment.status == PaymentStatus.MISMATCH and payment.transaction_id is None
    assert db_session.get(Payment, paid.id).status == PaymentStatus.PAID
    assert status_of(db_session, first) == OrderStatus.READY_TO_WRITE
    [alert] = audits(db_session, "payment.duplicate_transaction")
    assert alert.target == f"order:{other.id}" and alert.result == "alert"
    assert paid.out_trade_no in alert.detail["problems"][0]
    assert len(audits(db_session, "payment.paid")) == 1  # only the first order's
    assert any("payment.duplicate_transaction" in r.getMessage() for r in pay_logs.records)


def test_a_currency_other_than_cny_is_refused_like_an_amount_that_does_not_fit(client, wechatpay, db_session,
                                                                               pay_logs):
    order = pending_order()
    payment = started(db_session, order)
    note = wechatpay.pay(payment.out_trade_no, resource={"amount": {"total": 30000, "payer_total": 30000,
                                                                    "currency": "USD", "payer_currency": "USD"}})
    with pay_logs.at_level(logging.ERROR, logger="wxbackend.payments.service"):
        assert deliver(client, note).status_code == 204
    assert status_of(db_session, order) == OrderStatus.PENDING_PAYMENT
    assert [p.status for p in payments_of(db_session, order)] == [PaymentStatus.MISMATCH]
    [audit] = audits(db_session, "payment.mismatch")
    assert audit.result == "alert" and audit.detail["problems"] == ["currency 'USD'"]
    assert audits(db_session, "payment.paid") == []
    assert any("currency 'USD'" in r.getMessage() for r in pay_logs.records if r.levelno == logging.ERROR)


def test_a_refund_of_a_cancelled_order_wechat_pay_could_not_take_is_asked_again_by_the_job(client, wechatpay,
                                                                                          db_session):
    from wxbackend.orders.service import cancel_order
    from wxbackend.payments.service import sync_refund

    order = pending_order()
    payment = started(db_session, order)
    cancel_order(order.user_id, order.id)
    note = wechatpay.pay(payment.out_trade_no)
    wechatpay.fail("/v3/refund/domestic/refunds", 500, "SYSTEM_ERROR")
    assert deliver(client, note).status_code == 204  # the notification is still taken: the money is on record
    db_session.expire_all()
    [refund] = db_session.scalars(sa.select(Refund).where(Refund.order_id == order.id)).all()
    assert refund.status == RefundStatus.PROCESSING and refund.refund_id is None
    assert db_session.get(Payment, payment.id).transaction_id is not None
    assert sync_refund(refund.id) == "processing"  # WeChat Pay had not heard of it: asked again
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 2
    wechatpay.finish_refund(refund.out_refund_no)
    assert sync_refund(refund.id) == "refunded"
    assert status_of(db_session, order) == OrderStatus.CANCELLED
    assert db_session.get(Payment, payment.id).status == PaymentStatus.REFUNDED
