"""Browser test of 批量续期 (issue 15 item 4): on the phone three certificates are ticked in 我的数字证书 and renewed
as one group, paid by one WeChat Pay payment through the fake gateway (its signed notification delivered to our
endpoint), invoiced on one invoice covering the three orders; then the PC page writes the three keys one after
another with the real helper, the SoftHSM2 tokens swapped between them ("每次只能操作一个数字证书"): the second key is
pulled out while its new certificate is being written, the third is written meanwhile, and the second, plugged in
again, resumes with the certificate already issued."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography import x509
from pkcs11 import Attribute, ObjectClass

from tests.support.flows import run_jobs
from tests.support.live import fill_order_terms, on_page, shot, wechat_phone
from tests.support.wechatpay import NOTIFY_PATH, FakeWeChatPay
from tests.support.x509check import verify_chain
from wxbackend.ca.service import get_authority
from wxbackend.core.db import db

pytestmark = pytest.mark.browser

OPENID = "oBatchRenewer01"
PIN = "12345678"
ORGANISATIONS = ("广州某某科技有限公司", "深圳某某贸易有限公司", "佛山某某制造有限公司")
WEIXIN_JS_BRIDGE = """
window.WeixinJSBridge = {invoke: (name, params, callback) => {
  window.__payRequest = {name, params};
  setTimeout(() => callback({err_msg: "get_brand_wcpay_request:ok"}), 50);
}};
"""


class KeyDrawer:
    """The three keys: each SoftHSM2 token is a directory of the store's token directory; pulling a key out moves
    it into a drawer beside it, plugging it in moves it back (the helper rescans on its next request)."""

    def __init__(self, conf: Path):
        self.tokens = conf.parent / "tokens"
        self.drawer = conf.parent / "drawer"
        self.drawer.mkdir(exist_ok=True)
        self.dirs: dict[str, str] = {}  # token serial → its directory name

    def made(self, serial: str, before: set[str]) -> None:
        [new] = {p.name for p in self.tokens.iterdir()} - before
        self.dirs[serial] = new

    def pull(self, serial: str) -> None:
        shutil.move(str(self.tokens / self.dirs[serial]), str(self.drawer / self.dirs[serial]))

    def plug(self, serial: str) -> None:
        shutil.move(str(self.drawer / self.dirs[serial]), str(self.tokens / self.dirs[serial]))


def three_keys(live_app, drawer: KeyDrawer) -> list[tuple[str, int]]:
    """Three customers' keys (30, 40, 50 days from expiry), all bound to one verified user; (token serial,
    certificate id) each, every key pulled out."""
    from wxbackend.certificates.models import Binding
    from wxbackend.demo.service import make_demo_key
    from wxbackend.users.models import User

    keys = []
    with live_app.app_context():
        user = User(openid=OPENID, nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        for days, organisation in zip((30, 40, 50), ORGANISATIONS, strict=True):
            before = {p.name for p in drawer.tokens.iterdir()} if drawer.tokens.exists() else set()
            key = make_demo_key(organisation=organisation, expires_in_days=days, email="it@example.cn")
            drawer.made(key.serial, before)
            db.session.add(Binding(user_id=user.id, certificate_id=key.certificate.id))
            keys.append((key.serial, key.certificate.id))
        db.session.commit()
    for serial, _ in keys:
        drawer.pull(serial)
    return keys


def key_rows(pc) -> dict[str, str]:
    """The PC page's list: organisation → status."""
    return {row.query_selector("td").text_content(): row.get_attribute("data-status")
            for row in pc.query_selector_all("#group-keys tbody tr")}


def write_with_pin(pc) -> None:
    pc.wait_for_selector("#panel-order:not([hidden])", timeout=30_000)
    pc.fill("#pin", PIN)
    pc.click("#btn-renew")


def test_three_certificates_one_payment_one_invoice_three_keys_written_one_at_a_time(
        live_app, live_helper, browser, softhsm_store, fake_wechatpay_server, smtp_sink_server, tmp_path,
        monkeypatch):
    gateway = FakeWeChatPay(fake_wechatpay_server.base_url, fake_wechatpay_server.merchant.public_key_pem)
    gateway.reset()
    sink = smtp_sink_server.start()
    sink.clear()
    for key, value in sink.settings.items():
        monkeypatch.setitem(live_app.config, key, value)
    monkeypatch.setitem(live_app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    drawer = KeyDrawer(softhsm_store.conf)
    (first, first_id), (second, second_id), (third, third_id) = three_keys(live_app, drawer)
    base = live_app.base_url

    # --- the phone: tick three certificates, one group, one price ---------------------------------------------
    phone = wechat_phone(browser, live_app, OPENID)
    phone.context.add_init_script(WEIXIN_JS_BRIDGE)
    phone.goto(f"{base}/h5/certificates")
    assert on_page(phone, base, "/h5/certificates")
    boxes = phone.locator("input[name=certificate]")
    assert boxes.count() == 3
    for index in range(3):
        boxes.nth(index).check()
    shot(phone, "phone-batch-pick")
    phone.click("#batch-renew")
    phone.wait_for_selector("#batch-renew-form")
    assert phone.locator(".batch-item").count() == 3
    assert phone.text_content("#batch-total") == "¥900.00"
    with phone.expect_navigation():  # one choice for all: three times two years
        phone.select_option("#years-all", "2")
    assert phone.text_content("#batch-total") == "¥1800.00"
    with phone.expect_navigation():
        phone.select_option("#years-all", "1")
    assert phone.text_content("#batch-total") == "¥900.00"
    # two years for the second certificate: the page re-quotes, the total is what will be charged
    with phone.expect_navigation():
        phone.select_option(f"select[name=years_{second_id}]", "2")
    assert phone.text_content("#batch-total") == "¥1200.00"
    amounts = [a.text_content() for a in phone.query_selector_all(".batch-amount")]
    assert amounts == ["¥300.00", "¥600.00", "¥300.00"]
    shot(phone, "phone-batch-quote")
    fill_order_terms(phone)  # the agreement (first order), 经办人 and 收件人 of every order
    phone.click("#create-group")
    phone.wait_for_selector("#group-no")
    group_no = phone.text_content("#group-no")
    assert phone.get_attribute("#group-status", "data-status") == "pending_payment"
    assert phone.text_content("#group-amount") == "¥1200.00"
    assert phone.locator("#group-orders a[data-order-no]").count() == 3

    # --- one WeChat Pay payment for the group ----------------------------------------------------------------
    phone.click("#pay-wechat")
    phone.wait_for_function("() => window.__payRequest !== undefined")
    with live_app.app_context():
        [(out_trade_no, total)] = db.session.execute(sa.text(
            "SELECT p.out_trade_no, p.amount_fen FROM payments p JOIN order_groups g ON g.id = p.group_id "
            "WHERE g.group_no = :no"), {"no": group_no}).all()
    assert total == 120000 and gateway.transaction(out_trade_no)["total"] == 120000
    notification = gateway.pay(out_trade_no)
    delivered = requests.post(base + NOTIFY_PATH, data=notification.body.encode(), headers=notification.headers,
                              timeout=10)
    assert delivered.status_code in (200, 204), delivered.text
    phone.wait_for_selector("#group-status[data-status=paid]", timeout=20_000)  # polled, then reloaded
    assert [a.get_attribute("data-status") for a in phone.query_selector_all("#group-orders a")] == [
        "ready_to_write"] * 3
    assert f"/pc/renew?group={group_no}" in phone.text_content("#next-step")
    shot(phone, "phone-batch-paid")

    # --- one invoice covering the three orders ---------------------------------------------------------------
    phone.click("#group-invoice")
    phone.wait_for_selector("#invoice-form")
    phone.check("#select-all")
    assert phone.text_content("#selected-count") == "3" and phone.text_content("#selected-total") == "¥1200.00"
    phone.fill("#title", ORGANISATIONS[0])
    phone.fill("#tax_number", "9144030071526726XG")
    phone.fill("#email", "finance@example.cn")
    phone.fill("#bank_name", "中国工商银行广州天河支行")
    phone.fill("#bank_account", "6222021234567890123")
    phone.fill("#mobile", "13812345678")
    phone.click("#invoice-submit")
    phone.wait_for_url(re.compile(r".*/h5/invoices/history$"))
    with live_app.app_context():
        run_jobs()
        invoices = db.session.execute(sa.text(
            "SELECT i.id, i.amount_fen, i.status, count(it.id) FROM invoices i JOIN invoice_items it "
            "ON it.invoice_id = i.id GROUP BY i.id")).all()
        grouped = db.session.execute(sa.text(
            "SELECT it.order_id FROM invoice_items it JOIN orders o ON o.id = it.order_id "
            "JOIN order_groups g ON g.id = o.group_id WHERE g.group_no = :no"), {"no": group_no}).scalars().all()
    [(_, amount, status, items)] = invoices
    assert (amount, items, len(grouped)) == (120000, 3, 3)
    assert status == "issued"
    [mail] = sink.messages
    assert mail.rcpt_to == ["finance@example.cn"]

    # --- the PC: the group's keys, one at a time ---------------------------------------------------------------
    helper = live_helper()
    pc = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    pc.goto(f"{base}/pc/renew?group={group_no}")
    pc.wait_for_selector("#group-keys tbody tr")
    assert "每次只能操作一个数字证书" in pc.text_content("#one-at-a-time")
    assert key_rows(pc) == dict.fromkeys(ORGANISATIONS, "ready_to_write")
    assert "待写入" in pc.text_content("#group-keys") and "还有 3 个介质待写入" in pc.text_content("#group-remaining")
    pc.wait_for_selector("#btn-redetect:not([hidden])")  # no key plugged in yet
    shot(pc, "pc-batch-list")

    # the first key
    drawer.plug(first)
    pc.click("#btn-redetect")
    write_with_pin(pc)
    pc.wait_for_selector("#panel-done:not([hidden])", timeout=60_000)
    assert pc.text_content("#result") == "续期成功"
    pc.wait_for_function("() => document.getElementById('group-remaining').textContent.includes('还有 2 个')")
    assert key_rows(pc)[ORGANISATIONS[0]] == "completed"
    assert "已写入" in pc.text_content("#group-keys")

    # the second key, pulled out while its new certificate is being written
    drawer.pull(first)
    drawer.plug(second)

    def pull_second_then_send(route):
        drawer.pull(second)
        route.continue_()

    pc.route(f"{helper.url}/v1/install", pull_second_then_send, times=1)
    pc.click("#btn-next")
    write_with_pin(pc)
    pc.wait_for_function(
        "() => document.querySelector('#group-keys tr[data-status=failed]') !== null", timeout=60_000)
    pc.wait_for_selector("#btn-redetect:not([hidden])")
    assert "介质已拔出" in pc.text_content("#detect-status")
    assert "写入失败" in pc.text_content("#group-keys")
    rows = key_rows(pc)
    assert (rows[ORGANISATIONS[0]], rows[ORGANISATIONS[1]], rows[ORGANISATIONS[2]]) == (
        "completed", "failed", "ready_to_write")
    shot(pc, "pc-batch-second-pulled")
    with live_app.app_context():
        assert db.session.execute(sa.text("SELECT status FROM orders WHERE certificate_id = :id"),
                                  {"id": second_id}).scalar_one() == "issued"  # issued, not yet on the key

    # the failing key leaves the others writable: the third key meanwhile
    drawer.plug(third)
    pc.click("#btn-redetect")
    write_with_pin(pc)
    pc.wait_for_selector("#panel-done:not([hidden])", timeout=60_000)
    assert pc.text_content("#result") == "续期成功"
    pc.wait_for_function("() => document.getElementById('group-remaining').textContent.includes('还有 1 个')")
    assert key_rows(pc)[ORGANISATIONS[2]] == "completed"

    # the second key again: the certificate already issued is installed, nothing is issued twice
    drawer.pull(third)
    drawer.plug(second)
    pc.click("#btn-next")
    pc.wait_for_selector("#panel-order:not([hidden])", timeout=30_000)
    assert pc.is_visible("#resume-note")
    write_with_pin(pc)
    pc.wait_for_selector("#panel-done:not([hidden])", timeout=60_000)
    assert pc.text_content("#result") == "续期成功"
    pc.wait_for_function("() => document.getElementById('group-remaining').textContent.includes('全部证书已写入完成')")
    assert key_rows(pc) == dict.fromkeys(ORGANISATIONS, "completed")
    assert pc.is_hidden("#btn-next")
    shot(pc, "pc-batch-done")

    # each token holds its one new certificate beside its one new key, chaining to our CA
    with live_app.app_context():
        authority = get_authority()
        statuses = db.session.execute(sa.text(
            "SELECT o.status FROM orders o JOIN order_groups g ON g.id = o.group_id WHERE g.group_no = :no"),
            {"no": group_no}).scalars().all()
        for organisation in ORGANISATIONS:  # the demo key's certificate and one renewal each: none issued twice
            assert db.session.execute(sa.text("SELECT count(*) FROM ca_issued_certificates WHERE subject LIKE :o"),
                                      {"o": f"%{organisation}%"}).scalar_one() == 2
    assert statuses == ["completed"] * 3
    drawer.plug(first)
    drawer.plug(third)
    lib = softhsm_store.lib()
    for serial in (first, second, third):
        [token] = [t for t in (s.get_token() for s in lib.get_slots(token_present=True))
                   if (t.serial.decode() if isinstance(t.serial, bytes) else t.serial).strip() == serial]
        with token.open(user_pin=PIN) as session:
            certs = [(bytes(o[Attribute.ID]), x509.load_der_x509_certificate(o[Attribute.VALUE]))
                     for o in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
            keys = [bytes(k[Attribute.ID]) for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})]
        [(cka_id, new)] = certs
        assert keys == [cka_id]
        assert "OK" in verify_chain(new, authority.issuing, authority.root)

    phone.goto(f"{base}/h5/orders")
    for order_no in phone.eval_on_selector_all("a[data-order-no]", "els => els.map(e => e.dataset.orderNo)"):
        assert "已完成" in phone.text_content(f"a[data-order-no='{order_no}']")
