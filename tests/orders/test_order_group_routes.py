"""批量续期 over HTTP: the H5 pages (ticking certificates in 我的数字证书, the batch page, the group page, its
transfer page), the /api twins (quote, create, pay, transfer code, cancel one item), the PC list of the group's keys."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.support.factories import bind, contacts_json, make_certificate
from tests.support.flows import sign_in
from tests.support.wechatpay import deliver
from wxbackend.agreements import service as agreements
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.orders.models import Order, OrderGroup
from wxbackend.users.models import User


def signed_in(client, db_session, name: str, agreed: bool = True) -> tuple[User, str]:
    csrf = sign_in(client, name)
    user = db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))
    user.identity_verified = True
    db_session.flush()
    if agreed:
        agreements.accept(user.id)
    return user, csrf


def bound(user: User, *days: float, organisation: str = "广州某某科技有限公司"):
    certificates = [make_certificate(organisation, expires_in_days=d) for d in days]
    for certificate in certificates:
        bind(user, certificate)
    return certificates


def groups(db_session) -> list[OrderGroup]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(OrderGroup).order_by(OrderGroup.id)))


def test_my_certificates_tick_only_what_renews_online(client, db_session):
    user, _ = signed_in(client, db_session, "批量甲")
    renewable, later = bound(user, 30, 60)
    expired, = bound(user, -20, organisation="深圳过期有限公司")
    page = client.get("/h5/certificates").text
    ticked = set(re.findall(r'name="certificate" value="(\d+)"', page))
    assert ticked == {str(renewable.id), str(later.id)}
    assert 'id="batch-renew"' in page and str(expired.id) not in ticked


def test_the_batch_page_shows_each_price_and_the_total_and_creates_one_group(client, db_session):
    user, csrf = signed_in(client, db_session, "批量乙", agreed=False)
    one, two = bound(user, 30, 50)
    url = f"/h5/renewals/batch?certificate={one.id}&certificate={two.id}&years_{two.id}=2"
    page = client.get(url).text
    assert "¥300.00" in page and "¥600.00" in page and 'id="batch-total">¥900.00<' in page
    assert 'id="agreement-text"' in page and 'id="operator"' in page  # the first order of any kind: the agreement
    form = {"csrf_token": csrf, "certificate": [one.id, two.id], f"years_{two.id}": 2, **contacts_json()}
    unticked = client.post(url, data={**form, "shown_amount_fen": "90000"})
    assert unticked.status_code == 200 and 'data-field="agreement"' in unticked.text and groups(db_session) == []
    form.update(agreement="y", agreement_version=SERVICE_AGREEMENT.version)
    refused = client.post(url, data={**form, "shown_amount_fen": "60000"})  # not the total shown
    assert refused.status_code == 302 and "/h5/renewals/batch" in refused.headers["Location"]
    assert groups(db_session) == []
    made = client.post(url, data={**form, "shown_amount_fen": "90000"})
    [group] = groups(db_session)
    assert made.status_code == 302 and made.headers["Location"].endswith(f"/h5/groups/{group.id}")
    assert (group.amount_fen, [o.years for o in group.orders]) == (90000, [1, 2])
    assert {(o.agreement_version, o.contact.recipient_name) for o in group.orders} == {
        (SERVICE_AGREEMENT.version, "李四")}
    page = client.get(f"/h5/groups/{group.id}").text
    assert group.group_no in page and "¥900.00" in page and f"/api/order-groups/{group.id}/wechat-pay" in page
    transfer = client.post(f"/h5/groups/{group.id}/transfer", data={"csrf_token": csrf})
    assert transfer.status_code == 302
    db_session.expire_all()
    code = db_session.get(OrderGroup, group.id).transfer_code
    assert code and code in client.get(f"/h5/groups/{group.id}/transfer").text


def test_one_certificate_is_no_batch(client, db_session):
    user, _ = signed_in(client, db_session, "批量丙")
    one, = bound(user, 30)
    response = client.get(f"/h5/renewals/batch?certificate={one.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/h5/certificates")


def test_someone_elses_group_is_not_found(client, db_session):
    from tests.support.factories import make_user
    from wxbackend.orders.service import create_group

    other = make_user("别人")
    theirs = create_group(other.id, [(c.id, 1) for c in bound(other, 30, 40)])
    signed_in(client, db_session, "批量丁")
    assert client.get(f"/h5/groups/{theirs.id}").status_code == 404
    answer = client.get(f"/api/order-groups/{theirs.id}")
    assert answer.status_code == 404 and set(answer.json) == {"code", "message"}


def test_api_quote_create_pay_and_cancel_one_item(client, db_session, wechatpay):
    user, csrf = signed_in(client, db_session, "批量戊")
    one, two, three = bound(user, 30, 40, 50)
    headers = {"X-CSRFToken": csrf}
    items = [{"certificate_id": one.id, "years": 1}, {"certificate_id": two.id, "years": 2},
             {"certificate_id": three.id}]
    quote = client.post("/api/order-groups/quote", json={"items": items}, headers=headers)
    assert quote.status_code == 200 and quote.json["amount_fen"] == 120000
    assert [i["amount_fen"] for i in quote.json["items"]] == [30000, 60000, 30000]
    too_few = client.post("/api/order-groups", json={"items": items[:1], "contacts": contacts_json()},
                          headers=headers)
    assert too_few.status_code == 400 and set(too_few.json) >= {"code", "message"}
    changed = client.post("/api/order-groups", headers=headers,
                          json={"items": items, "shown_amount_fen": 1, "contacts": contacts_json()})
    assert changed.status_code == 409 and changed.json["code"] == "price_changed"
    created = client.post("/api/order-groups", json={"items": items, "shown_amount_fen": 120000,
                                                              "contacts": contacts_json()}, headers=headers)
    assert created.status_code == 201 and created.json["status"] == "pending_payment"
    group_id = created.json["id"]
    assert [o["amount_fen"] for o in created.json["orders"]] == [30000, 60000, 30000]

    single = client.post(f"/api/orders/{created.json['orders'][0]['id']}/wechat-pay", json={"via": "jsapi"},
                         headers=headers)
    assert single.status_code == 409 and single.json["code"] == "in_group"
    params = client.post(f"/api/order-groups/{group_id}/wechat-pay", json={"via": "jsapi"}, headers=headers)
    assert params.status_code == 200 and params.json["package"].startswith("prepay_id=")
    db_session.expire_all()
    out_trade_no = db_session.execute(sa.text("SELECT out_trade_no FROM payments WHERE group_id = :g"),
                                      {"g": group_id}).scalar_one()
    assert deliver(client, wechatpay.pay(out_trade_no)).status_code == 204
    paid = client.get(f"/api/order-groups/{group_id}").json
    assert paid["status"] == "paid" and {o["status"] for o in paid["orders"]} == {"ready_to_write"}
    assert client.post(f"/api/order-groups/{group_id}/cancel", headers=headers).status_code == 409

    middle = paid["orders"][1]["id"]
    refund = client.post(f"/api/orders/{middle}/refund", json={}, headers=headers)
    assert refund.status_code == 201 and (refund.json["amount_fen"], refund.json["channel"]) == (60000, "wechat")
    db_session.expire_all()
    assert [db_session.get(Order, o["id"]).status for o in paid["orders"]] == [
        "ready_to_write", "refunding", "ready_to_write"]

    # the PC page's list of the group's keys
    keys = client.get(f"/pc/api/renew/groups/{paid['group_no']}")
    assert keys.status_code == 200 and keys.json["remaining"] == 2
    assert [k["status_label"] for k in keys.json["keys"]] == ["待写入", "退款中", "待写入"]
    assert keys.json["keys"][0]["serial_tail"] == one.serial[-6:]
    missing = client.get("/pc/api/renew/groups/PL000")
    assert missing.status_code == 404 and set(missing.json) == {"code", "message"}


def test_api_transfer_code_for_a_group(client, db_session):
    user, csrf = signed_in(client, db_session, "批量己")
    one, two = bound(user, 30, 40)
    created = client.post("/api/order-groups", json={"items": [{"certificate_id": one.id},
                                                                 {"certificate_id": two.id}],
                                                       "contacts": contacts_json()},
                          headers={"X-CSRFToken": csrf}).json
    answer = client.post(f"/api/order-groups/{created['id']}/transfer", headers={"X-CSRFToken": csrf})
    assert answer.status_code == 200 and re.fullmatch(r"[1-9]\d{5}", answer.json["transfer_code"])
    assert answer.json["amount_fen"] == 60000 and answer.json["payer_name"] == "广州某某科技有限公司"
    assert set(answer.json["payee"]) == {"name", "bank", "account"}
    again = client.post(f"/api/order-groups/{created['id']}/transfer", headers={"X-CSRFToken": csrf})
    assert again.json["transfer_code"] == answer.json["transfer_code"]


def test_a_grouped_order_waiting_for_payment_sends_to_its_group(client, db_session):
    from wxbackend.orders.service import create_group

    user, _ = signed_in(client, db_session, "批量庚")
    group = create_group(user.id, [(c.id, 1) for c in bound(user, 30, 40)])
    page = client.get(f"/h5/orders/{group.orders[0].id}").text
    assert f"/h5/groups/{group.id}" in page and 'id="pay-wechat"' not in page and 'id="cancel-order"' not in page
