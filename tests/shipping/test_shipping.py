"""Shipping the replacement key through the services: the address snapshot, the label read back, the waybill (only
once the key is made, audited), and tracking through the fake 快递100 with the 30-minute rule, 签收 completing the
order with a notice, 退回 shown, and the job run twice harmless."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from tests.shipping.support import key_made, make_address, queried_long_ago, replacement_order
from tests.support.factories import make_user
from tests.support.flows import run_jobs
from wxbackend.addresses import service as addresses
from wxbackend.addresses.service import AddressInput
from wxbackend.audit.models import AuditLog
from wxbackend.core import uow
from wxbackend.core.crypto import decrypt
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, NotFound
from wxbackend.core.jobs import get_queue
from wxbackend.core.outbox import OutboxEntry
from wxbackend.core.validation import InvalidFields
from wxbackend.orders.models import OrderEvent, OrderStatus
from wxbackend.shipping import service, tasks
from wxbackend.shipping.models import Shipment

WAYBILL = "SF1234567890123"


def audits(action: str) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def notices(kind: str) -> list[list]:
    rows = db.session.scalars(sa.select(OutboxEntry).where(OutboxEntry.job == "notices.send_notice"))
    return [row.args for row in rows if row.args[1] == kind]


def shipped(staff_id: int = 1, waybill: str = WAYBILL):
    """A replacement order whose key is made, its address chosen and its waybill (顺丰) recorded."""
    made = replacement_order()
    service.choose_address(made.user.id, made.order.id, made.address.id)
    key_made(made.order)
    shipment = service.record_waybill(staff_id, made.order.id, "shunfeng", waybill)
    return made, shipment


def test_the_address_is_snapshotted_and_only_the_users_own(db_session):
    made = replacement_order()
    stranger = make_user("王五")
    strangers_address = make_address(stranger.id, recipient="王五")
    with pytest.raises(NotFound):
        service.choose_address(made.user.id, made.order.id, strangers_address.id)
    with pytest.raises(NotFound):  # nor someone else's order with one's own address
        service.choose_address(stranger.id, made.order.id, strangers_address.id)
    assert service.shipment_for_order(made.order.id) is None

    shipment = service.choose_address(made.user.id, made.order.id, made.address.id)
    assert (shipment.recipient, shipment.region) == ("李四", "广东省深圳市南山区")
    assert shipment.detail == "科技园路8号某某大厦3楼"
    assert shipment.mobile_masked == "139****5678" and b"13912345678" not in shipment.mobile_enc
    assert decrypt(shipment.mobile_enc, service.MOBILE_PURPOSE) == "13912345678"
    [chosen] = audits("shipment.address_chosen")
    assert chosen.actor == f"user:{made.user.id}" and chosen.target == f"order:{made.order.id}"

    addresses.update_address(made.user.id, made.address.id, AddressInput(
        recipient="李四改", province="北京市", city="北京市", district="朝阳区", detail="建国路1号", postcode="100000",
        mobile="13700000000"))
    db_session.expire_all()
    kept = service.shipment_for_order(made.order.id)
    assert (kept.recipient, kept.city, kept.mobile_masked) == ("李四", "深圳市", "139****5678")

    other = make_address(made.user.id, recipient="李四同事", mobile="13611112222")
    assert service.choose_address(made.user.id, made.order.id, other.id).recipient == "李四同事"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Shipment)) == 1


def test_the_address_cannot_change_once_shipped(db_session):
    made, _ = shipped()
    with pytest.raises(Conflict, match="已寄出"):
        service.choose_address(made.user.id, made.order.id, made.address.id)


def test_the_label_names_recipient_order_and_sender(db_session, app):
    made = replacement_order()
    service.choose_address(made.user.id, made.order.id, made.address.id)
    pdf = service.label_pdf(7, made.order.id, "10.0.0.1")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "李四" in text and "13912345678" in text and "南山区" in text
    assert made.order.order_no in text
    assert app.config["SHIPPING_SENDER_NAME"] in text and app.config["SHIPPING_SENDER_PHONE"] in text
    [printed] = audits("shipment.label_printed")
    assert (printed.actor, printed.target, printed.ip) == ("staff:7", f"order:{made.order.id}", "10.0.0.1")


def test_no_label_before_an_address_and_none_without_the_font(db_session, app, monkeypatch):
    made = replacement_order()
    with pytest.raises(Conflict, match="尚未选择收件地址"):
        service.label_pdf(7, made.order.id)
    service.choose_address(made.user.id, made.order.id, made.address.id)
    monkeypatch.setitem(app.config, "APPLICATION_PDF_FONT", "/nonexistent/font.ttc")
    with pytest.raises(service.LabelUnavailable) as refused:
        service.label_pdf(7, made.order.id)
    assert refused.value.status == 503 and "寄件单暂时无法生成" in refused.value.message


def test_the_waybill_waits_for_the_key_then_ships_the_order(db_session):
    made = replacement_order()
    service.choose_address(made.user.id, made.order.id, made.address.id)
    with pytest.raises(Conflict, match="新介质尚未制作完成"):
        service.record_waybill(3, made.order.id, "shunfeng", WAYBILL)
    uow.rollback()  # as the edge does: the refusal's audit row outlives it
    assert made.order.status == OrderStatus.MAKING
    [refused] = audits("shipment.waybill_recorded")
    assert (refused.result, refused.detail["why"], refused.actor) == ("refused", "key_not_made", "staff:3")
    made = replacement_order()
    service.choose_address(made.user.id, made.order.id, made.address.id)

    key_made(made.order)
    shipment = service.record_waybill(3, made.order.id, "shunfeng", " sf1234567890123 ")
    assert (shipment.carrier, shipment.waybill_no, shipment.shipped_by) == ("shunfeng", WAYBILL, "staff:3")
    assert made.order.status == OrderStatus.SHIPPED
    event = db_session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == made.order.id)
                               .order_by(OrderEvent.id.desc())).first()
    assert (event.from_status, event.to_status, event.actor) == ("making", "shipped", "staff:3")
    assert WAYBILL in event.note and "顺丰速运" in event.note
    [audit] = [row for row in audits("shipment.waybill_recorded") if row.result == "ok"]
    assert audit.actor == "staff:3" and audit.target == f"order:{made.order.id}"
    assert audit.detail["waybill_no"] == WAYBILL and audit.detail["after"] == "shipped"
    [notice] = notices("replacement_shipped")
    assert notice[0] == made.user.id and notice[2]["waybill_no"] == WAYBILL
    with pytest.raises(Conflict, match="已寄出"):  # once
        service.record_waybill(3, made.order.id, "ems", "EM263999513JP")


def test_the_waybill_needs_a_known_carrier_a_sane_number_and_an_address(db_session):
    made = replacement_order()
    key_made(made.order)
    with pytest.raises(Conflict, match="尚未选择收件地址"):
        service.record_waybill(3, made.order.id, "shunfeng", WAYBILL)
    service.choose_address(made.user.id, made.order.id, made.address.id)
    with pytest.raises(InvalidFields) as invalid:
        service.record_waybill(3, made.order.id, "dhl", "SF-12 34<script>")
    assert set(invalid.value.errors) == {"carrier", "waybill_no"}
    other, _ = shipped()
    with pytest.raises(InvalidFields, match="已登记在其他受理单"):
        service.record_waybill(3, made.order.id, "shunfeng", WAYBILL)
    assert made.order.status == OrderStatus.MAKING and other.order.status == OrderStatus.SHIPPED


def test_polling_asks_at_most_once_per_30_minutes(db_session, fake_express):
    _, shipment = shipped()
    assert service.track(shipment.id) == "tracking"  # the carrier has no record yet
    assert shipment.tracking_state == -1 and service.shipment_view(shipment.order).state_label == "暂无物流信息"
    assert fake_express.calls() == {f"shunfeng:{WAYBILL}": 1}

    fake_express.add_waybill("shunfeng", WAYBILL, phone="13912345678")
    assert service.track(shipment.id) == "too_soon"
    assert service.due_shipment_ids() == []
    assert fake_express.calls() == {f"shunfeng:{WAYBILL}": 1}  # the second poll asked nothing

    queried_long_ago(shipment)
    assert service.due_shipment_ids() == [shipment.id]
    assert service.track(shipment.id) == "tracking"
    assert fake_express.calls() == {f"shunfeng:{WAYBILL}": 2}
    view = service.shipment_view(shipment.order)
    assert view.state == 1 and view.state_label == "揽收" and view.events[0].context == "【广州市】快递员已揽收"


def test_the_sweep_pages_by_keyset(db_session):
    ids = [shipped(waybill=f"SF00000000000{n}")[1].id for n in range(3)]
    assert service.due_shipment_ids(limit=2) == ids[:2]
    assert service.due_shipment_ids(ids[1], limit=2) == ids[2:]
    assert service.due_shipment_ids(ids[2]) == []


def test_signed_completes_the_order_once_with_a_notice_even_run_twice(db_session, fake_express, wechat):
    made, shipment = shipped()
    fake_express.add_waybill("shunfeng", WAYBILL, phone="13912345678")
    fake_express.advance("shunfeng", WAYBILL, 5, "【深圳市】快递员正在派件")
    fake_express.advance("shunfeng", WAYBILL, 3, "【深圳市】已签收，签收人：本人")
    db_session.commit()
    assert tasks.track_shipments() == 1
    assert tasks.track_shipments() == 1  # the sweep run twice queues a second job for the same shipment
    assert len(get_queue("default").jobs) == 2
    run_jobs()
    db_session.expire_all()
    assert made.order.status == OrderStatus.COMPLETED
    assert fake_express.calls() == {f"shunfeng:{WAYBILL}": 1}  # the second job found it done
    completed = db_session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == made.order.id,
                                                                OrderEvent.to_status == "completed")).all()
    assert [(e.from_status, e.actor, e.note) for e in completed] == [("shipped", "system:express", "快件已签收")]
    shipment = db_session.get(Shipment, shipment.id)
    assert shipment.signed_at is not None and shipment.tracking_state == 3
    assert [e["context"] for e in shipment.tracking_events][0] == "【深圳市】已签收，签收人：本人"
    assert len(audits("shipment.signed")) == 1
    delivered = [m for m in wechat.messages() if m.get("template_id") == "TPL-replacement_delivered"]
    assert len(delivered) == 1 and made.order.order_no in str(delivered[0])
    assert tasks.track_shipment(shipment.id) == "done" and tasks.track_shipments() == 0
    assert fake_express.calls() == {f"shunfeng:{WAYBILL}": 1}


def test_a_returned_parcel_is_shown_and_the_order_stays_shipped(db_session, fake_express):
    made, shipment = shipped()
    fake_express.add_waybill("shunfeng", WAYBILL, phone="13912345678")
    fake_express.advance("shunfeng", WAYBILL, 6, "【深圳市】收件人拒收，快件退回中")
    assert service.track(shipment.id) == "tracking"
    view = service.shipment_view(made.order)
    assert view.state == 6 and view.state_label == "退回"
    assert view.events[0].context == "【深圳市】收件人拒收，快件退回中" and len(view.events) == 2
    assert made.order.status == OrderStatus.SHIPPED and shipment.signed_at is None


def test_a_failed_query_is_noted_and_not_repeated_at_once(db_session, fake_express):
    _, shipment = shipped()
    fake_express.mode("error")
    assert service.track(shipment.id) == "failed"
    assert shipment.tracking_error == "物流查询服务暂时不可用，请稍后再试"
    assert shipment.last_queried_at is not None and service.due_shipment_ids() == []
    fake_express.mode("normal")
    queried_long_ago(shipment)
    assert service.track(shipment.id) == "tracking" and shipment.tracking_error == ""


def test_nothing_is_tracked_before_the_waybill(db_session):
    made = replacement_order()
    shipment = service.choose_address(made.user.id, made.order.id, made.address.id)
    assert service.due_shipment_ids() == [] and service.track(shipment.id) == "not_shipped"
    assert service.shipment_view(made.order).state_label == "待寄出"
