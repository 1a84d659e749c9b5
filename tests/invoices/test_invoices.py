"""我的发票 and 发票信息管理: tax numbers, profiles, requests, issuing (local and over HTTP), mail through the SMTP
sink, signed links, the 24-hour watch, scoping between users, and one order invoiced once under concurrency."""

from __future__ import annotations

import io
import logging
import threading
import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from itsdangerous import TimestampSigner
from pypdf import PdfReader
from rq import Queue
from sqlalchemy.exc import IntegrityError

from tests.support.factories import make_user, pending_order
from tests.support.flows import run_jobs, sign_in
from wxbackend.audit.models import AuditLog
from wxbackend.core.crypto import decrypt
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, NotFound
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.core.validation import InvalidFields
from wxbackend.integrations.einvoice import HttpInvoices
from wxbackend.integrations.invoice_pdf import rmb_upper
from wxbackend.invoices import issuing, service
from wxbackend.invoices.models import Invoice, InvoiceItem, InvoiceProfile
from wxbackend.invoices.service import ProfileInput
from wxbackend.invoices.tax_number import USCC_CHARACTERS, tax_number_problem
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.orders.service import mark_paid
from wxbackend.users.models import User

TAX_NUMBER = "9144030071526726XG"  # a real unified social credit code; its check character is G
TITLE = "广州某某科技有限公司"


def paid_order(user: User, organisation: str = TITLE, years: int = 1) -> Order:
    order = pending_order(years, organisation, user)
    mark_paid(order.id, "wechat", "test")
    return order


def profile_input(**overrides) -> ProfileInput:
    values = {"title": TITLE, "title_type": "enterprise", "tax_number": TAX_NUMBER, "email": "finance@example.cn",
              "bank_name": "中国工商银行广州天河支行", "bank_account": "6222 0212 3456 7890 123",
              "address": "广州市天河区某某路1号", "phone": "020-12345678", "mobile": "13812345678"}
    return ProfileInput(**{**values, **overrides})


def form(csrf: str, **fields) -> dict:
    values = {"title": TITLE, "title_type": "enterprise", "tax_number": TAX_NUMBER, "email": "finance@example.cn",
              "bank_name": "", "bank_account": "", "address": "", "phone": "", "mobile": "", "csrf_token": csrf}
    return {**values, **fields}


def user_named(name: str) -> User:
    """The development sign-in's user `name`, identity-verified (so that it can have orders)."""
    user = db.session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))
    user.identity_verified = True
    db.session.flush()
    return user


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def requested_and_issued(user: User, orders: list[Order], **profile) -> Invoice:
    """A profile, an invoice for `orders`, committed (its job queued), and the jobs run (issue, mail, notice)."""
    created = service.create_profile(user.id, profile_input(**profile))
    invoice = service.request_invoice(user.id, [order.id for order in orders], profile_id=created.id)
    db.session.commit()
    run_jobs()
    return invoice


def field_error(html: str, field: str) -> str:
    return html.split(f'<p class="field-error" data-field="{field}">')[1].split("</p>")[0]


# ------------------------------------------------------------------------------------------- tax numbers


def test_unified_social_credit_code_check_character():
    for valid in (TAX_NUMBER, "914403001922038216", "91350100M000100Y43"):
        assert tax_number_problem(valid) is None, valid
    assert tax_number_problem("9144030071526726XH") == "统一社会信用代码校验位不正确，请核对"
    for position in range(17):  # GB 32100's check character catches any single changed character
        for replacement in "0A9Y":
            if TAX_NUMBER[position] == replacement or (position in range(2, 8) and not replacement.isdigit()):
                continue
            changed = TAX_NUMBER[:position] + replacement + TAX_NUMBER[position + 1:]
            assert tax_number_problem(changed) is not None, changed
    assert "无效字符" in tax_number_problem("9144030071526726IG")  # I, O, Z, S, V are not used
    assert tax_number_problem("440301715267261") is None  # an older 15-character number
    assert tax_number_problem("44030119900101123401") is None  # an older 20-character number
    assert "18位" in tax_number_problem("9144030071526726X")
    assert set(USCC_CHARACTERS) & set("IOZSV") == set()


def test_amounts_in_capitals():
    assert rmb_upper(60000) == "陆佰元整"
    assert rmb_upper(100550) == "壹仟零伍元伍角整"
    assert rmb_upper(1005) == "壹拾元零伍分"
    assert rmb_upper(10000100) == "壹拾万零壹元整"


# ---------------------------------------------------------------------------------------------- profiles


def test_bad_tax_number_is_shown_under_its_field(client, db_session):
    csrf = sign_in(client, "张三")
    page = client.post("/h5/invoice-profiles/new", data=form(csrf, tax_number="9144030071526726XH")).text
    assert field_error(page, "tax_number") == "统一社会信用代码校验位不正确，请核对"
    assert page.index('id="tax_number"') < page.index('data-field="tax_number"') < page.index('id="email"')
    assert f'value="{TITLE}"' in page  # what was typed stays
    enterprise_without = client.post("/h5/invoice-profiles/new", data=form(csrf, tax_number="")).text
    assert field_error(enterprise_without, "tax_number") == "企业抬头请填写税号（统一社会信用代码）"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(InvoiceProfile)) == 0
    personal = client.post("/h5/invoice-profiles/new", data=form(csrf, title="张三", title_type="personal",
                                                                tax_number=""))
    assert personal.status_code == 302  # personal and government titles may leave it empty


def test_missing_or_bad_email_is_refused(client, db_session):
    csrf = sign_in(client, "张三")
    page = client.post("/h5/invoice-profiles/new", data=form(csrf, email="")).text
    assert field_error(page, "email") == "请填写接收电子发票的邮箱"
    page = client.post("/h5/invoice-profiles/new", data=form(csrf, email="finance@example")).text
    assert field_error(page, "email") == "邮箱格式不正确，请核对"
    answer = client.post("/api/invoice-profiles", json={"title": TITLE, "title_type": "enterprise",
                                                        "tax_number": TAX_NUMBER}, headers={"X-CSRFToken": csrf})
    assert answer.status_code == 400
    assert answer.json["code"] == "invalid_fields"
    assert answer.json["errors"] == {"email": "请填写接收电子发票的邮箱"}
    with pytest.raises(InvalidFields) as invalid:
        service.create_profile(user_named("张三").id, profile_input(email="", mobile="12345"))
    assert set(invalid.value.errors) == {"email", "mobile"}
    assert db_session.scalar(sa.select(sa.func.count()).select_from(InvoiceProfile)) == 0


def test_profiles_are_encrypted_masked_edited_and_have_one_default(client, db_session):
    csrf = sign_in(client, "张三")
    created = client.post("/h5/invoice-profiles/new", data=form(csrf, bank_name="中国工商银行广州天河支行",
                                                               bank_account="6222 0212 3456 7890 123",
                                                               mobile="13812345678"), follow_redirects=True).text
    assert "发票信息已保存" in created and "6222***********0123" in created and "138****5678" in created
    assert "6222021234567890123" not in created and "13812345678" not in created
    [first] = db_session.scalars(sa.select(InvoiceProfile)).all()
    assert b"6222021234567890123" not in first.bank_account_enc and b"13812345678" not in first.mobile_enc
    assert decrypt(first.bank_account_enc, "bank_account") == "6222021234567890123"
    assert first.is_default  # the first one is the default

    client.post("/h5/invoice-profiles/new", data=form(csrf, title="深圳某某有限公司", tax_number="914403001922038216",
                                                      make_default="y"))
    second = db_session.scalar(sa.select(InvoiceProfile).where(InvoiceProfile.title == "深圳某某有限公司"))
    db_session.refresh(first)
    assert second.is_default and not first.is_default

    edit = client.get(f"/h5/invoice-profiles/{first.id}/edit").text
    assert "已保存 6222***********0123，不修改请留空" in edit and "6222021234567890123" not in edit
    client.post(f"/h5/invoice-profiles/{first.id}/edit", data=form(csrf, title="广州某某科技有限公司（总部）",
                                                                   bank_name="中国工商银行广州天河支行"))
    db_session.refresh(first)
    assert first.title == "广州某某科技有限公司（总部）" and first.bank_account_masked == "6222***********0123"

    client.post(f"/h5/invoice-profiles/{first.id}/default", data={"csrf_token": csrf})
    defaults = db_session.scalars(sa.select(InvoiceProfile).where(InvoiceProfile.is_default.is_(True))).all()
    assert [p.id for p in defaults] == [first.id]
    client.post(f"/h5/invoice-profiles/{first.id}/delete", data={"csrf_token": csrf})
    db_session.expire_all()
    assert [(p.id, p.is_default) for p in db_session.scalars(sa.select(InvoiceProfile))] == [(second.id, True)]
    assert client.post(f"/h5/invoice-profiles/{second.id}/delete").status_code == 400  # no CSRF token


# ---------------------------------------------------------------------------------------------- requests


def test_invoiceable_orders_are_the_paid_ones_not_yet_invoiced(db_session):
    user = make_user()
    first, second = paid_order(user), paid_order(user, "深圳某某有限公司")
    pending_order(user=user, organisation="东莞某某有限公司")  # not paid
    refunding = paid_order(user, "佛山某某有限公司")
    refunding.status = OrderStatus.REFUNDING
    others = paid_order(make_user("李四"))
    assert {o.id for o in service.invoiceable_orders(user.id)} == {first.id, second.id}
    profile = service.create_profile(user.id, profile_input())
    invoice = service.request_invoice(user.id, [first.id], profile_id=profile.id)
    assert invoice.amount_fen == 30000 and invoice.status == "pending"
    assert [o.id for o in service.invoiceable_orders(user.id)] == [second.id]
    with pytest.raises(Conflict, match="不能开票"):
        service.request_invoice(user.id, [refunding.id], profile_id=profile.id)
    with pytest.raises(NotFound):
        service.request_invoice(user.id, [others.id], profile_id=profile.id)
    with pytest.raises(Conflict) as twice:
        service.request_invoice(user.id, [first.id, second.id], profile_id=profile.id)
    assert twice.value.code == "already_invoiced" and first.order_no in twice.value.message


def test_a_failed_request_saves_nothing(db_session):
    user = make_user()
    order = paid_order(user)
    with pytest.raises(InvalidFields):
        service.request_invoice(user.id, [order.id], new_profile=profile_input(tax_number="123"))
    refunded = paid_order(user, "深圳某某有限公司")
    refunded.status = OrderStatus.REFUNDED
    with pytest.raises(Conflict):
        service.request_invoice(user.id, [order.id, refunded.id], new_profile=profile_input())
    assert db_session.scalar(sa.select(sa.func.count()).select_from(InvoiceProfile)) == 0  # the new one went too
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_phone_request_issue_mail_history_and_download(app, client, db_session, wechat, smtp_sink, invoice_files):
    csrf = sign_in(client, "张三")
    user = user_named("张三")
    first, second = paid_order(user), paid_order(user, "深圳某某有限公司", years=2)
    page = client.get("/h5/invoices").text
    for expected in ("待开票", "全选", first.order_no, second.order_no, "广州某某科技有限公司", "深圳某某有限公司",
                     "¥300.00", "¥600.00", "证书续期 300.00元/年 × 2年", "开票历史"):
        assert expected in page, expected
    nothing = client.post("/h5/invoices", data=form(csrf, profile_id="new")).text
    assert field_error(nothing, "order_ids") == "请选择要开票的受理单"
    submitted = client.post("/h5/invoices", data=form(csrf, order_ids=[first.id, second.id], profile_id="new"),
                            follow_redirects=True)
    assert "开票申请已提交" in submitted.text and "开具中" in submitted.text
    invoice = db_session.scalar(sa.select(Invoice))
    assert invoice.amount_fen == 90000 and invoice.status == "pending" and invoice.request_no in submitted.text
    assert sorted(item.order_id for item in invoice.items) == sorted([first.id, second.id])
    assert client.get("/h5/invoices").text.count('name="order_ids"') == 0  # nothing left to invoice

    run_jobs()  # issue → mail → WeChat notice
    db_session.refresh(invoice)
    assert invoice.status == "issued" and invoice.invoice_no and invoice.emailed_at is not None
    [mail] = smtp_sink.messages
    assert mail.rcpt_to == ["finance@example.cn"] and invoice.invoice_no in mail.message["Subject"]
    link = next(word for word in mail.text.split() if "/invoices/download/" in word)
    assert link.startswith(app.config["PUBLIC_BASE_URL"]) and "900.00元" in mail.text
    [notice] = [m for m in wechat.messages() if m["template_id"] == "TPL-invoice_issued"]
    assert notice["touser"] == "dev-张三" and notice["data"]["keyword1"]["value"] == invoice.invoice_no

    history = client.get("/h5/invoices/history").text
    assert invoice.invoice_no in history and "已开具" in history and "¥900.00" in history and "复制链接" in history

    pc = app.test_client()  # a PC browser: no session at all
    download = pc.get(link.removeprefix(app.config["PUBLIC_BASE_URL"]))
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    text = pdf_text(download.data)
    for expected in (TITLE, TAX_NUMBER, "900.00", invoice.invoice_no, first.order_no, "玖佰元整",
                     app.config["TRANSFER_PAYEE_NAME"], app.config["INVOICE_SELLER_TAX_NUMBER"], "税率", "6%",
                     "税额", "849.06", "50.94"):  # 900.00 = 849.06 net + 50.94 VAT at 6%
        assert expected in text, expected
    assert "—" not in text  # no field of the seller left blank
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "invoice.download")) == 1


def test_running_the_jobs_twice_issues_and_mails_once(db_session, smtp_sink, invoice_files):
    from wxbackend.invoices.tasks import email_invoice, issue_invoice

    user = make_user()
    invoice = requested_and_issued(user, [paid_order(user)])
    number = invoice.invoice_no
    assert issue_invoice(invoice.id) == "already issued"
    assert email_invoice(invoice.id) == "already sent"
    run_jobs()
    assert len(smtp_sink.messages) == 1 and invoice.invoice_no == number


def test_the_database_refuses_one_order_on_two_invoices(db_session):
    user = make_user()
    order = paid_order(user)
    profile = service.create_profile(user.id, profile_input())
    service.request_invoice(user.id, [order.id], profile_id=profile.id)
    other = Invoice(request_no="FP-TEST-2", user_id=user.id, status="pending", amount_fen=30000, title=TITLE,
                    title_type="enterprise", email="a@example.cn")
    other.items = [InvoiceItem(order_id=order.id, order_no=order.order_no, name="x", fee_detail="x",
                               amount_fen=30000)]
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(other)
        db_session.flush()


def test_the_same_order_in_two_concurrent_requests_is_invoiced_once(live_app):
    """Two requests for the same order at the same moment, against the live server (its own database, real
    commits, one thread per request): one invoice, the other request refused."""
    from wxbackend.web.auth import issue_api_token

    with live_app.app_context():
        user = make_user()
        orders = [paid_order(user, f"并发测试{n}有限公司") for n in range(3)]
        profile = service.create_profile(user.id, profile_input())
        db.session.commit()
        token, _ = issue_api_token(user.id)
        order_ids, profile_id = [o.id for o in orders], profile.id
    headers = {"Authorization": f"Bearer {token}"}
    url = live_app.base_url + "/api/invoices"
    for round_ in range(3):  # each round: the same order, two requests released together
        wanted = [order_ids[round_]]
        barrier, answers = threading.Barrier(2), []

        def ask(body, barrier=barrier, answers=answers):
            barrier.wait()
            answers.append(requests.post(url, json=body, headers=headers, timeout=30))

        bodies = [{"order_ids": wanted, "profile_id": profile_id},
                  {"order_ids": wanted, "profile_id": None, "profile": {"title": "另一个抬头", "title_type": "personal",
                                                                       "email": "b@example.cn"}}]
        threads = [threading.Thread(target=ask, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answer.status_code for answer in answers) == [201, 409], [a.text for a in answers]
        refused = next(answer for answer in answers if answer.status_code == 409)
        assert refused.json()["code"] == "already_invoiced"
    with live_app.app_context():
        items = db.session.scalars(sa.select(InvoiceItem.order_id)).all()
        assert sorted(items) == sorted(order_ids)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 3


# --------------------------------------------------------------------------------------------- scoping


def test_user_b_cannot_see_or_download_user_as_invoices_or_profiles(app, client, db_session, smtp_sink,
                                                                    invoice_files):
    sign_in(client, "张三")
    alice = user_named("张三")
    order = paid_order(alice)
    invoice = requested_and_issued(alice, [order])
    profile = db_session.scalar(sa.select(InvoiceProfile))
    spare = paid_order(alice, "深圳某某有限公司")

    bob_client = app.test_client()
    csrf = sign_in(bob_client, "李四")
    bob = user_named("李四")
    for page in ("/h5/invoices", "/h5/invoices/history", "/h5/invoice-profiles"):
        html = bob_client.get(page).text
        for secret in (TITLE, invoice.request_no, invoice.invoice_no, order.order_no, spare.order_no):
            assert secret not in html, (page, secret)
    assert bob_client.get(f"/h5/invoice-profiles/{profile.id}/edit").status_code == 404
    assert bob_client.post(f"/h5/invoice-profiles/{profile.id}/delete", data={"csrf_token": csrf}).status_code == 404
    assert bob_client.post(f"/h5/invoice-profiles/{profile.id}/default", data={"csrf_token": csrf}).status_code == 404
    api = {"X-CSRFToken": csrf}
    assert bob_client.get("/api/invoices").json == []
    assert bob_client.get("/api/invoice-profiles").json == []
    assert bob_client.get("/api/invoices/invoiceable-orders").json == []
    assert bob_client.get(f"/api/invoices/{invoice.id}").status_code == 404
    assert bob_client.get(f"/api/invoice-profiles/{profile.id}").status_code == 404
    assert bob_client.put(f"/api/invoice-profiles/{profile.id}", json={"title": "x"}, headers=api).status_code == 404
    assert bob_client.delete(f"/api/invoice-profiles/{profile.id}", headers=api).status_code == 404
    taken = bob_client.post("/api/invoices", json={"order_ids": [spare.id], "profile_id": profile.id}, headers=api)
    assert taken.status_code == 404
    with pytest.raises(NotFound):  # B's signed link for A's invoice does not exist
        service.download_link(bob.id, invoice.id)
    forged = service._link_serializer().dumps({"i": invoice.id, "u": bob.id})  # even signed with our key
    refused = bob_client.get(f"/invoices/download/{forged}")
    assert refused.status_code == 404 and b"%PDF" not in refused.data and "没有找到该发票" in refused.text
    own_profile = {"title": "李四", "title_type": "personal", "email": "li@example.cn"}
    taken = bob_client.post("/api/invoices", json={"order_ids": [spare.id], "profile": own_profile}, headers=api)
    assert taken.status_code == 404 and bob_client.get("/api/invoice-profiles").json == []  # nothing half-done
    db_session.refresh(profile)
    assert profile.title == TITLE and spare.id in {o.id for o in service.invoiceable_orders(alice.id)}
    assert invoice.invoice_no in client.get("/h5/invoices/history").text  # A still sees it


# ------------------------------------------------------------------------------------------------- links


def test_expired_or_altered_link_is_refused_with_a_clear_page(app, db_session, smtp_sink, invoice_files,
                                                              monkeypatch):
    user = make_user()
    invoice = requested_and_issued(user, [paid_order(user)])
    pc = app.test_client()
    hours = app.config["INVOICE_LINK_HOURS"]

    def link_made_hours_ago(age: float) -> str:
        with monkeypatch.context() as patched:
            made_at = int(time.time() - age * 3600)
            patched.setattr(TimestampSigner, "get_timestamp", lambda self: made_at)
            return service.link_for(invoice).removeprefix(app.config["PUBLIC_BASE_URL"])

    assert pc.get(link_made_hours_ago(hours - 1)).status_code == 200
    expired = pc.get(link_made_hours_ago(hours + 1))
    assert expired.status_code == 410 and expired.mimetype == "text/html"
    assert "下载链接已过期" in expired.text and "开票历史" in expired.text and b"%PDF" not in expired.data
    assert "Set-Cookie" not in expired.headers  # a stranger's browser gets no session

    good = service.link_for(invoice).removeprefix(app.config["PUBLIC_BASE_URL"])
    prefix, token = good.rsplit("/", 1)
    assert pc.get(good).status_code == 200
    for position, char in enumerate(token):  # every single character changed, one at a time
        replacement = "B" if char == "A" else "A"
        altered = pc.get(f"{prefix}/{token[:position]}{replacement}{token[position + 1:]}")
        assert altered.status_code in (400, 404), (position, altered.status_code)
        assert "无法下载发票" in altered.text and b"%PDF" not in altered.data
    assert "链接不完整或已被修改" in pc.get(f"{prefix}/{token[:-1]}").text


# -------------------------------------------------------------------------------------------- delivery


def move_scheduled_jobs(queue: Queue) -> int:
    """What rq's scheduler does when the retry interval is over, done now."""
    registry = queue.scheduled_job_registry
    job_ids = registry.get_job_ids()
    for job_id in job_ids:
        job = queue.fetch_job(job_id)
        registry.remove(job)
        queue.enqueue_job(job)
    return len(job_ids)


def test_smtp_down_is_retried_then_delivered_when_it_is_back(db_session, smtp_sink, invoice_files):
    user = make_user()
    smtp_sink.stop()
    invoice = requested_and_issued(user, [paid_order(user)])
    assert invoice.status == "issued" and invoice.emailed_at is None
    mail = Queue("mail", connection=get_redis())
    [job_id] = mail.scheduled_job_registry.get_job_ids()
    assert mail.fetch_job(job_id).retries_left == 7  # retried with backoff, not failed
    assert move_scheduled_jobs(mail) == 1
    run_jobs()  # still down: scheduled again
    assert mail.fetch_job(job_id).retries_left == 6 and invoice.emailed_at is None

    smtp_sink.start()
    move_scheduled_jobs(mail)
    run_jobs()
    db_session.refresh(invoice)
    assert invoice.emailed_at is not None
    [delivered] = smtp_sink.messages
    assert invoice.invoice_no in delivered.message["Subject"] and "/invoices/download/" in delivered.text
    assert mail.scheduled_job_registry.count == 0 and mail.failed_job_registry.count == 0


def test_http_adapter_issues_through_the_e_invoice_platform(app, db_session, smtp_sink, invoice_files, einvoice):
    user = make_user()
    requests.post(einvoice + "_fake/fail", json={"times": 1, "status": 503}, timeout=5)
    invoice = requested_and_issued(user, [paid_order(user)])
    assert invoice.status == "pending"  # the platform was busy: retried later
    mail = Queue("mail", connection=get_redis())
    assert move_scheduled_jobs(mail) == 1
    run_jobs()
    db_session.refresh(invoice)
    assert invoice.status == "issued" and invoice.adapter == "http" and len(invoice.invoice_no) == 20
    sent = requests.get(einvoice + "_fake/calls", timeout=5).json()
    assert sent["calls"] == 2 and sent["last"]["request_no"] == invoice.request_no
    assert sent["last"]["buyer"]["tax_number"] == TAX_NUMBER and sent["last"]["total_fen"] == 30000
    assert sent["last"]["buyer"]["bank_account"] == "6222021234567890123"  # the invoice needs it in full
    [delivered] = smtp_sink.messages
    link = next(word for word in delivered.text.split() if "/invoices/download/" in word)
    text = pdf_text(app.test_client().get(link.removeprefix(app.config["PUBLIC_BASE_URL"])).data)
    assert "电子发票服务平台（模拟）" in text and invoice.invoice_no in text and TITLE in text
    adapter = HttpInvoices(einvoice, "test-einvoice-key", 5)  # the platform is idempotent by request number
    assert adapter.issue(issuing.document_for(invoice)).invoice_no == invoice.invoice_no


def test_a_refused_invoice_fails_and_lets_go_of_its_orders(db_session, smtp_sink, invoice_files, einvoice):
    requests.post(einvoice + "_fake/refuse", json={"tax_number": TAX_NUMBER, "message": "购买方纳税人识别号不存在"},
                  timeout=5)
    user = make_user()
    order = paid_order(user)
    invoice = requested_and_issued(user, [order])
    assert invoice.status == "failed" and invoice.failure_reason == "购买方纳税人识别号不存在"
    assert [item.order_no for item in invoice.items] == [order.order_no]
    assert [o.id for o in service.invoiceable_orders(user.id)] == [order.id]  # free to be invoiced again
    assert smtp_sink.messages == []


# -------------------------------------------------------------------------------------------- 24 hours


def test_invoices_still_undelivered_after_20_hours_are_alerted_once(db_session, caplog):
    from wxbackend.invoices.tasks import alert_overdue_invoices

    user = make_user()
    profile = service.create_profile(user.id, profile_input())
    late = service.request_invoice(user.id, [paid_order(user).id], profile_id=profile.id)
    recent = service.request_invoice(user.id, [paid_order(user, "深圳某某有限公司").id], profile_id=profile.id)
    delivered = service.request_invoice(user.id, [paid_order(user, "东莞某某有限公司").id], profile_id=profile.id)
    late.created_at = delivered.created_at = utcnow() - timedelta(hours=21)
    recent.created_at = utcnow() - timedelta(hours=2)
    delivered.status, delivered.emailed_at = "issued", utcnow()
    db_session.flush()
    with caplog.at_level(logging.ERROR):
        assert alert_overdue_invoices() == 1
        assert alert_overdue_invoices() == 0
    [alert] = [r for r in caplog.records if r.levelno == logging.ERROR and late.request_no in r.getMessage()]
    assert "24-hour promise" in alert.getMessage()
    rows = db_session.scalars(sa.select(AuditLog).where(AuditLog.action == "invoice.overdue")).all()
    assert [row.target for row in rows] == [f"invoice:{late.id}"]


def test_cron_table_registers_the_overdue_alert(db_session):
    from rq.cron import CronScheduler

    from tests.conftest import ROOT
    from wxbackend.invoices.tasks import alert_overdue_invoices

    scheduler = CronScheduler(connection=get_redis())
    scheduler.load_config_from_file(str(ROOT / "jobs" / "cron.py"))
    entries = {entry.func.__name__: entry for entry in scheduler.get_jobs()}
    assert entries["alert_overdue_invoices"].func is alert_overdue_invoices
    assert entries["alert_overdue_invoices"].interval == 1800


# ------------------------------------------------------------------------------------------------- API


def test_api_for_the_mini_program(app, client, db_session, smtp_sink, invoice_files):
    csrf = sign_in(client, "张三")
    headers = {"X-CSRFToken": csrf}
    user = user_named("张三")
    first, second = paid_order(user), paid_order(user, "深圳某某有限公司")
    listed = client.get("/api/invoices/invoiceable-orders").json
    assert {o["order_no"] for o in listed} == {first.order_no, second.order_no}
    assert {"subject", "amount_fen", "fee_detail", "amount_yuan"} <= set(listed[0])
    created = client.post("/api/invoices", headers=headers, json={
        "order_ids": [first.id, second.id],
        "profile": {"title": TITLE, "title_type": "enterprise", "tax_number": TAX_NUMBER, "email": "f@example.cn",
                    "bank_account": "6222021234567890123", "bank_name": "中国工商银行"}})
    assert created.status_code == 201, created.json
    assert created.json["status"] == "pending" and created.json["amount_fen"] == 60000
    assert created.json["download_url"] is None
    [profile] = client.get("/api/invoice-profiles").json
    assert profile["bank_account_masked"] == "6222***********0123" and "bank_account" not in profile
    assert profile["is_default"] is True
    twice = client.post("/api/invoices", headers=headers, json={"order_ids": [first.id], "profile_id": profile["id"]})
    assert twice.status_code == 409 and twice.json["code"] == "already_invoiced"

    run_jobs()
    [issued] = client.get("/api/invoices").json
    assert issued["status"] == "issued" and issued["invoice_no"] and issued["download_url"]
    assert [item["order_no"] for item in issued["items"]] == [first.order_no, second.order_no]
    pdf = app.test_client().get(issued["download_url"].removeprefix(app.config["PUBLIC_BASE_URL"]))
    assert pdf.mimetype == "application/pdf" and issued["invoice_no"] in pdf_text(pdf.data)

    changed = client.put(f"/api/invoice-profiles/{profile['id']}", headers=headers,
                         json={"title": "广州某某科技有限公司", "title_type": "enterprise", "tax_number": TAX_NUMBER,
                               "email": "new@example.cn", "bank_name": "中国工商银行"})
    assert changed.status_code == 200 and changed.json["bank_account_masked"] == "6222***********0123"
    assert client.delete(f"/api/invoice-profiles/{profile['id']}", headers=headers).status_code == 204
    assert client.get("/api/invoices").json[0]["title"] == TITLE  # an invoice keeps its buyer


def test_cli_lists_undelivered_invoices_and_requeues_them(app, db_session, smtp_sink, invoice_files):
    from rq import Queue

    user = make_user()
    profile = service.create_profile(user.id, profile_input())
    waiting = [service.request_invoice(user.id, [paid_order(user, name).id], profile_id=profile.id)
               for name in (TITLE, "深圳某某有限公司")]
    delivered = service.request_invoice(user.id, [paid_order(user, "东莞某某有限公司").id], profile_id=profile.id)
    delivered.status, delivered.emailed_at = "issued", utcnow()
    db_session.commit()
    queues = [Queue(name, connection=get_redis()) for name in app.config["RQ_QUEUES"]]
    for queue in queues:
        queue.empty()  # the jobs were lost (an outage): only the requeue can bring the invoices out
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["invoices", "undelivered"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines[-1] == "共2张未送达"
    assert sorted(line.split()[1] for line in lines[:-1]) == sorted(i.request_no for i in waiting)
    assert delivered.request_no not in listed.output
    requeued = runner.invoke(args=["invoices", "requeue"])
    assert requeued.exit_code == 0, requeued.output
    assert requeued.output.startswith("已重新排队2张：")
    assert set(requeued.output.split("：", 1)[1].strip().split("、")) == {i.request_no for i in waiting}
    assert sum(q.count for q in queues) == 2
    run_jobs()
    assert len(smtp_sink.messages) == 2
    assert runner.invoke(args=["invoices", "undelivered"]).output.strip() == "共0张未送达"
    assert runner.invoke(args=["invoices", "requeue"]).output.strip() == "没有未送达的发票"
