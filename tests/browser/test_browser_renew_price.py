"""Browser test of the rule "what a page shows before payment is exactly what the order charges": on 续期 and on
应用续期 the phone selects each year count, (for 3 years) opens 费用详细信息, accepts the 电子认证服务协议 before the
first order only, fills 经办人/收件人, and the amount and new validity it was shown are compared with the order page,
the stored order and (for 3 years) the total WeChat Pay was asked to charge."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa

from tests.support.live import fill_order_terms, shot, wechat_phone
from tests.support.wechatpay import FakeWeChatPay
from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI
from wxbackend.orders.eligibility import new_validity

pytestmark = pytest.mark.browser

CERT_FEE_YUAN = 300  # the test configuration's org_sign fee per year
APP_FEE_YUAN = 100  # and the 应用续期 fee per year
WEIXIN_JS_BRIDGE = "window.WeixinJSBridge = {invoke: (name, params, callback) => { window.__payRequest = params; }};"


def day(moment) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def certificate_with_app(live_app, openid: str) -> dict:
    from tests.support.factories import bind, make_certificate, make_user

    with live_app.app_context():
        user = make_user(agreed=False)  # their first order: the service agreement is shown and accepted then
        user.openid = openid
        certificate = make_certificate("广州某某科技有限公司", expires_in_days=60, apps=(("广东省政府采购网", 40),))
        bind(user, certificate)
        db.session.commit()
        app = certificate.apps[0]
        return {"id": certificate.id, "not_after": certificate.not_after, "app_id": app.id,
                "app_expires_at": app.expires_at}


def stored_order(live_app, order_no: str):
    with live_app.app_context():
        return db.session.execute(sa.text(
            "SELECT years, amount_fen, new_not_after, kind FROM orders WHERE order_no = :no"), {"no": order_no}).one()


def choose_years_and_order(phone, years: int, screenshot: str) -> dict:
    """Select `years` as a person would, read what the page then shows, create the order, read the order page."""
    if phone.input_value("#years") != str(years):
        with phone.expect_navigation(timeout=5_000):  # the page requotes by reloading with the new count
            phone.select_option("#years", str(years))
    shown = {"amount": phone.text_content("#amount"), "new_not_after": phone.text_content("#new-not-after"),
             "fee_detail": phone.text_content("#fee-detail")}
    if years == 3:  # 费用详细信息: per item and per year, the same total
        with phone.expect_navigation():
            phone.click("#fee-breakdown")
        shown["fee_total"] = phone.text_content("#fee-total")
        shown["fee_rows"] = phone.locator("#fee-items tbody tr").all_inner_texts()
        shot(phone, f"{screenshot}-3-years-fees")
        with phone.expect_navigation():
            phone.click("#back-to-renew")
        assert phone.input_value("#years") == "3"
    shown["agreement_shown"] = phone.is_visible("#agreement-text")
    fill_order_terms(phone)
    shot(phone, f"{screenshot}-{years}-years-quote")
    phone.click("#create-order")
    phone.wait_for_selector("#order-no")
    shown["order_no"] = phone.text_content("#order-no")
    shown["order_amount"] = phone.text_content("#amount")
    shown["order_new_not_after"] = phone.text_content("#new-not-after")
    return shown


@pytest.mark.parametrize("renewing", ["certificate", "app"])
def test_each_year_count_charges_what_the_page_showed(live_app, browser, fake_wechatpay_server, renewing):
    gateway = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    gateway.reset()
    cert = certificate_with_app(live_app, f"oPrice{renewing[:4]}000001")
    base = live_app.base_url
    phone = wechat_phone(browser, live_app, f"oPrice{renewing[:4]}000001")
    phone.context.add_init_script(WEIXIN_JS_BRIDGE)
    query = f"?app={cert['app_id']}" if renewing == "app" else ""
    fee, old_end = (APP_FEE_YUAN, cert["app_expires_at"]) if renewing == "app" else (CERT_FEE_YUAN, cert["not_after"])

    for years in range(1, 6):
        phone.goto(f"{base}/h5/certificates/{cert['id']}/renew{query}")
        shown = choose_years_and_order(phone, years, f"phone-renew-{renewing}")
        expected_amount = f"¥{fee * years:.2f}"
        assert shown["amount"] == expected_amount, f"{years}年: the page showed {shown['amount']}"
        assert shown["new_not_after"] == day(new_validity(old_end, years))
        assert f"× {years}年" in shown["fee_detail"]
        assert shown["order_amount"] == shown["amount"] and shown["order_new_not_after"] == shown["new_not_after"]
        assert shown["agreement_shown"] == (years == 1)  # before the user's first order only
        if years == 3:
            assert shown["fee_total"] == shown["amount"]
            assert shown["fee_rows"] == [f"{'应用' if renewing == 'app' else '证书'}服务费\t{fee:.2f}元/年\t3\t"
                                         f"{fee * 3:.2f}"]
        order = stored_order(live_app, shown["order_no"])
        assert order.years == years and order.amount_fen == fee * years * 100
        assert order.kind == ("app_renewal" if renewing == "app" else "renewal")
        stored_end = order.new_not_after if order.new_not_after.tzinfo else order.new_not_after.replace(tzinfo=UTC)
        assert stored_end == new_validity(old_end, years)

        if years == 3:  # follow the amount to what WeChat Pay is asked to charge
            shot(phone, f"phone-renew-{renewing}-3-years-order")
            phone.click("#pay-wechat")
            phone.wait_for_function("() => window.__payRequest !== undefined")
            with live_app.app_context():
                out_trade_no = db.session.execute(sa.text(
                    "SELECT p.out_trade_no FROM payments p JOIN orders o ON o.id = p.order_id "
                    "WHERE o.order_no = :no"), {"no": shown["order_no"]}).scalar_one()
            assert gateway.transaction(out_trade_no)["total"] == fee * years * 100
        with phone.expect_navigation():  # one open order per certificate: make room for the next year count
            phone.click("#cancel-order")
