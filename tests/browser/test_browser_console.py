"""The staff console in Chromium, as the CA's staff work in it: an admin creates an auditor and two finance users,
each enrols TOTP (codes computed with pyotp, as their authenticator app would) and sets a password; finance
uploads a GBK statement whose one line the matching job cannot match, matches it to the order by hand, and the
customer's phone shows the order 已支付 with the WeChat notice sent; a refund above the threshold, asked for by one
finance user, is approved by another and then by the admin, the first approver being refused the second step."""

from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa

from tests.support.factories import bind, make_certificate
from tests.support.flows import run_jobs
from tests.support.live import shot, wechat_phone
from tests.support.staff import make_staff
from tests.support.wechat import FakeWeChat
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.core.db import db
from wxbackend.orders.service import create_order
from wxbackend.payments.transfer import choose_transfer
from wxbackend.users.models import User

pytestmark = pytest.mark.browser
ORG = "广州某某科技有限公司"
HEADER = "流水号,交易日期,金额,付款人户名,付款人账号,附言"
NEW_PASSWORD = "a long passphrase of my own"


def desk(browser):
    return browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN").new_page()


def sign_in_first_time(page, base: str, username: str, one_time: str) -> None:
    """The first sign-in of a new account: password, TOTP enrolment from the QR page's secret, own password."""
    page.goto(f"{base}/admin/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", one_time)
    page.click("#sign-in")
    page.wait_for_selector("#totp-qr svg")
    secret = page.text_content("#totp-secret").strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#enrol-submit")
    page.wait_for_selector("#password-form")
    page.fill("input[name=current_password]", one_time)
    page.fill("input[name=new_password]", NEW_PASSWORD)
    page.fill("input[name=new_password_again]", NEW_PASSWORD)
    page.click("#password-submit")
    page.wait_for_selector("h1:has-text('待办工作')")


def create_account(admin, base: str, username: str, name: str, *roles: str) -> str:
    admin.goto(f"{base}/admin/staff/new")
    admin.fill("input[name=username]", username)
    admin.fill("input[name=display_name]", name)
    for role in roles:
        admin.check(f"input[name=roles][value={role}]")
    admin.click("#staff-create")
    admin.wait_for_selector("#one-time-password")
    assert admin.text_content("#created-username") == username
    return admin.text_content("#one-time-password").strip()


def customer_order(live_app, browser) -> tuple:
    """A customer on the phone with a renewal order waiting for a corporate transfer; (phone, order id, no, code)."""
    phone = wechat_phone(browser, live_app, "oConsole00001")
    phone.goto(f"{live_app.base_url}/h5/")  # the first visit signs them in through WeChat OAuth
    with live_app.app_context():
        user = db.session.scalar(sa.select(User).where(User.openid == "oConsole00001"))
        user.identity_verified = True
        certificate = make_certificate(ORG, expires_in_days=40)
        bind(user, certificate)
        order = create_order(user.id, certificate.id, 1, agreement_version=SERVICE_AGREEMENT.version)
        choose_transfer(user.id, order.id)
        db.session.commit()
        return phone, order.id, order.order_no, order.transfer_code


def test_staff_create_accounts_match_a_payment_by_hand_and_approve_a_refund_with_four_eyes(
        live_app, browser, fake_wechat_server, tmp_path, monkeypatch):
    base = live_app.base_url
    wechat = FakeWeChat(fake_wechat_server.base_url)
    wechat.reset()
    monkeypatch.setitem(live_app.config, "REFUND_APPROVAL_THRESHOLD_FEN", 10000)  # 100.00 yuan
    with live_app.app_context():
        root = make_staff("root", "admin", name="王管理")
    phone, order_id, order_no, code = customer_order(live_app, browser)

    admin = desk(browser)
    admin.goto(f"{base}/admin/login")
    admin.fill("input[name=username]", "root")
    admin.fill("input[name=password]", root.password)
    admin.click("#sign-in")
    admin.wait_for_selector("#totp-form")
    with live_app.app_context():
        admin.fill("#code", root.next_code())
    admin.click("#totp-submit")
    admin.wait_for_selector("#who")
    passwords = {"shenhe": create_account(admin, base, "shenhe", "李审核", "auditor"),
                 "caiwu": create_account(admin, base, "caiwu", "赵财务", "finance"),
                 "caiwu2": create_account(admin, base, "caiwu2", "钱财务", "finance")}
    admin.goto(f"{base}/admin/staff")
    assert admin.locator("#staff tr[data-username]").count() == 4
    shot(admin, "admin-staff-accounts")

    auditor, finance, finance2 = desk(browser), desk(browser), desk(browser)
    sign_in_first_time(auditor, base, "shenhe", passwords["shenhe"])
    sign_in_first_time(finance, base, "caiwu", passwords["caiwu"])
    sign_in_first_time(finance2, base, "caiwu2", passwords["caiwu2"])
    assert auditor.locator("a.tile", has_text="银行流水人工队列").count() == 0  # not an auditor's queue
    assert auditor.goto(f"{base}/admin/bank/manual").status == 403
    shot(finance, "admin-finance-home")

    # finance uploads the bank's GBK statement: the payer's name is a branch's, so the job cannot match it
    statement = tmp_path / "工行流水.csv"
    statement.write_bytes(f"{HEADER}\nB20261202001,2026-12-02,300.00,{ORG}番禺分公司,4405 0101 2345 6789 0123,{code}\n"
                          .encode("gbk"))
    finance.goto(f"{base}/admin/bank/import")
    finance.set_input_files("input[name=statement]", str(statement))
    finance.click("#preview")
    finance.wait_for_selector("#confirm-import")
    assert finance.text_content("#count-new").strip().startswith("1")
    assert f"{ORG}番禺分公司" in finance.text_content("#lines")
    shot(finance, "admin-statement-preview")
    finance.click("#confirm-import")
    finance.wait_for_load_state()
    with live_app.app_context():
        run_jobs()  # the matching job: the payer's name differs, so the line waits for a person
    finance.goto(f"{base}/admin/bank/manual")
    row = finance.locator("[data-txn=B20261202001]")
    assert "付款人户名" in row.text_content()
    row.locator("a").first.click()
    finance.wait_for_selector("#find-order")
    finance.fill("input[name=order_no]", order_no)
    finance.click("#find")
    finance.wait_for_selector("#match-form")
    finance.fill("#match-form textarea[name=note], #match-form input[name=note]", "分公司代付，已电话核实")
    shot(finance, "admin-manual-match")
    finance.click("#match")
    finance.wait_for_selector(".flash-ok")
    assert f"已匹配受理单{order_no}" in finance.text_content(".flash-ok")
    assert finance.locator("[data-txn=B20261202001]").count() == 0  # out of the queue
    with live_app.app_context():
        run_jobs()  # the notices
    phone.goto(f"{base}/h5/orders/{order_id}")
    assert phone.get_attribute("#status", "data-status") == "ready_to_write"
    assert phone.text_content("#status") == "已支付/待制证"
    notices = [m for m in wechat.messages() if m["touser"] == "oConsole00001"]
    assert any(m["template_id"] == "TPL-payment_received" for m in notices), notices
    shot(phone, "phone-order-paid-by-hand")

    # a refund of 300.00 (above 100.00): asked by one finance user, decided by another, then by the admin
    finance2.goto(f"{base}/admin/orders/{order_id}/refund")
    finance2.fill("#refund-form textarea[name=reason], #refund-form input[name=reason]", "客户重复缴费，申请退款")
    finance2.click("#refund-submit")
    finance2.wait_for_selector("#pending-approval, #approval-summary")
    finance.goto(f"{base}/admin/approvals")
    finance.locator("[data-approval]").first.locator("a").first.click()
    finance.wait_for_selector("#approve-form")
    assert "300.00" in finance.text_content("#approval-summary")
    shot(finance, "admin-approval-step-1")
    finance.click("#approve")
    finance.wait_for_load_state()
    assert finance.locator("#approve-form").count() == 0  # the second step is not for the same person
    assert "您已审批过本申请的第1步，同一申请的其他步骤须由他人审批" in finance.text_content("#why-not")
    approval_url = finance.url
    refused = finance.request.post(approval_url.split("?")[0] + "/approve", form={
        "csrf_token": finance.locator("meta[name=csrf-token]").get_attribute("content"), "nonce": "forged"})
    assert refused.status in (400, 403, 409)
    admin.goto(approval_url)
    admin.wait_for_selector("#approve-form")
    admin.click("#approve")
    admin.wait_for_selector("#approval-status")
    assert admin.text_content("#approval-status") == "已批准"
    shot(admin, "admin-approval-approved")
    phone.goto(f"{base}/h5/orders/{order_id}")
    assert phone.get_attribute("#status", "data-status") == "refunding"  # a transfer is paid back by the bank

    # every step is in the audit trail the console shows
    admin.goto(f"{base}/admin/audit?action=approval.")
    trail = admin.text_content("body")
    assert "approval.approve" in trail and "refused" in trail
    admin.goto(f"{base}/admin/audit?action=bank.line_matched")
    assert "bank.line_matched" in admin.text_content("body")
