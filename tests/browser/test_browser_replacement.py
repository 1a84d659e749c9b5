"""介质遗失补办 end to end in headless Chromium (issue 14): the phone reports the key lost (the next CRL carries
certificateHold and `openssl verify -crl_check` refuses the certificate), looks the serial up and applies (agreement
and consent, materials, form, uploads, liveness through the PC's QR hand-off, 邮寄地址), pays with WeChat Pay, two
auditors approve in the console (the phone shows 已吊销; renewal, binding and a new order are refused), 制证 staff
personalise a blank SoftHSM2 token at the counter through the console and the real helper, print the label and
enter the waybill, the fake express API moves it to 签收, and the phone shows the timeline and 已完成."""

from __future__ import annotations

import io
import logging

import pytest
import requests
import sqlalchemy as sa
from cryptography import x509
from pypdf import PdfReader

from tests.browser.test_browser_application import WEIXIN_JS_BRIDGE, complete_application, decide_in_console
from tests.browser.test_browser_certificate_hold import crl_and_verdict
from tests.counter.support import BLANK_PIN
from tests.counter.test_counter import everything_in_redis, everything_in_the_database
from tests.support.applications import ORGANISATION
from tests.support.flows import run_jobs
from tests.support.live import console_sign_in, shot, wechat_phone
from wxbackend.core.db import db

pytestmark = pytest.mark.browser
OPENID = "oReplacement0001"


def lost_key_owner(live_app) -> tuple[int, str, str, str]:
    """A demo key's certificate bound to the phone's user; (certificate id, serial, PEM, the key's token serial)."""
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
        return key.certificate.id, key.certificate.serial, key.certificate.pem, key.serial


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


def test_a_lost_key_is_replaced_end_to_end(live_app, live_helper, browser, softhsm_store, fake_liveness, fake_payouts,
                                          fake_express, fake_wechatpay_server, monkeypatch, tmp_path, caplog):
    from tests.support.staff import make_staff
    from tests.support.wechatpay import FakeWeChatPay

    caplog.set_level(logging.DEBUG)
    fake_liveness.use(live_app, monkeypatch)
    fake_payouts.use(live_app, monkeypatch)
    fake_express.use(live_app, monkeypatch)
    monkeypatch.setitem(live_app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    gateway = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    gateway.reset()
    certificate_id, serial, cert_pem, lost_token = lost_key_owner(live_app)
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
    phone.check("#agree-agreement")  # the first order of any kind: the 电子认证服务协议
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

    # 制证: the lost key is gone; a blank key on the staff PC, the console page and the real helper
    softhsm_store.delete_token(lost_token)
    blank = softhsm_store.make_token(label="BLANK UKEY", pin=BLANK_PIN)
    helper = live_helper()
    with live_app.app_context():
        maker = make_staff("bx_maker", "maker", name="制证员")
    desk = console_sign_in(browser, live_app, maker)
    desk.click("nav.sidebar a:has-text('介质制证')")
    desk.click(f"tr[data-order='{order_id}'] a")
    desk.click("#btn-detect")
    desk.wait_for_selector("#counter-form:not([hidden])")
    desk.fill("#blank-pin", BLANK_PIN)
    desk.click("#btn-start")
    desk.wait_for_function("() => document.getElementById('result').textContent.startsWith('制证完成')",
                           timeout=60_000)
    shot(desk, "replacement-counter-done")
    with live_app.app_context():
        run_jobs()  # the PIN's 0.01-yuan payout
        new_id, new_serial, new_pem, medium = db.session.execute(sa.text(
            "SELECT c.id, c.serial, c.pem, c.medium_number FROM orders o JOIN certificates c "
            "ON c.id = o.new_certificate_id WHERE o.id = :id"), {"id": order_id}).one()
    assert medium == blank
    new_cert, old_cert = (x509.load_pem_x509_certificate(pem.encode()) for pem in (new_pem, cert_pem))
    assert new_cert.subject == old_cert.subject and new_cert.not_valid_after_utc == old_cert.not_valid_after_utc
    crl, verdict = crl_and_verdict(base, new_pem, tmp_path)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr  # the new certificate verifies against the chain
    entry = crl.get_revoked_certificate_by_serial_number(number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    phone.goto(f"{base}/h5/certificates")
    assert f"介质号后四位 {medium[-4:]}" in phone.text_content("body")  # the binding carried to the new key
    phone.goto(f"{base}/h5/certificates/{new_id}")
    assert "有效" in phone.text_content("body")

    # the PIN: in the payout's remark to the basic account, nowhere else
    [payout] = fake_payouts.payouts()
    assert payout["amount_fen"] == 1 and payout["account_number"] == "6222021234567890123"
    pin = payout["remark"].removeprefix("数字证书PIN码")
    assert len(pin) == 8 and pin.isdigit()
    assert pin not in desk.content()
    with live_app.app_context():
        assert pin not in everything_in_the_database()
    assert pin not in everything_in_redis()
    assert pin not in caplog.text and pin not in helper.log_path.read_text(encoding="utf-8", errors="replace")

    # the label, the waybill, the carrier's states through the fake 快递100, 签收 → 已完成
    desk.goto(f"{base}/admin/shipping/{order_id}")
    label = desk.request.get(base + desk.get_attribute("#label", "href"))  # 下载寄件单
    assert label.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(label.body())).pages)
    assert "李四" in text and order_no_of(live_app, order_id) in text
    desk.select_option("#waybill-form select[name=carrier]", "shunfeng")
    desk.fill("#waybill-form input[name=waybill_no]", "SF1234567890123")
    if desk.locator("#waybill-form input[name=totp_code]").count():
        with live_app.app_context():
            code = maker.next_code()
        desk.fill("#waybill-form input[name=totp_code]", code)
    desk.click("#ship")
    desk.wait_for_selector("#order-status[data-status=shipped]")
    shot(desk, "replacement-shipped")
    fake_express.add_waybill("shunfeng", "SF1234567890123", phone="5678")
    track(live_app)
    fake_express.advance("shunfeng", "SF1234567890123", 5, "【深圳市】快递员正在派件")
    fake_express.advance("shunfeng", "SF1234567890123", 3, "【深圳市】已签收，签收人：李四")
    track(live_app, a_while_later=True)
    phone.goto(f"{base}/h5/orders/{order_id}")
    assert phone.get_attribute("#status", "data-status") == "completed" and phone.text_content("#status") == "已完成"
    body = phone.text_content("body")
    assert "已签收" in body and "SF1234567890123" in body and "快递员正在派件" in body
    shot(phone, "replacement-completed")


def order_no_of(live_app, order_id: int) -> str:
    with live_app.app_context():
        return db.session.execute(sa.text("SELECT order_no FROM orders WHERE id = :id"), {"id": order_id}).scalar_one()


def track(live_app, a_while_later: bool = False) -> None:
    """The tracking cron's turn, and the jobs it queues; `a_while_later`: the 30 minutes since the last query
    have passed (the shipment's last query moved back, as the clock would)."""
    from wxbackend.shipping.tasks import track_shipments

    with live_app.app_context():
        if a_while_later:
            db.session.execute(sa.text(
                "UPDATE shipments SET last_queried_at = last_queried_at - interval '31 minutes'"))
            db.session.commit()
        track_shipments()
        db.session.commit()
        run_jobs()
