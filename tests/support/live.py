"""Browser-test support, loaded as a pytest plugin by tests/conftest.py: the backend served live over HTTP on a
database of its own, headless Chromium (Debian's, through Playwright), a phone context signed in through the
fake WeChat OAuth, and screenshots in test-artifacts/."""

from __future__ import annotations

import os
import threading

import pytest
import redis
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests.conftest import ARTIFACTS, PG_ADMIN_URL, TEST_REDIS_URL, create_database, drop_database, free_port
from wxbackend import create_app
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.certificates.models import Binding
from wxbackend.core.db import db
from wxbackend.orders.service import create_order, mark_paid
from wxbackend.users.models import User

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


def empty_live(live) -> None:
    """The live server's database, Redis and fake WeChat as a new test expects them: empty."""
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    requests.post(live.config["WECHAT_API_BASE"] + "_fake/reset", timeout=10).raise_for_status()
    with live.app_context():
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture
def live_db(live):
    """The live server, emptied before the test (a previous failure cannot leak into it) and after it, whatever
    the test's outcome."""
    empty_live(live)
    try:
        yield live
    finally:
        empty_live(live)


@pytest.fixture
def live_app(live_db, softhsm_store, monkeypatch):
    monkeypatch.setitem(live_db.config, "SOFTHSM2_CONF", str(softhsm_store.conf))
    return live_db


@pytest.fixture
def live_helper(live_app, start_helper, monkeypatch):
    def start():
        helper = start_helper(HELPER_ALLOWED_ORIGINS=live_app.base_url)
        monkeypatch.setitem(live_app.config, "HELPER_PORT", helper.port)
        return helper
    return start


class WatchedBrowser:
    """Chromium whose every context reports its pages' uncaught script errors and console errors, so that a test
    fails on any of them (a page whose script broke still shows its server-rendered text)."""

    # The console errors a page cannot avoid and that are not script errors: a refused fetch to an absent helper,
    # a resource answered 4xx on purpose.
    EXPECTED_CONSOLE = ("Failed to load resource", "net::ERR_CONNECTION_REFUSED")

    def __init__(self, chromium):
        self._chromium = chromium
        self.errors: list[str] = []

    def new_context(self, **options):
        context = self._chromium.new_context(**options)
        context.on("weberror", lambda error: self.errors.append(f"script error: {error.error}"))
        context.on("console", self._console)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    def _console(self, message) -> None:
        if message.type == "error" and not any(text in message.text for text in self.EXPECTED_CONSOLE):
            self.errors.append(f"console error: {message.text}")

    def __getattr__(self, name):
        return getattr(self._chromium, name)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium):
    """The browser for one test; the test fails if any page it opened raised a script error."""
    watched = WatchedBrowser(chromium)
    yield watched
    assert not watched.errors, "the pages reported errors:\n" + "\n".join(watched.errors)


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


def pc_signed_in_by_qr(browser, live_app, phone, path: str):
    """A desktop browser that opens `path` (an H5 page), is sent to 扫码登录, and is signed in by `phone` scanning
    the QR code (the link the code holds, as the login API gave it to the page) and confirming; it lands on `path`."""
    base = live_app.base_url
    pc = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    with pc.expect_response(lambda r: r.url == f"{base}/pc/api/login" and r.request.method == "POST") as started:
        pc.goto(base + path)
    assert pc.url.startswith(f"{base}/pc/login?next=")
    pc.wait_for_selector("#login-qr svg")
    phone.goto(started.value.json()["qr_link"])  # what 微信扫一扫 opens
    phone.click("#pc-login-confirm")
    phone.wait_for_selector("#pc-login-result")
    pc.wait_for_url(base + path, timeout=15_000)
    return pc


def console_sign_in(browser, live_app, staff):
    """A desk browser signed in to the console as `staff` (password, then TOTP), on the 待办工作 page."""
    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()
    base = live_app.base_url
    desk.goto(f"{base}/admin/login")
    desk.fill("input[name=username]", staff.username)
    desk.fill("input[name=password]", staff.password)
    desk.click("#sign-in")
    desk.wait_for_selector("#totp-form")
    with live_app.app_context():
        code = staff.next_code()
    desk.fill("#code", code)
    desk.click("#totp-submit")
    desk.wait_for_selector("h1:has-text('待办工作')")
    return desk


def on_page(page, base: str, path: str) -> bool:
    """The page shows `path` of the backend (a `#wechat_redirect` fragment may ride along, as in WeChat)."""
    return page.url.split("#")[0] == base + path


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fill_order_terms(phone, verified: bool = False) -> None:
    """On a renew page: tick the 电子认证服务协议 when it is shown (the first order), fill 经办人 (only the email when
    the identity check prefilled the rest), and 收件人 by 从经办人处拷贝 plus an address, as a person would."""
    if phone.is_visible("#agree-agreement"):
        phone.check("#agree-agreement")
    if not verified:
        phone.fill("#operator_id_number", "11010519491231002X")
        phone.fill("#operator_name", "张三")
        phone.fill("#operator_mobile", "13812345678")
    phone.fill("#operator_email", "zhangsan@example.cn")
    phone.check("#copy-operator")
    if phone.is_visible("#recipient_address"):
        phone.fill("#recipient_address", "广东省广州市天河区体育西路100号")


def paid_order_for(live_app, certificate_id: int, openid: str) -> str:
    """A paid renewal order (待制证) of a new verified user bound to the certificate; its 受理单号."""
    with live_app.app_context():
        user = User(openid=openid, nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        db.session.add(Binding(user_id=user.id, certificate_id=certificate_id))
        order = create_order(user.id, certificate_id, 1, agreement_version=SERVICE_AGREEMENT.version)
        mark_paid(order.id, "wechat", "test")
        db.session.commit()
        return order.order_no
