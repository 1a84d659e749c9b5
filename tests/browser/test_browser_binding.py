"""The whole binding in headless Chromium (Debian's, driven by Playwright): the PC page with the real helper and
a SoftHSM2 key, and a second browser context as the phone. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.conftest import free_port
from tests.support.live import make_demo_key, on_page, shot, wechat_phone
from wxbackend.core.db import db
from wxbackend.identity.service import verify_identity

pytestmark = pytest.mark.browser

def test_bind_a_key_to_a_phone_end_to_end(live_app, live_helper, browser):
    serial, cert_id, not_after = make_demo_key(live_app)
    live_helper()
    base = live_app.base_url

    pc = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    pc.goto(f"{base}/pc/bind")
    pc.wait_for_selector("#panel-pin:not([hidden])")
    assert pc.text_content("#cert-org") == "广州某某科技有限公司"
    assert pc.text_content("#cert-last4") == serial[-4:]
    expected_until = not_after.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    assert expected_until in pc.text_content("#cert-validity")

    pc.fill("#pin", "00000000")  # a wrong PIN first: tries left, no code
    pc.click("#btn-get-code")
    pc.wait_for_function("() => document.querySelector('#pin-error').textContent.length > 0")
    assert pc.text_content("#pin-error") == "PIN码错误，还可尝试2次"
    assert pc.is_hidden("#panel-code")

    pc.fill("#pin", "12345678")
    pc.click("#btn-get-code")
    pc.wait_for_selector("#panel-code:not([hidden])")
    code = pc.text_content("#code")
    assert len(code) == 8 and code.isdigit()
    assert pc.text_content("#code-last4") == serial[-4:]
    assert pc.locator("#qr svg").count() == 1
    assert pc.text_content("#countdown").startswith("0")
    shot(pc, "pc-bind-code")

    phone = wechat_phone(browser, live_app, "oZhangSan0001")
    phone.goto(f"{base}/h5/bind")  # not signed in: through WeChat OAuth (the fake), then back here
    assert on_page(phone, base, "/h5/bind")
    with live_app.app_context():  # this person passed the identity check before: the PC can recognise them
        user_id = db.session.scalar(sa.text("SELECT id FROM users WHERE openid = 'oZhangSan0001'"))
        verify_identity(user_id, "张三", "11010519491231002X", "13812345678", True)
        db.session.commit()
    phone.fill("input[name=code]", code)
    phone.fill("input[name=last4]", serial[-4:])
    phone.click("button[type=submit]")
    phone.wait_for_selector("text=请在电脑上确认绑定")
    assert "广州某某科技有限公司" not in phone.text_content("body")  # not told before the PC confirms

    pc.wait_for_selector("#claim:not([hidden])")
    claim = pc.text_content("#claim-text")
    assert re.fullmatch(r"微信用户 张\*\* 138\*\*\*\*5678（\d\d:\d\d） 请求绑定，确认？", claim), claim
    shot(pc, "pc-bind-claimed")
    pc.click("#btn-confirm")
    pc.wait_for_selector("#panel-done:not([hidden])")
    assert pc.text_content("#result") == "绑定成功"
    assert pc.is_visible("#next-steps") and pc.get_attribute("#to-renew", "href") == "/pc/renew"
    shot(pc, "pc-bind-done")

    phone.wait_for_selector("text=绑定成功")
    shot(phone, "phone-bind-done")
    phone.click("#view-cert")
    phone.wait_for_selector("#org")
    assert phone.text_content("#org") == "广州某某科技有限公司"
    assert expected_until in phone.text_content("#validity")
    phone.goto(f"{base}/h5/certificates")
    row = phone.locator("a[data-serial]")
    assert row.count() == 1
    assert "广州某某科技有限公司" in row.text_content() and expected_until in row.text_content()
    shot(phone, "phone-certificates")


def test_two_keys_plugged_in_says_unplug_one(live_app, live_helper, softhsm_store, browser):
    make_demo_key(live_app)
    softhsm_store.make_token(label="SECOND KEY")
    live_helper()
    pc = browser.new_context(locale="zh-CN").new_page()
    pc.goto(f"{live_app.base_url}/pc/bind")
    pc.wait_for_selector("#btn-redetect:not([hidden])")
    assert pc.text_content("#detect-status") == "每次只能操作一个数字证书，请拔出其他证书"
    shot(pc, "pc-two-keys")


def test_no_helper_running_gives_guidance(live_app, monkeypatch, browser):
    monkeypatch.setitem(live_app.config, "HELPER_PORT", free_port())
    pc = browser.new_context(locale="zh-CN").new_page()
    pc.goto(f"{live_app.base_url}/pc/bind")
    pc.wait_for_selector("#helper-missing:not([hidden])")
    assert "未检测到“数安证书助手”" in pc.text_content("#helper-missing")
    assert pc.is_visible("#btn-redetect")


def test_h5_home_without_a_session_goes_through_wechat_oauth(live_app, browser):
    from wxbackend.users.models import User

    base = live_app.base_url
    phone = wechat_phone(browser, live_app, "oOAuthUser0042")
    visited = []
    phone.on("request", lambda request: visited.append(request.url) if request.is_navigation_request() else None)
    phone.goto(f"{base}/h5/")
    assert on_page(phone, base, "/h5/")
    assert phone.locator(".hero h1").text_content() == "数安CA管家"
    assert "证书绑定" in phone.text_content("body")
    fake = live_app.config["WECHAT_API_BASE"]
    assert any(url.startswith(f"{fake}connect/oauth2/authorize?appid=") and "snsapi_base" in url for url in visited)
    assert any(url.startswith(f"{base}/wechat/oauth/callback?code=") for url in visited)
    shot(phone, "phone-oauth-home")
    with live_app.app_context():
        user = db.session.scalar(sa.select(User).where(User.openid == "oOAuthUser0042"))
        assert user is not None
    # signed in: the next page opens without another trip to WeChat
    visited.clear()
    phone.goto(f"{base}/h5/certificates")
    assert visited == [f"{base}/h5/certificates"]
