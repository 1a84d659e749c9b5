"""Browser test of 介质制证 (issue 14): a 制证 staff member's console page in headless Chromium drives the real helper
on a blank SoftHSM2 key; the PIN the key gets reaches the bank fake's payout remark, never the page."""

from __future__ import annotations

import pkcs11
import pytest
import sqlalchemy as sa

from tests.counter.support import BLANK_PIN, replacement_order
from tests.support.flows import run_jobs
from tests.support.live import console_sign_in, shot
from tests.support.staff import make_staff
from wxbackend.core.db import db

pytestmark = pytest.mark.browser


def test_a_maker_writes_a_replacement_key_from_the_console(live_app, live_helper, browser, softhsm_store,
                                                           fake_payouts, monkeypatch):
    fake_payouts.use(live_app, monkeypatch)
    with live_app.app_context():
        case = replacement_order(softhsm_store, pay_channel="wechat")
        order_id, order_no = case.order.id, case.order.order_no
        maker = make_staff("zhizheng", "maker", name="制证员")
    blank = softhsm_store.make_token(label="BLANK UKEY", pin=BLANK_PIN)
    live_helper()

    desk = console_sign_in(browser, live_app, maker)
    desk.click("nav.sidebar a:has-text('介质制证')")
    desk.click(f"tr[data-order='{order_id}'] a")
    assert order_no in desk.text_content("#order")
    desk.click("#btn-detect")
    desk.wait_for_selector("#counter-form:not([hidden])")
    assert blank in desk.text_content("#detect-status")
    desk.fill("#blank-pin", BLANK_PIN)
    shot(desk, "counter-ready")
    desk.click("#btn-start")
    desk.wait_for_function("() => document.getElementById('result').textContent.startsWith('制证完成')",
                           timeout=60_000)
    assert [li.get_attribute("class") for li in desk.query_selector_all("#progress li")] == ["done"] * 5
    result = desk.text_content("#result")
    assert "打款附言" in result and "本页不显示" in result
    shot(desk, "counter-done")

    with live_app.app_context():
        run_jobs()
        new_serial, medium = db.session.execute(sa.text(
            "SELECT c.serial, c.medium_number FROM orders o JOIN certificates c ON c.id = o.new_certificate_id "
            "WHERE o.id = :id"), {"id": order_id}).one()
    assert medium == blank and new_serial in result
    [payout] = fake_payouts.payouts()
    pin = payout["remark"].removeprefix("数字证书PIN码")
    assert len(pin) == 8 and pin.isdigit()
    desk.reload()
    assert "已发送" in desk.text_content("#delivery-status")
    assert pin not in desk.content()

    lib = softhsm_store.lib()
    [token] = [t for t in (s.get_token() for s in lib.get_slots(token_present=True))
               if t.serial.decode().strip() == blank]
    with token.open(user_pin=pin) as session:
        assert len(list(session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY}))) == 1
