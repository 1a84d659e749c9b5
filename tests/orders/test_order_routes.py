"""The phone's 待办 list over the API, 撤销 from the H5 order page, and /healthz."""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.factories import pending_order
from tests.support.flows import sign_in
from wxbackend.orders.models import Order, OrderEvent
from wxbackend.users.models import User


def signed_in_user(client, db_session, name: str) -> tuple[User, str]:
    csrf = sign_in(client, name)
    user = db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))
    user.identity_verified = True
    db_session.flush()
    return user, csrf


def test_api_todo_lists_an_unpaid_order(client, db_session):
    user, _ = signed_in_user(client, db_session, "待办人")
    assert client.get("/api/todo").json == []
    order = pending_order(user=user)
    todo = client.get("/api/todo")
    assert todo.status_code == 200
    assert todo.json == [{"title": "待支付", "detail": f"{order.subject} {order.kind_label} {order.amount_yuan}元",
                          "link": f"/h5/orders/{order.id}"}]


def test_h5_cancel_sets_the_order_cancelled_with_an_event(client, db_session):
    user, csrf = signed_in_user(client, db_session, "撤销人")
    order = pending_order(user=user)
    refused = client.post(f"/h5/orders/{order.id}/cancel", data={})  # no CSRF token
    assert refused.status_code == 400
    response = client.post(f"/h5/orders/{order.id}/cancel", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/h5/orders/{order.id}")
    db_session.expire_all()
    cancelled = db_session.get(Order, order.id)
    assert cancelled.status == "cancelled" and cancelled.status_label == "已撤销"
    events = db_session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order.id)
                                .order_by(OrderEvent.id)).all()
    assert (events[-1].from_status, events[-1].to_status) == ("pending_payment", "cancelled")
    assert "已撤销" in client.get(f"/h5/orders/{order.id}").text
    # no longer to pay: the certificate is back to 证书待续期
    assert [item["title"] for item in client.get("/api/todo").json] == ["证书待续期"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
