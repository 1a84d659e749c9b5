"""Browser test of a renewal order paid with WeChat Pay: the phone (headless Chromium, signed in through the fake
WeChat OAuth) sees eligibility and the new validity, passes the identity check, creates the order, pays (the fake
gateway's correctly signed notification is delivered to our endpoint), and sees 已支付/待制证 with the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from tests.support.live import fill_order_terms, on_page, shot, wechat_phone
from tests.support.wechatpay import NOTIFY_PATH, FakeWeChatPay
from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI, utcnow
from wxbackend.orders.eligibility import new_validity

pytestmark = pytest.mark.browser

# WeChat's own bridge inside its browser; here it records the parameters and reports the payer's success.
WEIXIN_JS_BRIDGE = """
window.WeixinJSBridge = {invoke: (name, params, callback) => {
  window.__payRequest = {name, params};
  setTimeout(() => callback({err_msg: "get_brand_wcpay_request:ok"}), 50);
}};
"""


def bound_certificate(live_app, openid: str, days: int) -> tuple[int, object]:
    from tests.support.factories import bind, make_certificate
    from wxbackend.users.models import User

    with live_app.app_context():
        user = User(openid=openid)
        db.session.add(user)
        db.session.flush()
        certificate = make_certificate("广州某某科技有限公司", expires_in_days=days)
        bind(user, certificate)
        db.session.commit()
        return certificate.id, certificate.not_after


def test_phone_renews_and_pays_with_wechat_pay(live_app, browser, fake_wechatpay_server):
    gateway = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    gateway.reset()
    cert_id, not_after = bound_certificate(live_app, "oPayer00000001", days=60)
    base = live_app.base_url
    day = lambda moment: moment.astimezone(SHANGHAI).strftime("%Y-%m-%d")  # noqa: E731

    phone = wechat_phone(browser, live_app, "oPayer00000001")
    phone.context.add_init_script(WEIXIN_JS_BRIDGE)
    phone.goto(f"{base}/h5/certificates/{cert_id}")
    phone.click("#renew")
    phone.wait_for_selector("#eligibility")
    assert phone.text_content("#eligibility").startswith("可在线续期")
    assert phone.text_content("#new-not-after") == day(new_validity(not_after, 1))
    assert phone.text_content("#amount") == "¥300.00"
    shot(phone, "phone-renew-quote")

    phone.click("#create-order")  # first order: the identity check comes first, then back here
    phone.wait_for_selector("#identity-form")
    phone.fill("input[name=name]", "张三")
    phone.fill("input[name=id_number]", "11010519491231002X")
    phone.fill("input[name=mobile]", "13812345678")
    phone.check("#consent")
    shot(phone, "phone-identity")
    phone.click("#identity-submit")
    phone.wait_for_selector("#create-order")
    assert "身份鉴别认证已通过" in phone.text_content("body")
    # 经办人 prefilled from the identity check (the ID number and mobile shown masked), the agreement still to accept
    assert phone.input_value("#operator_name") == "张三"
    assert "110***********002X" in phone.get_attribute("#operator_id_number", "placeholder")
    fill_order_terms(phone, verified=True)
    shot(phone, "phone-renew-terms")
    phone.click("#create-order")
    phone.wait_for_selector("#order-no")
    order_no = phone.text_content("#order-no")
    assert phone.get_attribute("#status", "data-status") == "pending_payment"
    assert phone.text_content("#new-not-after") == day(new_validity(not_after, 1))

    phone.click("#pay-wechat")
    phone.wait_for_function("() => window.__payRequest !== undefined")
    request = phone.evaluate("window.__payRequest")
    assert request["name"] == "getBrandWCPayRequest" and request["params"]["signType"] == "RSA"
    assert request["params"]["package"].startswith("prepay_id=")
    with live_app.app_context():
        out_trade_no = db.session.execute(sa.text(
            "SELECT p.out_trade_no FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.order_no = :no"),
            {"no": order_no}).scalar_one()

    # the payer paid inside WeChat; WeChat Pay notifies our endpoint, signed and encrypted
    notification = gateway.pay(out_trade_no)
    delivered = requests.post(base + NOTIFY_PATH, data=notification.body.encode(), headers=notification.headers,
                              timeout=10)
    assert delivered.status_code in (200, 204), delivered.text

    phone.wait_for_selector("#status[data-status=ready_to_write]", timeout=20_000)  # the page polled and reloaded
    assert phone.text_content("#status") == "已支付/待制证"
    steps = phone.query_selector_all("#timeline li")
    assert [s.query_selector(".timeline-title").text_content() for s in steps] == [
        "用户申请", "用户缴费", "管理员审核", "安装新证书", "完成"]
    assert ["done" in (s.get_attribute("class") or "") for s in steps] == [True, True, True, False, False]
    assert "/pc/renew" in phone.text_content("#next-step")
    shot(phone, "phone-order-paid")

    phone.goto(f"{base}/h5/orders")
    assert on_page(phone, base, "/h5/orders")
    assert "已支付/待制证" in phone.text_content(f"a[data-order-no='{order_no}']")
    phone.goto(f"{base}/h5/todo")
    assert "待写入新证书" in phone.text_content("body")
    with live_app.app_context():
        paid_at = db.session.execute(sa.text("SELECT paid_at FROM orders WHERE order_no = :no"),
                                     {"no": order_no}).scalar_one()
        assert abs(paid_at - utcnow().replace(tzinfo=None)) < timedelta(minutes=5)
