"""The whole binding in headless Chromium (Debian's, driven by Playwright): the PC page with the real helper and
a SoftHSM2 key, and a second browser context as the phone. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import threading
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.conftest import ARTIFACTS, PG_ADMIN_URL, TEST_REDIS_URL, create_database, drop_database, free_port
from wxbackend import create_app
from wxbackend.extensions import db

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.50"}


@pytest.fixture(scope="module")
def live(app_config):
    """The backend served over HTTP from a thread, on a database of its own (real commits)."""
    from flask_migrate import upgrade

    name = f"cagj_live_{os.getpid()}"
    url = create_database(PG_ADMIN_URL, name)
    port = free_port()
    live_app = create_app({**app_config, "DATABASE_URL": url, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    with live_app.app_context():
        upgrade()
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live_app.base_url = f"http://127.0.0.1:{port}"
    yield live_app
    server.shutdown()
    with live_app.app_context():
        db.engine.dispose()
    drop_database(PG_ADMIN_URL, name)


@pytest.fixture
def live_app(live, softhsm_store, monkeypatch):
    monkeypatch.setitem(live.config, "SOFTHSM2_CONF", str(softhsm_store.conf))
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    yield live
    with live.app_context():
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture
def live_helper(live_app, start_helper, monkeypatch):
    def start():
        helper = start_helper(HELPER_ALLOWED_ORIGINS=live_app.base_url)
        monkeypatch.setitem(live_app.config, "HELPER_PORT", helper.port)
        return helper
    return start


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def make_demo_key(live_app):
    from wxbackend.demo.service import make_demo_key as make

    with live_app.app_context():
        key = make(organisation="广州某某科技有限公司", expires_in_days=30, email="it@example.cn")
        db.session.commit()
        return key.serial, key.certificate.id, key.certificate.not_after


def wechat_phone(browser, live_app, openid: str):
    """A phone whose WeChat user is `openid`: the fake's authorize page knows it by a cookie of its own."""
    phone = browser.new_context(**PHONE, locale="zh-CN").new_page()
    fake = live_app.config["WECHAT_API_BASE"]
    phone.goto(f"{fake}_fake/as?openid={openid}&next=/_fake/calls")
    return phone


def on_page(page, base: str, path: str) -> bool:
    """The page shows `path` of the backend (a `#wechat_redirect` fragment may ride along, as in WeChat)."""
    return page.url.split("#")[0] == base + path


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


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
    pc.wait_for_function("document.querySelector('#pin-error').textContent.length > 0")
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
    phone.fill("input[name=code]", code)
    phone.fill("input[name=last4]", serial[-4:])
    phone.click("button[type=submit]")
    phone.wait_for_selector("text=请在电脑上确认绑定")

    pc.wait_for_selector("#claim:not([hidden])")
    assert pc.text_content("#claim-text") == "微信用户 ***0001 请求绑定，确认？"
    shot(pc, "pc-bind-claimed")
    pc.click("#btn-confirm")
    pc.wait_for_selector("#panel-done:not([hidden])")
    assert pc.text_content("#result") == "绑定成功"
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
