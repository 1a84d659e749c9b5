"""The last-try PIN warning on /pc/bind and /pc/renew tells the truth: hidden while the key has tries left (beside
"还可尝试2次"), shown as soon as the key reports FINAL_TRY, and then the PIN is sent only once the user confirms."""

from __future__ import annotations

import pytest
from pkcs11 import TokenFlag

from tests.support.helper_standin import serve_flagged_helper
from tests.support.live import make_demo_key, paid_order_for, shot

pytestmark = pytest.mark.browser
WARNING = "PIN码仅剩最后一次尝试机会，输错将锁定介质"


def pc_page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()


def test_no_warning_while_the_key_has_tries_left(live_app, live_helper, browser):
    make_demo_key(live_app)
    live_helper()
    pc = pc_page(browser)
    pc.goto(f"{live_app.base_url}/pc/bind")
    pc.wait_for_selector("#panel-pin:not([hidden])")
    assert pc.is_hidden("#final-try")
    pc.fill("#pin", "00000000")
    pc.click("#btn-get-code")
    pc.wait_for_function("() => document.querySelector('#pin-error').textContent.length > 0")
    assert pc.text_content("#pin-error") == "PIN码错误，还可尝试2次"
    assert pc.is_hidden("#final-try")
    shot(pc, "pc-bind-tries-left")
    pc.goto(f"{live_app.base_url}/pc/renew")
    pc.wait_for_function("() => document.querySelector('#detect-status') && "
                         "!document.querySelector('#detect-status').textContent.startsWith('正在检测')")
    assert pc.is_hidden("#final-try")


def test_final_try_shows_the_warning_and_needs_the_confirmation(live_app, browser, monkeypatch):
    serial, cert_id, _ = make_demo_key(live_app)
    paid_order_for(live_app, cert_id, "oFinalTry0001")
    server, port = serve_flagged_helper(live_app.base_url, TokenFlag.USER_PIN_FINAL_TRY)
    monkeypatch.setitem(live_app.config, "HELPER_PORT", port)
    try:
        pc = pc_page(browser)
        pc.goto(f"{live_app.base_url}/pc/bind")
        pc.wait_for_selector("#panel-pin:not([hidden])")
        assert pc.is_visible("#final-try") and WARNING in pc.text_content("#final-try")
        shot(pc, "pc-bind-final-try")
        pc.fill("#pin", "12345678")
        pc.click("#btn-get-code")  # not confirmed: the helper refuses before any login
        pc.wait_for_function("() => document.querySelector('#pin-error').textContent.length > 0")
        assert "最后一次" in pc.text_content("#pin-error") and pc.is_hidden("#panel-code")
        pc.check("#final-try-ok")
        pc.fill("#pin", "12345678")
        pc.click("#btn-get-code")
        pc.wait_for_selector("#panel-code:not([hidden])")
        assert pc.text_content("#code-last4") == serial[-4:]

        pc.goto(f"{live_app.base_url}/pc/renew")
        pc.wait_for_selector("#final-try:not([hidden])")
        assert pc.is_visible("#final-try")
        shot(pc, "pc-renew-final-try")
    finally:
        server.shutdown()
