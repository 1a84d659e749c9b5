"""Browser test of the reviewed application (issue 13), as far as submission: an expired certificate's order, the
agreement and the separate consent, the materials (an error under its field, then saved), the printable PDF read
back with pypdf, the two scans, the ID photos and the liveness check on the phone reached from the QR code of the
PC (signed in by 扫码登录 with the same phone, sharing nothing else with it; the fake FaceID's hosted page), the PC
page following the phone's result, then 提交申请 → 待支付; and on to payment, review, 金融认证 and the PC renewal."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from tests.support.applications import ORGANISATION, jpeg, materials
from tests.support.live import console_sign_in, fill_order_terms, pc_signed_in_by_qr, shot, wechat_phone
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.core.db import db

pytestmark = pytest.mark.browser
OPENID = "oApplicant0000001"


def expired_draft_order(live_app) -> int:
    from tests.support.factories import bind, make_certificate
    from wxbackend.orders.service import create_order
    from wxbackend.users.models import User

    with live_app.app_context():
        user = User(openid=OPENID, nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        certificate = make_certificate(ORGANISATION, expires_in_days=-20)
        bind(user, certificate)
        order = create_order(user.id, certificate.id, 1, agreement_version=SERVICE_AGREEMENT.version)
        db.session.commit()
        return order.id


def test_phone_and_pc_fill_in_the_application_up_to_payment(live_app, browser, fake_liveness, monkeypatch, tmp_path):
    fake_liveness.use(live_app, monkeypatch)
    monkeypatch.setitem(live_app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    order_id = expired_draft_order(live_app)
    fill_in_and_submit(live_app, browser, wechat_phone(browser, live_app, OPENID), order_id)


def fill_in_and_submit(live_app, browser, phone, order_id: int, **choices: str) -> tuple[int, str]:
    """The phone (and the PC for the QR hand-off) from the 编辑中 order to 提交申请, the materials changed by
    `choices`; (application id, number)."""
    phone.goto(f"{live_app.base_url}/h5/orders/{order_id}")
    phone.click("#open-application")
    return complete_application(live_app, browser, phone, **choices)


def complete_application(live_app, browser, phone, **choices: str) -> tuple[int, str]:
    """From the agreement page the phone is on to 提交申请 (the PC for the QR hand-off; a replacement's 邮寄地址
    added to 我的地址 and chosen); (application id, number)."""
    base = live_app.base_url
    phone.wait_for_selector("#agreement-text")
    assert "第八条 争议解决" in phone.text_content("#agreement-text")
    phone.check("#agree-agreement")
    phone.click("#agreement-submit")
    assert "《敏感个人信息处理授权书》" in phone.text_content('[data-field="consent"]')
    phone.check("#agree-agreement")
    phone.check("#agree-consent")
    shot(phone, "application-agreement")
    phone.click("#agreement-submit")
    phone.wait_for_selector("#materials-form")
    values = materials(credit_code="91350100M000100Y44", **choices)
    for name, value in values.items():
        if name == "invoice_type":
            phone.select_option("#f-invoice_type", value)
        elif name not in ("org_name", "bank_account_name"):
            phone.fill(f"#f-{name}", value)
    phone.click("#materials-submit")
    assert phone.text_content('[data-field="credit_code"]') == "统一社会信用代码校验位不正确，请核对"
    shot(phone, "application-materials-error")
    for name in ("legal_id_number", "legal_mobile", "agent_id_number", "agent_mobile", "bank_account"):
        phone.fill(f"#f-{name}", values[name])  # not sent back by the server: typed again
    phone.fill("#f-credit_code", "91350100M000100Y43")
    phone.click("#materials-submit")
    phone.wait_for_selector("#application-no")
    application_no = phone.text_content("#application-no")
    application_id = int(re.search(r"/h5/applications/(\d+)", phone.url).group(1))
    pdf = phone.request.get(f"{base}/h5/applications/{application_id}/form.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert application_no in text and ORGANISATION in text and "6222021234567890123" in text

    phone.click("#step-uploads")
    for kind in ("form", "licence"):
        phone.set_input_files(f"#file-{kind}", files=[{"name": f"{kind}.jpg", "mimeType": "image/jpeg",
                                                       "buffer": jpeg()}])
        phone.click(f"#upload-{kind}-submit")
        phone.wait_for_selector(f"#uploaded-{kind}")

    # the customer's PC, signed in by scanning its QR login with the phone, shows a QR code of the phone's
    # liveness page and follows it
    pc = pc_signed_in_by_qr(browser, live_app, phone, f"/h5/applications/{application_id}/liveness")
    assert pc.locator("#handoff-qr svg").count() == 1
    phone_url = pc.text_content("#handoff .mono").strip()
    shot(pc, "application-pc-qr")
    phone.goto(phone_url)  # what 微信扫一扫 opens
    for kind in ("id_front", "id_back"):
        phone.set_input_files(f"#file-{kind}", files=[{"name": "id.jpg", "mimeType": "image/jpeg",
                                                       "buffer": jpeg((856, 540))}])
        phone.click(f"#upload-{kind}-submit")
        phone.wait_for_selector(f"#uploaded-{kind}")
    phone.click("#liveness-start")
    phone.wait_for_selector("#pass")  # the provider's hosted page
    shot(phone, "application-faceid-page")
    phone.click("#pass")
    phone.wait_for_selector("#liveness-status")
    assert phone.text_content("#liveness-status") == "已通过"
    pc.wait_for_function("() => document.getElementById('liveness-status').textContent === '已通过'", timeout=15000)
    shot(pc, "application-pc-followed")

    phone.goto(f"{base}/h5/applications/{application_id}")
    if phone.locator("#step-address").count():  # 介质遗失补办: where the new key goes
        phone.click("#step-address")
        phone.click("#add-address")
        phone.wait_for_selector("#address-form")
        phone.select_option("select[name=province]", "广东省")
        phone.select_option("select[name=city]", "深圳市")
        phone.select_option("select[name=district]", "南山区")
        for name, value in (("recipient", "李四"), ("mobile", "13912345678"), ("detail", "科技园路8号某某大厦3楼"),
                            ("postcode", "518000")):
            phone.fill(f"input[name={name}]", value)
        phone.click("#address-submit")
        phone.wait_for_selector("#address-choice")  # back on the application's 邮寄地址
        phone.click("#address-use")
        phone.wait_for_selector("#application-no")
    assert phone.locator("#missing").count() == 0
    phone.click("#submit-application")
    phone.wait_for_selector("#order-no")
    assert phone.text_content("#status") == "待支付"
    shot(phone, "application-submitted")
    pc.context.close()
    return application_id, application_no


# WeChat's own bridge inside its browser; here it records the parameters and reports the payer's success.
WEIXIN_JS_BRIDGE = """
window.WeixinJSBridge = {invoke: (name, params, callback) => {
  window.__payRequest = {name, params};
  setTimeout(() => callback({err_msg: "get_brand_wcpay_request:ok"}), 50);
}};
"""


def expired_key(live_app) -> int:
    """A demo key expired 20 days ago, bound to the phone's user; its certificate id."""
    from tests.support.factories import bind
    from wxbackend.demo.service import make_demo_key
    from wxbackend.users.models import User

    with live_app.app_context():
        key = make_demo_key(organisation=ORGANISATION, expires_in_days=-20, email="it@example.cn")
        user = User(openid=OPENID, nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        bind(user, key.certificate)
        db.session.commit()
        return key.certificate.id


def decide_in_console(browser, live_app, staff, application_id: int, verdict: str, reason: str = "",
                      fields: tuple[str, ...] = ()):
    desk = console_sign_in(browser, live_app, staff)
    desk.goto(f"{live_app.base_url}/admin/applications/{application_id}")
    form = "#reject-form" if verdict == "reject" else "#approve-form"
    desk.wait_for_selector(form)
    for name in fields:
        desk.check(f"{form} input[name=fields][value={name}]")
    if reason:
        desk.fill(f"{form} textarea[name=reason]", reason)
    if desk.locator(f"{form} input[name=totp_code]").count():
        with live_app.app_context():
            code = staff.next_code()
        desk.fill(f"{form} input[name=totp_code]", code)
    shot(desk, f"application-console-{staff.username}")
    desk.click("#reject" if verdict == "reject" else "#approve")
    desk.wait_for_load_state()
    return desk


def test_expired_key_from_application_to_the_pc_renewal(live_app, live_helper, browser, fake_liveness,
                                                         fake_payouts, fake_wechatpay_server, smtp_sink_server,
                                                         monkeypatch, tmp_path):
    import requests

    from tests.support.flows import run_jobs
    from tests.support.staff import make_staff
    from tests.support.wechatpay import NOTIFY_PATH, FakeWeChatPay

    fake_liveness.use(live_app, monkeypatch)
    fake_payouts.use(live_app, monkeypatch)
    monkeypatch.setitem(live_app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    gateway = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    gateway.reset()
    certificate_id = expired_key(live_app)
    base = live_app.base_url
    phone = wechat_phone(browser, live_app, OPENID)
    phone.context.add_init_script(WEIXIN_JS_BRIDGE)
    # 证书详情 → 续期: the expired certificate's renewal goes through review; the page starts its 编辑中 order
    phone.goto(f"{base}/h5/certificates/{certificate_id}")
    phone.click("#renew")
    phone.wait_for_selector("#reviewed-path")
    assert phone.text_content("#amount") == "¥300.00"
    fill_order_terms(phone, verified=False)  # the first order: the agreement, 经办人 and 收件人
    phone.click("#create-order")
    phone.wait_for_selector("#open-application")
    assert phone.text_content("#status") == "编辑中"
    order_id = int(re.search(r"/h5/orders/(\d+)", phone.url).group(1))
    sink = smtp_sink_server.start()
    sink.clear()
    for key, value in sink.settings.items():
        monkeypatch.setitem(live_app.config, key, value)
    application_id, application_no = fill_in_and_submit(
        live_app, browser, phone, order_id, invoice_type="electronic", invoice_title=ORGANISATION,
        invoice_tax_number="91350100M000100Y43")

    # payment, as the phone pays inside WeChat; WeChat Pay notifies our endpoint
    phone.click("#pay-wechat")
    phone.wait_for_function("() => window.__payRequest !== undefined")
    with live_app.app_context():
        out_trade_no = db.session.execute(sa.text("SELECT out_trade_no FROM payments WHERE order_id = :id"),
                                          {"id": order_id}).scalar_one()
    notification = gateway.pay(out_trade_no)
    delivered = requests.post(base + NOTIFY_PATH, data=notification.body.encode(), headers=notification.headers,
                              timeout=10)
    assert delivered.status_code in (200, 204), delivered.text
    phone.wait_for_selector("#status[data-status=pending_review]", timeout=20_000)

    with live_app.app_context():
        first, second, third = (make_staff(n, "auditor", name=n) for n in ("auditor1", "auditor2", "auditor3"))
    decide_in_console(browser, live_app, first, application_id, "reject", "基本户账号与开户许可证不符",
                      ("bank_account",)).context.close()

    phone.goto(f"{base}/h5/applications/{application_id}")
    assert "基本户账号" in phone.text_content("#rejected-fields")
    phone.click("#step-materials")
    phone.fill("#f-bank_account", "6222020000111122223")
    phone.click("#materials-submit")
    phone.wait_for_selector("#application-no")
    assert phone.text_content("#revision") == "第2版"
    phone.click("#submit-application")
    phone.wait_for_selector("#review-due")
    assert "审核需要3个工作日" in phone.text_content("#review-due")

    decide_in_console(browser, live_app, second, application_id, "approve").context.close()
    desk = decide_in_console(browser, live_app, third, application_id, "approve")
    desk.goto(f"{base}/admin/applications/{application_id}")
    assert desk.locator("#revision-1").count() == 1 and desk.locator("#revision-2").count() == 1
    assert "已修改" in desk.text_content("#revision-2")
    shot(desk, "application-console-revisions")
    desk.context.close()

    with live_app.app_context():
        run_jobs()  # the payout job, the invoice asked for in the materials (issued, mailed) and the notices
    [payout] = fake_payouts.payouts()
    [mail] = sink.messages
    assert mail.rcpt_to == ["zhangsan@example.com"]
    phone.goto(f"{base}/h5/invoices/history")
    assert phone.get_attribute(".invoice", "data-status") == "issued"
    assert ORGANISATION in phone.text_content(".invoice")
    assert payout["amount_fen"] == 1 and payout["account_number"] == "6222020000111122223"
    code = payout["remark"][-6:]
    wrong = "000000" if code != "000000" else "111111"
    phone.goto(f"{base}/h5/applications/{application_id}/verification")
    for _ in range(2):
        phone.fill("#code", wrong)
        phone.click("#code-submit")
        phone.wait_for_selector("#code-form")
    assert "还可以输入1次" in phone.text_content("body")
    phone.fill("#code", code)
    phone.click("#code-submit")
    phone.wait_for_selector("#next-step")
    assert phone.text_content("#status") == "已支付/待制证"
    shot(phone, "application-fin-verified")

    live_helper()
    pc = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    pc.goto(f"{base}/pc/renew")
    pc.wait_for_selector("#panel-order:not([hidden])")
    pc.fill("#pin", "12345678")
    pc.click("#btn-renew")
    pc.wait_for_selector("#panel-done:not([hidden])", timeout=60_000)
    assert pc.text_content("#result") == "续期成功"
    shot(pc, "application-pc-renewed")
    with live_app.app_context():
        assert db.session.execute(sa.text("SELECT status FROM orders WHERE id = :id"),
                                  {"id": order_id}).scalar_one() == "completed"
