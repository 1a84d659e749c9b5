"""Browser test of 我的发票: on the phone (headless Chromium, signed in through the fake WeChat OAuth) the user picks
two paid orders with 全选, fills in an invoice profile and submits; the issuing job runs; the SMTP sink on 127.0.0.1
receives the mail with the link; a PC browser with no session opens the link and downloads the PDF, whose text
names the buyer, the tax number, the amount and the invoice number; 开票历史 on the phone lists the invoice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from pypdf import PdfReader

from tests.support.flows import run_jobs
from tests.support.live import on_page, shot, wechat_phone
from wxbackend.core.db import db

pytestmark = pytest.mark.browser

OPENID = "oInvoicer0001"
TITLE = "广州某某科技有限公司"
TAX_NUMBER = "9144030071526726XG"


def paid_orders(live_app) -> list[str]:
    """Two paid orders of one verified user: 300.00 and 600.00 元."""
    from tests.support.factories import pending_order
    from wxbackend.orders.service import mark_paid
    from wxbackend.users.models import User

    with live_app.app_context():
        user = User(openid=OPENID, nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        orders = [pending_order(1, TITLE, user), pending_order(2, "广州某某科技有限公司（分公司）", user)]
        for order in orders:
            mark_paid(order.id, "wechat", "test")
        db.session.commit()
        return [order.order_no for order in orders]


def test_phone_requests_an_invoice_and_the_pc_downloads_it(live_app, browser, smtp_sink_server, tmp_path,
                                                           monkeypatch):
    sink = smtp_sink_server.start()
    sink.clear()
    for key, value in sink.settings.items():
        monkeypatch.setitem(live_app.config, key, value)
    monkeypatch.setitem(live_app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    first, second = paid_orders(live_app)
    base = live_app.base_url

    phone = wechat_phone(browser, live_app, OPENID)
    phone.goto(f"{base}/h5/")
    phone.click("a[data-tile=invoices]")
    phone.wait_for_selector("#invoice-form")
    assert on_page(phone, base, "/h5/invoices")
    for order_no, price in ((first, "¥300.00"), (second, "¥600.00")):
        row = phone.locator(f"label[data-order-no='{order_no}']")
        assert price in row.text_content() and "收费明细" in row.text_content()
    assert phone.text_content("#selected-total") == "¥0.00"
    phone.check("#select-all")
    assert phone.text_content("#selected-count") == "2" and phone.text_content("#selected-total") == "¥900.00"
    assert phone.is_checked("input[name=title_type][value=enterprise]")  # no profile yet: the fields are open
    phone.fill("#title", TITLE)
    phone.fill("#tax_number", TAX_NUMBER)
    phone.fill("#email", "finance@example.cn")
    phone.fill("#bank_name", "中国工商银行广州天河支行")
    phone.fill("#bank_account", "6222021234567890123")
    phone.fill("#mobile", "13812345678")
    shot(phone, "phone-invoice-request")
    phone.click("#invoice-submit")
    phone.wait_for_url(re.compile(r".*/h5/invoices/history$"))
    assert "开票申请已提交" in phone.text_content(".toast-ok")
    assert phone.get_attribute(".invoice", "data-status") == "pending" and "开具中" in phone.text_content(".invoice")

    with live_app.app_context():  # the worker's turn: issue, store, mail, notice
        run_jobs()
    [mail] = sink.messages
    assert mail.rcpt_to == ["finance@example.cn"]
    link = re.search(r"http://\S+/invoices/download/\S+", mail.text).group(0)
    assert link.startswith(base)

    pc = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = pc.new_page()  # a PC browser: no WeChat, no session
    with page.expect_download() as started:
        try:
            page.goto(link)
        except PlaywrightError:
            pass  # Chromium reports a navigation that became a download as aborted
    download = started.value
    saved = Path(tmp_path / "invoice.pdf")
    download.save_as(saved)
    assert download.suggested_filename.endswith(".pdf")
    text = "\n".join(p.extract_text() for p in PdfReader(saved).pages)
    invoice_no = re.fullmatch(r"【数安CA管家】电子发票 (\d{20})", mail.message["Subject"]).group(1)
    for expected in (TITLE, TAX_NUMBER, "900.00", "玖佰元整", invoice_no, first, second):
        assert expected in text, expected

    altered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    page.goto(altered)
    assert "无法下载发票" in page.text_content("#link-refused") and "已被修改" in page.text_content("#link-refused")
    shot(page, "pc-invoice-link-refused")

    phone.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    phone.reload()
    card = phone.locator(f".invoice[data-invoice-no='{invoice_no}']")
    assert "已开具" in card.text_content() and "¥900.00" in card.text_content() and "已发送" in card.text_content()
    assert card.locator(".invoice-link").input_value().startswith(f"{base}/invoices/download/")
    card.locator(".copy-link").click()
    phone.wait_for_function("() => document.getElementById('copy-status').textContent.length > 0")
    assert phone.evaluate("navigator.clipboard.readText()") == card.locator(".invoice-link").input_value()
    shot(phone, "phone-invoice-history")

    phone.goto(f"{base}/h5/invoices")
    assert phone.locator("#no-orders").count() == 1  # both orders are on the invoice now
