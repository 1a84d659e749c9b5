"""What every order carries (issue 15 items 2 and 3): the 电子认证服务协议 accepted before the first order of any kind
(its version and time on the order), the 费用详细信息, and the 经办人/收件人 with the invoice's delivery (electronic or
paper, never both), prefilled from the identity check and 我的地址; over the service, the H5 pages and the API."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.factories import (
    OPERATOR_ID,
    bind,
    contacts,
    contacts_json,
    make_certificate,
    make_user,
)
from tests.support.flows import csrf_token, run_jobs, sign_in
from tests.support.staff import make_staff, sign_in_staff
from wxbackend.addresses.service import AddressInput, create_address
from wxbackend.agreements import service as agreements
from wxbackend.agreements.models import AgreementAcceptance
from wxbackend.agreements.service import SERVICE_AGREEMENT, AgreementRequired, Document
from wxbackend.core.crypto import decrypt
from wxbackend.core.errors import Conflict
from wxbackend.core.validation import InvalidFields
from wxbackend.identity.service import id_number_problem, verify_identity
from wxbackend.invoices import issuing
from wxbackend.invoices import service as invoices
from wxbackend.invoices.models import Invoice
from wxbackend.invoices.service import ProfileInput
from wxbackend.orders import contacts as order_contacts
from wxbackend.orders.models import Order, OrderContact
from wxbackend.orders.service import create_order, create_replacement_order, mark_paid, order_fee_items
from wxbackend.users.models import User

ADDRESS = AddressInput(recipient="王五", province="广东省", city="广州市", district="天河区",
                       detail="天河路123号某某大厦10楼", postcode="510000", mobile="13700002222")


def renewable(user: User, organisation: str = "广州某某科技有限公司"):
    certificate = make_certificate(organisation, expires_in_days=60)
    bind(user, certificate)
    return certificate


def orders_of(db_session, user: User) -> int:
    return db_session.scalar(sa.select(sa.func.count(Order.id)).where(Order.user_id == user.id))


# ------------------------------------------------------------------------------------------- the agreement


def test_the_first_order_needs_the_agreement_and_records_its_version_and_time(db_session):
    user = make_user(agreed=False)
    first, second = renewable(user), renewable(user, "广州第二有限公司")
    with pytest.raises(AgreementRequired) as refused:
        create_order(user.id, first.id, 1, contacts=contacts())
    assert refused.value.code == "agreement_required" and refused.value.status == 400
    assert refused.value.errors == {"agreement": "首次办理业务前，请阅读并勾选“我接受电子认证服务协议内容”"}
    assert orders_of(db_session, user) == 0

    order = create_order(user.id, first.id, 1, agreement_version=SERVICE_AGREEMENT.version, contacts=contacts())
    assert order.agreement_version == SERVICE_AGREEMENT.version and order.agreed_at is not None
    # the second order needs no re-acceptance and records the same acceptance
    again = create_order(user.id, second.id, 2, contacts=contacts())
    assert (again.agreement_version, again.agreed_at) == (order.agreement_version, order.agreed_at)
    assert db_session.scalar(sa.select(sa.func.count(AgreementAcceptance.id))
                             .where(AgreementAcceptance.user_id == user.id)) == 1


def test_a_changed_agreement_is_accepted_again_and_a_stale_version_is_refused(db_session, monkeypatch):
    user = make_user()  # accepted the current version
    renewed = Document("service_agreement", "电子认证服务协议", "2099-01-v9")  # as if the text were replaced
    monkeypatch.setattr(agreements, "SERVICE_AGREEMENT", renewed)
    certificate = renewable(user)
    with pytest.raises(AgreementRequired, match="已更新"):
        create_order(user.id, certificate.id, 1, contacts=contacts())
    with pytest.raises(AgreementRequired, match="2099-01-v9"):  # the page showed the old text
        create_order(user.id, certificate.id, 1, agreement_version=SERVICE_AGREEMENT.version, contacts=contacts())
    order = create_order(user.id, certificate.id, 1, agreement_version="2099-01-v9", contacts=contacts())
    assert order.agreement_version == "2099-01-v9"


def test_a_replacement_order_is_an_order_of_any_kind_too(db_session):
    user = make_user(agreed=False)
    certificate = make_certificate(expires_in_days=200)
    with pytest.raises(AgreementRequired):
        create_replacement_order(user.id, certificate.id, 30000)
    order = create_replacement_order(user.id, certificate.id, 30000, agreement_version=SERVICE_AGREEMENT.version)
    assert order.agreement_version == SERVICE_AGREEMENT.version
    items = order_fee_items(order)  # the 介质费 is its own line
    assert [(i.name, i.subtotal_fen) for i in items] == [("证书服务费", 22000), ("介质费（U-KEY）", 8000)]
    assert sum(i.subtotal_fen for i in items) == order.amount_fen


def test_the_application_agreement_counts_for_the_users_orders(db_session):
    from tests.support.applications import expired_order
    from wxbackend.applications import service as applications

    order = expired_order()
    assert order.agreement_version == SERVICE_AGREEMENT.version
    application = applications.start(order.user_id, order.id)
    applications.agree(order.user_id, application.id, True, True)
    assert application.agreement_version == SERVICE_AGREEMENT.version
    assert agreements.acceptance(order.user_id) is not None


# ------------------------------------------------------------------------------------------- the fees


def test_the_fee_breakdown_is_per_year_and_sums_to_what_is_charged(db_session):
    user = make_user()
    order = create_order(user.id, renewable(user).id, 3, contacts=contacts())
    assert order.fee_items == [{"name": "证书服务费", "unit_fen": 30000, "unit": "年", "quantity": 3,
                                "subtotal_fen": 90000}]
    assert sum(i.subtotal_fen for i in order_fee_items(order)) == order.amount_fen == 90000
    with_app = make_certificate("广州应用有限公司", expires_in_days=200, apps=(("广东省政府采购网", 30),))
    bind(user, with_app)
    app_order = create_order(user.id, with_app.id, 2, app_id=with_app.apps[0].id, contacts=contacts())
    assert [(i.name, i.unit_fen, i.quantity) for i in order_fee_items(app_order)] == [("应用服务费", 10000, 2)]


# ------------------------------------------------------------------------------------------- the contacts


def test_contacts_are_checked_field_by_field_and_all_at_once(db_session):
    user = make_user()
    certificate = renewable(user)
    with pytest.raises(InvalidFields) as refused:
        create_order(user.id, certificate.id, 1, contacts=contacts(
            operator_id_number="110105194912310021", operator_mobile="1381234", operator_email="zhangsan@",
            recipient_name="", recipient_mobile="12345678901", recipient_address="广州", invoice_delivery="both"))
    assert refused.value.errors == {
        "operator_id_number": id_number_problem("110105194912310021"),
        "operator_mobile": "请填写正确的11位手机号码",
        "operator_email": "邮箱格式不正确，请核对",
        "recipient_name": "请填写收件人姓名",
        "recipient_mobile": "请填写正确的11位手机号码",
        "recipient_address": "请详细填写收件地址（省市区、街道、门牌号）",
        "invoice_delivery": "请选择电子发票或纸质发票（只能选择其中一种）",
    }
    assert orders_of(db_session, user) == 0
    with pytest.raises(InvalidFields) as refused:  # a passport: letters and digits, not the resident ID check
        create_order(user.id, certificate.id, 1, contacts=contacts(operator_id_type="passport",
                                                                   operator_id_number="E1234-56"))
    assert refused.value.errors == {"operator_id_number": "证件号码应为5至20位字母或数字，请核对"}
    newcomer = make_user(agreed=False)
    with pytest.raises(AgreementRequired) as both:  # the agreement and the contacts: one refusal naming each
        create_order(newcomer.id, renewable(newcomer).id, 1, contacts=contacts(operator_email=""))
    assert both.value.errors == {"agreement": "首次办理业务前，请阅读并勾选“我接受电子认证服务协议内容”",
                                 "operator_email": "请填写经办人邮箱，用于接收通知和电子发票"}


def test_copied_from_the_operator_and_stored_encrypted_and_masked(db_session):
    user = make_user()
    order = create_order(user.id, renewable(user).id, 1, contacts=contacts(
        recipient_from_operator=True, recipient_name="", recipient_mobile="", invoice_delivery="paper"))
    contact = order.contact
    assert (contact.recipient_name, contact.recipient_mobile_masked) == ("张三", "138****5678")
    assert order_contacts.recipient_of(contact) == {"name": "张三", "mobile": "13812345678",
                                                    "address": "广东省广州市天河区体育西路100号"}
    assert contact.operator_id_number_masked == "110***********002X" and order.invoice_delivery == "paper"
    assert decrypt(contact.operator_id_number_enc, "id_number") == OPERATOR_ID
    row = db_session.execute(sa.select(OrderContact.__table__).where(OrderContact.order_id == order.id)).one()
    stored = repr(tuple(row)).encode() + b"".join(v for v in row if isinstance(v, bytes))
    for secret in (OPERATOR_ID, "13812345678", "体育西路100号"):
        assert secret.encode() not in stored, secret


def test_prefilled_from_the_identity_check_and_the_default_address(db_session):
    user = make_user()
    verify_identity(user.id, "张三", OPERATOR_ID, "13812345678", True)
    address = create_address(user.id, ADDRESS)
    invoices.create_profile(user.id, ProfileInput(title="广州某某科技有限公司", title_type="enterprise",
                                                  tax_number="9144030071526726XG", email="finance@example.cn",
                                                  bank_name="",
                                                  bank_account="", address="", phone="", mobile=""))
    prefill = order_contacts.prefill(user.id)
    assert (prefill.operator_name, prefill.operator_id_number_masked, prefill.operator_mobile_masked,
            prefill.operator_email, prefill.address_id) == ("张三", "110***********002X", "138****5678",
                                                            "finance@example.cn", address.id)
    # left empty, the verified ID number, name and mobile are used; the address's recipient is the recipient
    order = create_order(user.id, renewable(user).id, 1, contacts=contacts(
        operator_id_number="", operator_name="", operator_mobile="", address_id=address.id, recipient_name="",
        recipient_mobile="", recipient_address=""))
    contact = order.contact
    assert decrypt(contact.operator_id_number_enc, "id_number") == OPERATOR_ID and contact.operator_name == "张三"
    assert decrypt(contact.operator_mobile_enc, "mobile") == "13812345678"
    assert order_contacts.recipient_of(contact) == {"name": "王五", "mobile": "13700002222",
                                                    "address": "广东省广州市天河区天河路123号某某大厦10楼"}
    stranger = make_user("李四")
    with pytest.raises(InvalidFields) as refused:  # someone else's address is not a choice
        create_order(stranger.id, renewable(stranger).id, 1, contacts=contacts(address_id=address.id))
    assert refused.value.errors == {"address_id": "没有找到该地址，请从我的地址中选择"}


# ------------------------------------------------------------------------------------------- the invoice


def test_a_paper_invoice_goes_to_the_recipient_and_is_never_mailed(app, db_session, smtp_sink, invoice_files):
    user = make_user()
    profile = invoices.create_profile(user.id, ProfileInput(
        title="广州某某科技有限公司", title_type="enterprise", tax_number="9144030071526726XG",
        email="finance@example.cn", bank_name="", bank_account="", address="", phone="", mobile=""))
    paper = create_order(user.id, renewable(user).id, 1, contacts=contacts(invoice_delivery="paper"))
    electronic = create_order(user.id, renewable(user, "广州电子发票有限公司").id, 1, contacts=contacts())
    for order in (paper, electronic):
        mark_paid(order.id, "wechat", "test")
    with pytest.raises(Conflict) as mixed:  # 电子发票和纸质发票只有其中一种
        invoices.request_invoice(user.id, [paper.id, electronic.id], profile_id=profile.id)
    assert mixed.value.code == "mixed_invoice_delivery"
    posted = invoices.request_invoice(user.id, [paper.id], profile_id=profile.id)
    mailed = invoices.request_invoice(user.id, [electronic.id], profile_id=profile.id)
    assert (posted.delivery, posted.recipient_name, posted.recipient_mobile_masked) == ("paper", "李四",
                                                                                       "139****1111")
    assert decrypt(posted.recipient_address_enc, "address") == "广东省广州市天河区体育西路100号"
    assert mailed.delivery == "electronic" and mailed.recipient_name == ""
    db_session.commit()
    run_jobs()
    db_session.expire_all()
    posted, mailed = db_session.get(Invoice, posted.id), db_session.get(Invoice, mailed.id)
    assert posted.status == mailed.status == "issued"
    assert posted.to_post_at is not None and posted.emailed_at is None
    assert mailed.emailed_at is not None and mailed.to_post_at is None
    assert [m.rcpt_to for m in smtp_sink.messages] == [["finance@example.cn"]]  # one mail: the electronic one
    assert issuing.deliver(posted.id) == "paper: posted by staff"
    rows = {row.invoice.id: row for row in issuing.undelivered_page().rows}
    assert rows[posted.id].stage == "纸质发票待寄出" and mailed.id not in rows
    with pytest.raises(Conflict, match="纸质发票"):
        issuing.requeue_invoice(1, posted.id)
    [(waiting, recipient)] = issuing.to_post()  # the waybill: the recipient in full
    assert waiting.id == posted.id and recipient == {"name": "李四", "mobile": "13900001111",
                                                     "address": "广东省广州市天河区体育西路100号"}
    listed = app.test_cli_runner().invoke(args=["invoices", "to-post"])
    assert "13900001111" in listed.output and "共1张纸质发票待寄出" in listed.output

    # what staff see: 未送达发票 says 纸质发票待寄出 with the recipient masked, and 已寄出 takes it off the queue
    console = app.test_client()
    staff = make_staff("caiwu", "finance")
    csrf = sign_in_staff(console, staff)
    page = console.get("/admin/invoices/undelivered").text
    assert f'data-invoice="{posted.id}"' in page and "纸质发票待寄出" in page and "李* 139****1111" in page
    assert "13900001111" not in page and "体育西路100号" not in page
    assert f"/admin/invoices/{posted.id}/posted" in page
    done = console.post(f"/admin/invoices/{posted.id}/posted", data={"csrf_token": csrf}, follow_redirects=True)
    assert "已标记为已寄出" in done.text and f'data-invoice="{posted.id}"' not in done.text
    db_session.expire_all()
    assert db_session.get(Invoice, posted.id).posted_at is not None and issuing.to_post() == []
    again = console.post(f"/admin/invoices/{posted.id}/posted", data={"csrf_token": csrf}, follow_redirects=True)
    assert "不是待寄出的纸质发票" in again.text
    order_page = console.get(f"/admin/orders/{paper.id}").text
    assert "纸质发票" in order_page and "张*" in order_page and "110***********002X" in order_page
    assert OPERATOR_ID not in order_page and "13812345678" not in order_page


# ------------------------------------------------------------------------------------------- the pages


def signed_in(client, db_session, name: str) -> User:
    sign_in(client, name)
    user = db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))
    user.identity_verified = True
    db_session.flush()
    return user


def renew_form(client, certificate_id: int, years: int = 1, **fields) -> dict:
    page = client.get(f"/h5/certificates/{certificate_id}/renew?years={years}").text
    shown = page.split('id="shown-amount-fen" name="shown_amount_fen" type="hidden" value="')[1].split('"')[0]
    return {"csrf_token": csrf_token(client), "years": str(years), "shown_amount_fen": shown, **contacts_json(),
            **fields}


def field_error(html: str, field: str) -> str:
    return html.split(f'<p class="field-error" data-field="{field}">')[1].split("</p>")[0]


def test_the_renew_page_shows_the_agreement_until_accepted_and_each_error_under_its_field(client, db_session):
    user = signed_in(client, db_session, "经办人")
    certificate, other = renewable(user), renewable(user, "广州第二有限公司")
    page = client.get(f"/h5/certificates/{certificate.id}/renew").text
    assert 'id="agreement-text"' in page and "第八条 争议解决" in page and "从经办人处拷贝" in page
    refused = client.post(f"/h5/certificates/{certificate.id}/renew",
                          data=renew_form(client, certificate.id, operator_email="不是邮箱"))
    assert refused.status_code == 200
    assert field_error(refused.text, "agreement") == "首次办理业务前，请阅读并勾选“我接受电子认证服务协议内容”"
    assert field_error(refused.text, "operator_email") == "邮箱格式不正确，请核对"
    assert 'value="李四"' in refused.text  # what was typed is kept
    assert orders_of(db_session, user) == 0

    made = client.post(f"/h5/certificates/{certificate.id}/renew", data=renew_form(
        client, certificate.id, 2, agreement="y", agreement_version=SERVICE_AGREEMENT.version,
        invoice_delivery="paper"))
    assert made.status_code == 302
    order = db_session.scalar(sa.select(Order).where(Order.certificate_id == certificate.id))
    detail = client.get(made.headers["Location"]).text
    assert "110***********002X" in detail and "139****1111" in detail and "纸质发票" in detail
    assert OPERATOR_ID not in detail and "体育西路100号" not in detail
    assert order.agreement_version in detail and "600.00" in detail
    # the next order: no agreement shown, none needed
    second = client.get(f"/h5/certificates/{other.id}/renew").text
    assert 'id="agreement-text"' not in second and 'id="agreement-accepted"' in second
    assert client.post(f"/h5/certificates/{other.id}/renew", data=renew_form(client, other.id)).status_code == 302


def test_the_renew_page_prefills_and_refuses_another_users_address(client, db_session):
    owner = make_user("地址主人")
    theirs = create_address(owner.id, ADDRESS)
    user = signed_in(client, db_session, "预填人")
    verify_identity(user.id, "预填人", OPERATOR_ID, "13812345678", True)
    mine = create_address(user.id, ADDRESS)
    certificate = renewable(user)
    page = client.get(f"/h5/certificates/{certificate.id}/renew").text
    assert 'value="预填人"' in page and "已核验 110***********002X" in page and "已核验 138****5678" in page
    assert f'<option selected value="{mine.id}">' in page
    refused = client.post(f"/h5/certificates/{certificate.id}/renew", data=renew_form(
        client, certificate.id, agreement="y", agreement_version=SERVICE_AGREEMENT.version, address_id=theirs.id))
    assert refused.status_code == 200
    assert field_error(refused.text, "address_id") == "没有找到该地址，请从我的地址中选择"
    made = client.post(f"/h5/certificates/{certificate.id}/renew", data=renew_form(
        client, certificate.id, agreement="y", agreement_version=SERVICE_AGREEMENT.version, address_id=mine.id,
        operator_id_number="", operator_mobile=""))
    assert made.status_code == 302
    order = db_session.scalar(sa.select(Order).where(Order.certificate_id == certificate.id))
    assert order.contact.recipient_name == "王五" and order.contact.operator_mobile_masked == "138****5678"


def test_the_fee_page_lists_each_item_per_year(client, db_session):
    user = signed_in(client, db_session, "看费用")
    certificate = renewable(user)
    page = client.get(f"/h5/certificates/{certificate.id}/fees?years=3").text
    assert "证书服务费" in page and "300.00元/年" in page and "<td>3</td>" in page and "¥900.00" in page
    assert client.get(f"/h5/certificates/{certificate.id}/fees?years=9").status_code == 200  # bounded to 1


# ------------------------------------------------------------------------------------------- the API


def test_the_api_asks_for_the_agreement_and_the_contacts(client, db_session):
    user = signed_in(client, db_session, "小程序")
    owner = make_user("别人")
    theirs = create_address(owner.id, ADDRESS)
    certificate = renewable(user)
    headers = {"X-CSRFToken": csrf_token(client)}
    shown = client.get("/api/agreements/service").json
    assert shown["version"] == SERVICE_AGREEMENT.version and "争议解决" in shown["text"] and not shown["accepted"]
    body = {"certificate_id": certificate.id, "years": 1, "contacts": contacts_json(operator_email="")}
    refused = client.post("/api/orders", json=body, headers=headers)
    assert refused.status_code == 400 and refused.json["code"] == "agreement_required"
    assert set(refused.json["errors"]) == {"agreement", "operator_email"}
    stale = client.post("/api/agreements/service", json={"version": "2020-01-v1"}, headers=headers)
    assert stale.status_code == 400 and stale.json["code"] == "agreement_required"
    body = {**body, "agreement_version": SERVICE_AGREEMENT.version,
            "contacts": contacts_json(address_id=theirs.id)}
    refused = client.post("/api/orders", json=body, headers=headers)
    assert refused.status_code == 400 and refused.json["errors"] == {"address_id": "没有找到该地址，请从我的地址中选择"}
    missing = client.post("/api/orders", json={"certificate_id": certificate.id, "years": 1}, headers=headers)
    assert missing.status_code == 400 and "contacts" in missing.json["errors"]
    made = client.post("/api/orders", json={**body, "contacts": contacts_json(recipient_from_operator=True)},
                       headers=headers)
    assert made.status_code == 201, made.json
    assert made.json["agreement_version"] == SERVICE_AGREEMENT.version and made.json["agreed_at"]
    assert made.json["fee_items"] == [{"name": "证书服务费", "unit_fen": 30000, "unit": "年", "quantity": 1,
                                       "subtotal_fen": 30000}]
    assert made.json["contact"]["operator_id_number_masked"] == "110***********002X"
    assert made.json["contact"]["recipient_name"] == "张三" and made.json["invoice_delivery"] == "electronic"
    assert OPERATOR_ID not in made.text and "13812345678" not in made.text
    assert client.get("/api/agreements/service").json["accepted"] is True
    quote = client.get(f"/api/certificates/{certificate.id}/quote?years=2").json
    assert quote["fee_items"][0]["quantity"] == 2 and quote["fee_items"][0]["subtotal_fen"] == quote["amount_fen"]
    prefill = client.get("/api/order-contacts/prefill")
    assert prefill.status_code == 200 and prefill.json["addresses"] == []
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/agreements/service", "/api/order-contacts/prefill"} <= set(paths)
    assert "400" in paths["/api/orders"]["post"]["responses"]


def test_the_replacement_api_asks_for_the_agreement_too(client, db_session):
    from wxbackend.web.auth import issue_api_token

    user = make_user(agreed=False)
    certificate = make_certificate(expires_in_days=200)
    auth = {"Authorization": f"Bearer {issue_api_token(user.id)[0]}"}
    body = {"serial": certificate.serial, "amount_fen": 30000}
    refused = client.post("/api/replacements", json=body, headers=auth)
    assert refused.status_code == 400 and refused.json["code"] == "agreement_required"
    started = client.post("/api/replacements", json={**body, "agreement_version": SERVICE_AGREEMENT.version},
                          headers=auth)
    assert started.status_code == 201, started.json
