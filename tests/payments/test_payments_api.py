"""The mini-program's 对公打款 and 撤销并退款 (issue 15 item 5): the same services as the H5 pages, over the API with
a bearer token; another user's order is not found; every refusal is `{code, message}` in Chinese."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.support.factories import make_user, pending_order
from tests.support.wechatpay import deliver
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.orders.service import mark_paid
from wxbackend.payments.models import Payment, Refund
from wxbackend.payments.service import start_wechat_payment
from wxbackend.web.auth import issue_api_token

ORG = "广州某某科技有限公司"
CJK = re.compile(r"[\u4e00-\u9fff]")


def bearer(user_id: int) -> dict:
    return {"Authorization": f"Bearer {issue_api_token(user_id)[0]}"}


def refusal(response, status: int, code: str) -> str:
    assert response.status_code == status, response.json
    assert set(response.json) == {"code", "message"} and response.json["code"] == code
    assert CJK.search(response.json["message"]), response.json
    return response.json["message"]


def test_the_transfer_code_account_and_rules_over_the_api(app, client, db_session):
    order = pending_order()
    me = bearer(order.user_id)

    before = client.get(f"/api/orders/{order.id}/transfer", headers=me)
    assert before.status_code == 200
    assert before.json["transfer_code"] is None and before.json["status"] == "pending_payment"
    cfg = app.config
    assert before.json["payee"] == {"name": cfg["TRANSFER_PAYEE_NAME"], "bank": cfg["TRANSFER_PAYEE_BANK"],
                                    "account": cfg["TRANSFER_PAYEE_ACCOUNT"]}
    assert before.json["payer_name"] == ORG and before.json["amount_fen"] == 30000
    rules = before.json["rules"]
    assert rules[0] == "附言只填写这6位数字，不要填写其他文字。" and any(ORG in rule for rule in rules)
    assert any("300.00元" in rule for rule in rules) and any("财政" in rule for rule in rules)

    chosen = client.post(f"/api/orders/{order.id}/transfer", headers=me)
    assert chosen.status_code == 200 and re.fullmatch(r"[1-9][0-9]{5}", chosen.json["transfer_code"])
    assert chosen.json["pay_channel"] == "transfer"
    again = client.post(f"/api/orders/{order.id}/transfer", headers=me)
    assert again.json["transfer_code"] == chosen.json["transfer_code"]  # the same code when asked again
    assert client.get(f"/api/orders/{order.id}/transfer", headers=me).json["transfer_code"] == \
        chosen.json["transfer_code"]
    db_session.expire_all()
    assert db_session.get(Order, order.id).transfer_code == chosen.json["transfer_code"]

    assert mark_paid(order.id, "transfer", "bank")
    db_session.commit()
    paid = client.get(f"/api/orders/{order.id}/transfer", headers=me).json
    assert paid["status"] == OrderStatus.READY_TO_WRITE and paid["transfer_code"] == chosen.json["transfer_code"]
    assert paid["payee"] is None and paid["rules"] == []  # nothing to pay any more: the account is not shown
    message = refusal(client.post(f"/api/orders/{order.id}/transfer", headers=me), 409, "not_pending_payment")
    assert "无需转账" in message


def test_another_users_order_is_not_found_for_transfer_and_refund(client, db_session):
    order = pending_order()
    assert mark_paid(order.id, "transfer", "bank")
    db_session.commit()
    stranger = bearer(make_user("李四").id)
    db_session.commit()
    refusal(client.get(f"/api/orders/{order.id}/transfer", headers=stranger), 404, "not_found")
    refusal(client.post(f"/api/orders/{order.id}/transfer", headers=stranger), 404, "not_found")
    refusal(client.post(f"/api/orders/{order.id}/refund", headers=stranger), 404, "not_found")
    db_session.expire_all()
    assert db_session.get(Order, order.id).status != OrderStatus.REFUNDING
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Refund)) == 0


def test_without_a_token_the_endpoints_answer_401(client, db_session):
    order = pending_order()
    for method, path in (("get", "transfer"), ("post", "transfer"), ("post", "refund")):
        refusal(getattr(client, method)(f"/api/orders/{order.id}/{path}"), 401, "not_signed_in")
        refusal(getattr(client, method)(f"/api/orders/{order.id}/{path}", headers={"Authorization": "Bearer x"}),
                401, "token_invalid")


def test_the_user_cancels_an_order_paid_by_wechat_pay_and_is_refunded_over_the_api(client, wechatpay, db_session):
    order = pending_order()
    me = bearer(order.user_id)
    start_wechat_payment(order.user_id, order.id, "jsapi")
    payment = db_session.scalar(sa.select(Payment).where(Payment.order_id == order.id))
    assert deliver(client, wechatpay.pay(payment.out_trade_no)).status_code == 204

    refunded = client.post(f"/api/orders/{order.id}/refund", headers=me)
    assert refunded.status_code == 201, refunded.json
    assert refunded.json == {"order_id": order.id, "amount_fen": 30000, "channel": "wechat", "status": "processing",
                             "status_label": "退款处理中", "order_status": "refunding", "order_status_label": "退款中"}
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 1
    assert client.get(f"/api/orders/{order.id}", headers=me).json["status"] == "refunding"
    twice = client.post(f"/api/orders/{order.id}/refund", headers=me)  # already refunding: refused, nothing asked
    assert twice.status_code == 409 and CJK.search(twice.json["message"])
    assert wechatpay.calls()["POST /v3/refund/domestic/refunds"] == 1


def test_a_refund_of_an_order_paid_by_transfer_waits_for_finance(client, db_session):
    order = pending_order()
    assert mark_paid(order.id, "transfer", "bank")
    db_session.commit()
    refunded = client.post(f"/api/orders/{order.id}/refund", headers=bearer(order.user_id))
    assert refunded.status_code == 201
    assert (refunded.json["channel"], refunded.json["status"], refunded.json["status_label"]) == \
        ("transfer", "manual", "待人工退款")
    assert refunded.json["order_status"] == "refunding"


def test_an_unpaid_order_cannot_be_refunded(client, db_session):
    order = pending_order()
    refused = client.post(f"/api/orders/{order.id}/refund", headers=bearer(order.user_id))
    assert refused.status_code == 409 and set(refused.json) == {"code", "message"}
    assert CJK.search(refused.json["message"])
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.PENDING_PAYMENT
