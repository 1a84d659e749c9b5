"""Shipping over HTTP: the phone's order page and the /api order detail show the recipient (masked) and the
tracking timeline, another user sees nothing of it; the console's shipment page for 制证 (masked mobile revealed
with an audit row, the label, the waybill form refused before the key is made) and no one else; the 待制证/待寄出
list links to it."""

from __future__ import annotations

import sqlalchemy as sa

from tests.shipping.support import key_made, replacement_order, user_named
from tests.support.factories import pending_order
from tests.support.flows import sign_in
from tests.support.staff import make_staff, sign_in_staff
from wxbackend.audit.models import AuditLog
from wxbackend.orders.models import OrderStatus
from wxbackend.shipping import service

WAYBILL = "SF7654321098765"


def audits(db_session, action: str) -> list[AuditLog]:
    return list(db_session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def tracked(fake_express, user=None):
    """A shipped replacement order the carrier has moved to 派件 and we have asked about once."""
    made = replacement_order(user)
    service.choose_address(made.user.id, made.order.id, made.address.id)
    key_made(made.order)
    shipment = service.record_waybill(1, made.order.id, "shunfeng", WAYBILL)
    fake_express.add_waybill("shunfeng", WAYBILL, phone="13912345678")
    fake_express.advance("shunfeng", WAYBILL, 5, "【深圳市】快递员正在派件，电话尾号5678")
    assert service.track(shipment.id) == "tracking"
    return made


def test_the_phone_and_the_api_show_the_timeline_to_the_owner_only(client, app, db_session, fake_express):
    sign_in(client, "李四")
    made = tracked(fake_express, user_named("李四"))
    page = client.get(f"/h5/orders/{made.order.id}")
    assert page.status_code == 200
    html = page.text
    assert 'id="shipment"' in html and "139****5678" in html and "13912345678" not in html
    assert "顺丰速运" in html and WAYBILL in html and 'data-state="5"' in html and "派件" in html
    timeline = html.split('id="tracking"')[1].split("</ol>")[0]
    assert timeline.index("快递员正在派件") < timeline.index("快递员已揽收")  # newest first

    detail = client.get(f"/api/orders/{made.order.id}")
    assert detail.status_code == 200
    shipment = detail.json["shipment"]
    assert {k: shipment[k] for k in ("carrier", "carrier_name", "waybill_no", "state", "state_label",
                                     "mobile_masked", "recipient")} == {
        "carrier": "shunfeng", "carrier_name": "顺丰速运", "waybill_no": WAYBILL, "state": 5, "state_label": "派件",
        "mobile_masked": "139****5678", "recipient": "李四"}
    assert [e["context"] for e in shipment["events"]] == ["【深圳市】快递员正在派件，电话尾号5678",
                                                          "【广州市】快递员已揽收"]
    assert "13912345678" not in detail.text and "mobile_enc" not in detail.text

    stranger = app.test_client()
    sign_in(stranger, "王五")
    for url in (f"/h5/orders/{made.order.id}", f"/api/orders/{made.order.id}"):
        seen = stranger.get(url)
        assert seen.status_code == 404
        assert WAYBILL not in seen.text and "李四" not in seen.text and "派件" not in seen.text


def test_an_order_that_ships_nothing_has_no_shipment(client, db_session):
    sign_in(client, "赵六")
    user = user_named("赵六")
    user.identity_verified = True
    order = pending_order(user=user)
    assert client.get(f"/api/orders/{order.id}").json["shipment"] is None
    assert 'id="shipment"' not in client.get(f"/h5/orders/{order.id}").text


def test_the_console_page_reveals_the_mobile_once_with_an_audit_row(client, db_session):
    made = replacement_order()
    service.choose_address(made.user.id, made.order.id, made.address.id)
    maker = make_staff("maker_a", "maker")
    csrf = sign_in_staff(client, maker)
    page = client.get(f"/admin/shipping/{made.order.id}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "139****5678" in page.text and "13912345678" not in page.text and "李四" in page.text
    assert "新介质尚未制作完成" in page.text

    revealed = client.post(f"/admin/shipping/{made.order.id}/reveal", data={"csrf_token": csrf})
    assert revealed.status_code == 200 and "13912345678" in revealed.text and 'data-revealed="1"' in revealed.text
    [viewed] = audits(db_session, "shipment.mobile_viewed")
    assert viewed.actor == f"staff:{maker.id}" and viewed.target == f"order:{made.order.id}"
    assert "13912345678" not in str(viewed.detail)
    assert "13912345678" not in client.get(f"/admin/shipping/{made.order.id}").text  # only that one answer

    label = client.get(f"/admin/shipping/{made.order.id}/label.pdf")
    assert label.status_code == 200 and label.headers["Content-Type"] == "application/pdf"
    assert label.data.startswith(b"%PDF") and made.order.order_no in label.headers["Content-Disposition"]
    assert len(audits(db_session, "shipment.label_printed")) == 1


def test_the_waybill_form_ships_only_a_made_key(client, db_session):
    made = replacement_order()
    service.choose_address(made.user.id, made.order.id, made.address.id)
    maker = make_staff("maker_b", "maker")
    csrf = sign_in_staff(client, maker)
    url = f"/admin/shipping/{made.order.id}/waybill"
    refused = client.post(url, data={"csrf_token": csrf, "carrier": "shunfeng", "waybill_no": WAYBILL},
                          follow_redirects=True)
    assert "新介质尚未制作完成（证书未写入），不能登记快递单号" in refused.text
    db_session.expire_all()
    assert made.order.status == OrderStatus.MAKING
    [attempt] = audits(db_session, "shipment.waybill_recorded")
    assert (attempt.result, attempt.actor, attempt.detail["why"]) == ("refused", f"staff:{maker.id}", "key_not_made")

    key_made(made.order)
    db_session.commit()
    wrong = client.post(url, data={"csrf_token": csrf, "carrier": "", "waybill_no": "12<>"})
    assert wrong.status_code == 400
    assert 'data-field="carrier">请选择快递公司' in wrong.text
    assert 'data-field="waybill_no">快递单号应为字母或数字' in wrong.text

    done = client.post(url, data={"csrf_token": csrf, "carrier": "shunfeng", "waybill_no": WAYBILL})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/admin/shipping/{made.order.id}")
    db_session.expire_all()
    assert made.order.status == OrderStatus.SHIPPED
    [_, audit] = audits(db_session, "shipment.waybill_recorded")
    assert audit.result == "ok" and audit.actor == f"staff:{maker.id}" and audit.detail["carrier"] == "shunfeng"
    page = client.get(f"/admin/shipping/{made.order.id}").text
    assert WAYBILL in page and "顺丰速运" in page and 'id="waybill-form"' not in page


def test_staff_without_the_maker_role_reach_nothing(client, db_session):
    made = replacement_order()
    service.choose_address(made.user.id, made.order.id, made.address.id)
    key_made(made.order)
    db_session.commit()
    csrf = sign_in_staff(client, make_staff("support_a", "support", "auditor"))
    for response in (client.get(f"/admin/shipping/{made.order.id}"),
                     client.get(f"/admin/shipping/{made.order.id}/label.pdf"),
                     client.post(f"/admin/shipping/{made.order.id}/reveal", data={"csrf_token": csrf}),
                     client.post(f"/admin/shipping/{made.order.id}/waybill",
                                 data={"csrf_token": csrf, "carrier": "shunfeng", "waybill_no": WAYBILL})):
        assert response.status_code == 403
        assert "13912345678" not in response.text
    db_session.expire_all()
    assert made.order.status == OrderStatus.MAKING
    assert len(audits(db_session, "staff.forbidden")) == 4
    assert audits(db_session, "shipment.label_printed") == audits(db_session, "shipment.mobile_viewed") == []


def test_the_fulfilment_list_links_to_the_shipment_page(client, db_session):
    made = replacement_order()
    sign_in_staff(client, make_staff("admin_a", "admin"))
    listing = client.get("/admin/fulfilment").text
    assert f'href="/admin/shipping/{made.order.id}"' in listing
    assert client.get(f"/admin/shipping/{made.order.id}").status_code == 200
    assert "用户尚未选择收件地址" in client.get(f"/admin/shipping/{made.order.id}").text


def test_an_order_that_is_no_replacement_has_no_shipment_page(client, db_session):
    order = pending_order()
    sign_in_staff(client, make_staff("maker_c", "maker"))
    assert client.get(f"/admin/shipping/{order.id}").status_code == 404
    assert client.get("/admin/shipping/99999999").status_code == 404


def test_a_returned_parcel_is_shown_on_the_phone(client, db_session, fake_express):
    sign_in(client, "李四")
    made = tracked(fake_express, user_named("李四"))
    fake_express.advance("shunfeng", WAYBILL, 6, "【深圳市】收件人拒收，快件退回中")
    shipment = service.shipment_for_order(made.order.id)
    shipment.last_queried_at = None  # due again (the 30-minute rule is the services' test)
    assert service.track(shipment.id) == "tracking"
    html = client.get(f"/h5/orders/{made.order.id}").text
    assert 'data-state="6"' in html and ">退回<" in html and "快件退回中" in html
    assert 'data-status="shipped"' in html
