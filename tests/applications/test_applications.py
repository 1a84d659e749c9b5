"""The reviewed renewal of an expired certificate (issue 13), through the real services on PostgreSQL and Redis:
agreement and consent first, the materials and their checks, revisions, the printable form read back with pypdf,
uploads checked by content, submission and payment, the four-eyes review, 金融认证 through the local payout
adapter, and 我的业务单. Hostile cases included."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from PIL import Image
from pypdf import PdfReader

from tests.support.applications import (
    ORGANISATION,
    big_bmp,
    bomb_gif,
    expired_order,
    jpeg,
    materials,
    paid_for_review,
    ready_application,
)
from tests.support.factories import make_user
from tests.support.staff import make_staff
from wxbackend.applications import finance, service
from wxbackend.applications.images import ImageRefused
from wxbackend.applications.materials import credit_code_problem
from wxbackend.applications.models import ApplicationRevision, FinVerification
from wxbackend.approvals import service as approvals
from wxbackend.approvals.models import ApprovalRequest
from wxbackend.audit.models import AuditLog
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, NotFound
from wxbackend.core.files import file_store
from wxbackend.core.outbox import OutboxEntry
from wxbackend.core.validation import InvalidFields
from wxbackend.invoices import service as invoice_service
from wxbackend.invoices.models import Invoice, InvoiceItem
from wxbackend.orders.models import Order, OrderStatus


@pytest.fixture
def stores(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    monkeypatch.setitem(app.config, "BANK_PAYOUT_LOCAL_FILE", str(tmp_path / "payouts.log"))
    return tmp_path


def payouts(tmp_path) -> list[dict]:
    path = tmp_path / "payouts.log"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def decide(request_id: int, staff, verdict: str, reason: str = "", fields=()):
    nonce = approvals.issue_nonce(request_id, staff.id)
    return approvals.decide(request_id, staff.id, verdict, nonce, reason=reason, fields=fields)


def review_request(application_id: int) -> ApprovalRequest:
    return approvals.pending_request(service.REVIEW_KIND, application_id)


# --- entry, agreement and consent -------------------------------------------------------------------------------


def test_an_expired_certificate_gets_one_application_and_nothing_sensitive_before_consent(db_session, stores):
    order = expired_order()
    assert order.status == OrderStatus.DRAFT and order.path == "reviewed"
    application = service.start(order.user_id, order.id)
    assert service.start(order.user_id, order.id).id == application.id  # one per order (so per certificate)
    with pytest.raises(service.ConsentRequired):
        service.save_materials(order.user_id, application.id, materials())
    with pytest.raises(service.ConsentRequired):
        service.add_upload(order.user_id, application.id, "form", jpeg())
    with pytest.raises(InvalidFields) as refused:
        service.agree(order.user_id, application.id, True, False)
    assert refused.value.errors == {"consent": "请阅读并同意《敏感个人信息处理授权书》（单独同意）"}
    service.agree(order.user_id, application.id, True, True)
    assert (application.agreement_version, application.consent_version) == ("2026-12-v2", "2026-12-v1")
    assert application.agreed_at and application.consented_at
    assert "电子认证服务协议" in service.agreement_text() and "单独同意" in service.consent_text()


def test_another_users_application_is_not_found(db_session, stores):
    order = expired_order()
    application = service.start(order.user_id, order.id)
    stranger = make_user("李四")
    for attempt in (lambda: service.start(stranger.id, order.id),
                    lambda: service.agree(stranger.id, application.id, True, True),
                    lambda: service.save_materials(stranger.id, application.id, materials()),
                    lambda: service.form_pdf(stranger.id, application.id),
                    lambda: service.add_upload(stranger.id, application.id, "form", jpeg()),
                    lambda: service.submit(stranger.id, application.id),
                    lambda: finance.enter_code(stranger.id, application.id, "123456")):
        with pytest.raises(NotFound):
            attempt()


# --- materials ---------------------------------------------------------------------------------------------------


def test_credit_code_check_character():
    assert credit_code_problem("91350100M000100Y43") is None
    assert credit_code_problem("91350100M000100Y44") == "统一社会信用代码校验位不正确，请核对"
    assert "18位" in credit_code_problem("91350100M000100Y4")
    assert "18位" in credit_code_problem("91350100M000100YI3")  # I is not in the code's alphabet


def test_every_wrong_field_is_named_in_chinese(db_session, stores):
    order = expired_order()
    application = service.start(order.user_id, order.id)
    service.agree(order.user_id, application.id, True, True)
    wrong = materials(org_name="别的公司", credit_code="91350100M000100Y44", legal_id_number="110105194912310021",
                      agent_mobile="1234", bank_account_name="别的公司", bank_name="火星银行", bank_account="12ab",
                      invoice_type="electronic", invoice_title="", agent_email="not-mail")
    with pytest.raises(InvalidFields) as refused:
        service.save_materials(order.user_id, application.id, wrong)
    errors = refused.value.errors
    assert errors["org_name"] == f"机构名称须与证书所有者一致：{ORGANISATION}"
    assert errors["credit_code"] == "统一社会信用代码校验位不正确，请核对"
    assert errors["legal_id_number"] == "身份证号码校验位不正确，请核对"
    assert errors["agent_mobile"] == "请填写正确的11位手机号码"
    assert errors["bank_account_name"] == f"基本户名称须与机构名称一致：{ORGANISATION}"
    assert errors["bank_name"].startswith("请从搜索下拉列表中选择开户行")
    assert errors["bank_account"] == "基本户账号应为8至32位数字"
    assert errors["invoice_title"] == "请填写发票抬头"
    assert errors["agent_email"] == "邮箱格式不正确，请核对"
    assert application.revision == 0


def test_sensitive_fields_are_encrypted_and_masked_and_empty_keeps_them(db_session, stores):
    order = expired_order()
    application = service.start(order.user_id, order.id)
    service.agree(order.user_id, application.id, True, True)
    revision = service.save_materials(order.user_id, application.id, materials())
    assert revision.number == 1
    stored = json.dumps(revision.fields, ensure_ascii=False)
    assert "11010519491231002X" not in stored and "6222021234567890123" not in stored
    assert b"6222021234567890123" not in revision.sensitive_enc
    assert revision.fields["bank_account_masked"] == "6222***********0123"
    assert revision.fields["legal_id_number_masked"] == "110***********002X"
    # the form comes back without the sensitive values; saving it as it is keeps them
    form = service.prefill(order.user_id, application)
    assert form["org_name"] == ORGANISATION and "bank_account" not in form
    again = service.save_materials(order.user_id, application.id, {**materials(), "bank_account": "",
                                                                    "legal_id_number": "", "address": "南山区2号"})
    assert again.id == revision.id and again.number == 1  # not submitted yet: the same draft revision
    assert service.current_materials(application)["bank_account"] == "6222021234567890123"


def test_prefill_from_the_last_application_and_the_invoice_profile(db_session, stores):
    from wxbackend.invoices.models import InvoiceProfile
    from wxbackend.orders.service import cancel_order

    order = expired_order()
    first = ready_application(order)
    db_session.add(InvoiceProfile(user_id=order.user_id, title=ORGANISATION, title_type="company",
                                  tax_number="91350100M000100Y43", email="fp@example.com", is_default=True))
    service.submit(order.user_id, first.id)
    cancel_order(order.user_id, order.id)
    values = service.prefill(order.user_id, service.start(order.user_id, _new_order_same_user(order).id))
    assert values["credit_code"] == "91350100M000100Y43" and values["agent_name"] == "张三"
    assert (values["invoice_type"], values["invoice_title"]) == ("electronic", ORGANISATION)  # the profile's
    assert all(not values.get(name) for name in ("agent_id_number", "legal_mobile", "bank_account"))


def _new_order_same_user(order):
    from wxbackend.core.db import db
    from wxbackend.users.models import User

    return expired_order(user=db.session.get(User, order.user_id))


# --- the printable form ------------------------------------------------------------------------------------------


def test_the_pdf_has_every_field_the_number_and_an_embedded_cjk_font(db_session, stores):
    order = expired_order()
    application = ready_application(order, invoice_type="electronic", invoice_title=ORGANISATION,
                                    invoice_tax_number="91350100M000100Y43")
    with pytest.raises(Conflict):
        service.form_pdf(order.user_id, service.start(order.user_id, _new_order_same_user(order).id).id)
    reader = PdfReader(io.BytesIO(service.form_pdf(order.user_id, application.id)))
    text = "".join(page.extract_text() for page in reader.pages)
    for value in (application.application_no, ORGANISATION, "91350100M000100Y43", "11010519491231002X",
                  "440106199003071231", "13900139000", "zhangsan@example.com", "中国工商银行", "6222021234567890123",
                  "电子发票", "授权委托及单位声明", "经办人（手写签名）", "加盖红色公章"):
        assert value in text, value
    fonts = [f.get_object() for f in reader.pages[0]["/Resources"]["/Font"].values()]
    embedded = [f for f in fonts if "/FontDescriptor" in f and "/FontFile2" in f["/FontDescriptor"].get_object()]
    assert embedded and all("WenQuanYi" in f["/BaseFont"] for f in embedded)  # the TrueType font is in the file
    images = [x.get_object() for x in reader.pages[0]["/Resources"]["/XObject"].values()]
    assert any(x["/Subtype"] == "/Image" for x in images)  # the QR code


# --- uploads -----------------------------------------------------------------------------------------------------


def consented(order):
    application = service.start(order.user_id, order.id)
    service.agree(order.user_id, application.id, True, True)
    return application


def test_an_upload_is_reencoded_without_exif_under_a_random_id(db_session, stores):
    order = expired_order()
    application = consented(order)
    original = jpeg(exif=True)
    assert b"SecretCam" in original
    upload = service.add_upload(order.user_id, application.id, "form", original)
    stored = file_store().get(upload.store_key)
    assert b"SecretCam" not in stored and not Image.open(io.BytesIO(stored)).getexif()
    assert upload.content_type == "image/jpeg" and len(upload.public_id) == 32 and upload.width == 640
    replaced = service.add_upload(order.user_id, application.id, "form", jpeg((300, 300)))
    assert service.current_uploads(application)["form"].id == replaced.id and upload.replaced_at is not None


@pytest.mark.parametrize("data, code", [
    (b"<?php system($_GET['c']); ?>", "not_an_image"),  # a PHP file renamed .jpg
    (big_bmp(3), "file_too_large"),  # a 3 MB image
    (bomb_gif(), "too_many_pixels"),  # a decompression-bomb GIF
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "broken_image"),  # JPEG magic, no image
    (b"GIF89a" + b"<?php ?>", "broken_image"),
], ids=["php-as-jpg", "3mb", "bomb-gif", "broken-jpeg", "gif-header-php"])
def test_hostile_uploads_are_refused_and_nothing_is_stored(db_session, stores, data, code):
    order = expired_order()
    application = consented(order)
    with pytest.raises(ImageRefused) as refused:
        service.add_upload(order.user_id, application.id, "form", data)
    assert refused.value.code == code
    assert not (stores / "files").exists() or not any((stores / "files").rglob("*.jpg"))


def test_the_upload_quota(app, db_session, stores, monkeypatch):
    monkeypatch.setitem(app.config, "APPLICATION_UPLOAD_QUOTA", 2)
    order = expired_order()
    application = consented(order)
    service.add_upload(order.user_id, application.id, "form", jpeg())
    service.add_upload(order.user_id, application.id, "form", jpeg())
    with pytest.raises(Conflict) as refused:
        service.add_upload(order.user_id, application.id, "form", jpeg())
    assert refused.value.code == "upload_quota"


# --- submission, payment, review --------------------------------------------------------------------------------


def test_submit_needs_every_part_then_payment_opens_the_review(db_session, stores):
    order = expired_order()
    application = consented(order)
    with pytest.raises(Conflict) as refused:
        service.submit(order.user_id, application.id)
    assert refused.value.message == ("请先完成：填写申请资料、上传签字盖章的申请表、上传营业执照、"
                                     "上传经办人身份证照片并完成活体认证")
    application = ready_application(order)
    service.submit(order.user_id, application.id)
    assert order.status == OrderStatus.PENDING_PAYMENT and review_request(application.id) is None
    with pytest.raises(service.NotEditable):
        service.save_materials(order.user_id, application.id, materials())
    from wxbackend.orders.service import mark_paid

    assert mark_paid(order.id, "wechat", "test")
    assert order.status == OrderStatus.PENDING_REVIEW
    request = review_request(application.id)
    assert request.revision == 1 and [s["title"] for s in request.steps] == ["初审", "复审"]
    assert service.review_due(application) is not None
    assert [a.id for a in service.review_queue().rows] == [application.id]


def test_reject_naming_the_account_then_resubmit_makes_revision_2_and_two_others_approve(db_session, stores):
    order = expired_order()
    application = paid_for_review(order)
    first, second, third = (make_staff(n, "auditor") for n in ("auditor_a", "auditor_b", "auditor_c"))
    request = review_request(application.id)
    decide(request.id, first, "reject", "基本户账号与开户许可证不符", ["bank_account"])
    db_session.expire_all()
    order = db_session.get(Order, order.id)
    assert order.status == OrderStatus.REJECTED
    rejection = service.last_rejection(application)
    assert rejection.reason == "基本户账号与开户许可证不符" and rejection.fields == ["基本户账号"]
    with pytest.raises(Conflict) as refused:
        service.submit(order.user_id, application.id)  # sent back unchanged
    assert refused.value.code == "unchanged"
    revision = service.save_materials(order.user_id, application.id, materials(bank_account="6222020000111122223"))
    assert revision.number == 2
    service.submit(order.user_id, application.id)
    assert order.status == OrderStatus.PENDING_REVIEW  # not paid again
    again = review_request(application.id)
    assert again.revision == 2 and again.id != request.id
    decide(again.id, second, "approve")
    with pytest.raises(approvals.ApprovalRefused):
        decide(again.id, second, "approve")  # nobody decides two steps
    decide(again.id, third, "approve")
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.PENDING_FIN_VERIFICATION
    numbers = db_session.scalars(sa.select(ApplicationRevision.number)
                                 .where(ApplicationRevision.application_id == application.id)).all()
    assert sorted(numbers) == [1, 2]  # revision 1 is kept as it was
    views = service.revisions_for_staff(service.get_application(application.id), third.id)
    assert views[0].number == 2 and views[0].changed == ["bank_account"]
    assert views[1].data["bank_account"] == "6222021234567890123"


def test_a_resubmission_voids_a_pending_review_of_an_older_revision(db_session, stores):
    order = expired_order()
    application = paid_for_review(order)
    request = review_request(application.id)
    auditor = make_staff("auditor_v", "auditor")
    nonce = approvals.issue_nonce(request.id, auditor.id)
    # the revision changes (e.g. after a correction) before the decision: the decision voids the request
    application.revision += 1
    db_session.flush()
    voided = approvals.decide(request.id, auditor.id, "approve", nonce)
    assert voided.status == "voided"


# --- 金融认证 -------------------------------------------------------------------------------------------------------


def approved(db_session, stores):
    order = expired_order()
    application = paid_for_review(order)
    request = review_request(application.id)
    decide(request.id, make_staff("fin_a", "auditor"), "approve")
    decide(request.id, make_staff("fin_b", "admin"), "approve")
    verification = finance.latest(application.id)
    return order, application, verification


def test_the_payout_is_recorded_before_the_bank_and_a_second_run_pays_once(db_session, stores):
    order, application, verification = approved(db_session, stores)
    assert verification.status == "payout_pending" and verification.idempotency_key.startswith("FV")
    assert payouts(stores) == []
    assert finance.pay(verification.id) == "paid"
    assert finance.pay(verification.id) == "nothing to do"
    # killed midway: the bank paid but our commit was lost — the row is still 打款中, the job runs again
    db_session.execute(sa.update(FinVerification).where(FinVerification.id == verification.id)
                       .values({"status": "payout_pending"}))
    db_session.expire_all()
    assert finance.pay(verification.id) == "paid"
    lines = payouts(stores)
    assert len(lines) == 1 and lines[0]["amount_fen"] == 1
    assert lines[0]["account_number"] == "6222021234567890123" and lines[0]["account_name"] == ORGANISATION
    assert lines[0]["remark"].startswith("数字证书金融认证码")


def code_of(stores) -> str:
    return payouts(stores)[-1]["remark"][-6:]


def test_two_wrong_codes_then_the_right_one_makes_it_ready_to_write(db_session, stores):
    order, application, verification = approved(db_session, stores)
    finance.pay(verification.id)
    code = code_of(stores)
    wrong = "000000" if code != "000000" else "111111"
    assert finance.enter_code(order.user_id, application.id, wrong).tries_left == 2
    assert finance.enter_code(order.user_id, application.id, wrong).tries_left == 1
    assert finance.enter_code(order.user_id, application.id, code).ok
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.READY_TO_WRITE


def test_a_fourth_try_is_refused_after_three_wrong_codes_and_a_corrected_account_pays_again(db_session, stores):
    order, application, verification = approved(db_session, stores)
    finance.pay(verification.id)
    code = code_of(stores)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(2):
        finance.enter_code(order.user_id, application.id, wrong)
    third = finance.enter_code(order.user_id, application.id, wrong)
    assert third.code == "fin_verification_failed" and "金融认证失败" in third.message
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.FIN_VERIFICATION_FAILED
    with pytest.raises(Conflict):
        finance.enter_code(order.user_id, application.id, code)  # the right code, too late
    retried = finance.retry(order.user_id, application.id, "中国建设银行", "6217000011112222333")
    assert retried.attempt == 2 and retried.account_masked == "6217***********2333"
    finance.pay(retried.id)
    assert len(payouts(stores)) == 2 and payouts(stores)[-1]["bank_name"] == "中国建设银行"
    assert finance.enter_code(order.user_id, application.id, code_of(stores)).ok


def test_an_expired_code_fails_the_verification(db_session, stores):
    from datetime import timedelta

    order, application, verification = approved(db_session, stores)
    finance.pay(verification.id)
    verification.expires_at = verification.paid_at - timedelta(seconds=1)
    db_session.flush()
    result = finance.enter_code(order.user_id, application.id, code_of(stores))
    assert result.code == "fin_verification_failed" and "过期" in result.message


# --- 我的业务单 ----------------------------------------------------------------------------------------------------


def test_my_applications_filter_by_status_and_day(db_session, stores):
    from datetime import date, timedelta

    order = expired_order()
    application = ready_application(order)
    user_id = order.user_id
    assert [a.id for a in service.user_applications(user_id)] == [application.id]
    assert service.user_applications(user_id, status="pending_review") == []
    assert [a.id for a in service.user_applications(user_id, status="draft")] == [application.id]
    today = date.today()
    assert service.user_applications(user_id, since=today + timedelta(days=2)) == []
    assert [a.id for a in service.user_applications(user_id, since=today - timedelta(days=1),
                                                     until=today + timedelta(days=1))] == [application.id]


def test_the_sweep_fails_codes_not_entered_in_time_and_is_safe_to_run_twice(db_session, stores):
    from datetime import timedelta

    order, application, verification = approved(db_session, stores)
    finance.pay(verification.id)
    assert finance.expire_overdue() == 0
    verification.expires_at = verification.paid_at - timedelta(seconds=1)
    db_session.flush()
    assert finance.expire_overdue() == 1
    assert finance.expire_overdue() == 0
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.FIN_VERIFICATION_FAILED


# --- the invoice the materials asked for ---------------------------------------------------------------------------


def approve_both(application_id: int, *names: str) -> None:
    request = review_request(application_id)
    for name in names:
        decide(request.id, make_staff(name, "auditor"), "approve")


def invoices_of(order_id: int) -> list[Invoice]:
    return list(db.session.scalars(sa.select(Invoice).join(InvoiceItem).where(InvoiceItem.order_id == order_id)))


def test_an_electronic_invoice_is_requested_when_the_review_approves_and_issued_by_the_outbox(db_session, stores):
    order = expired_order()
    application = paid_for_review(order, invoice_type="electronic", invoice_title=ORGANISATION,
                                  invoice_tax_number="91350100M000100Y43")
    assert invoices_of(order.id) == []  # paid but not approved: a rejection would refund it
    approve_both(application.id, "inv_a", "inv_b")
    [invoice] = invoices_of(order.id)
    assert (invoice.title, invoice.tax_number, invoice.email) == (ORGANISATION, "91350100M000100Y43",
                                                                  "zhangsan@example.com")
    assert invoice.amount_fen == db_session.get(Order, order.id).amount_fen
    issuing = db_session.scalars(sa.select(OutboxEntry).where(OutboxEntry.job == "invoices.issue_invoice")).all()
    assert [entry.args for entry in issuing] == [[invoice.id]]
    # the profile is the user's now, and a second application for the same 抬头 reuses it
    assert [p.title for p in invoice_service.user_profiles(order.user_id)] == [ORGANISATION]


def test_no_invoice_without_the_choice_or_after_a_rejection_and_one_already_requested_is_left_alone(
        db_session, stores):
    plain = expired_order()
    approve_both(paid_for_review(plain).id, "inv_c", "inv_d")
    assert invoices_of(plain.id) == []  # 无需发票
    rejected = expired_order()
    application = paid_for_review(rejected, invoice_type="electronic", invoice_title=ORGANISATION,
                                  invoice_tax_number="91350100M000100Y43")
    decide(review_request(application.id).id, make_staff("inv_e", "auditor"), "reject", "营业执照不清晰", ["org_name"])
    assert invoices_of(rejected.id) == []
    early = expired_order()
    application = paid_for_review(early, invoice_type="electronic", invoice_title=ORGANISATION,
                                  invoice_tax_number="91350100M000100Y43")
    profile = invoice_service.create_profile(early.user_id, invoice_service.ProfileInput(
        title=ORGANISATION, title_type="enterprise", email="caiwu@example.com", tax_number="91350100M000100Y43"))
    invoice_service.request_invoice(early.user_id, [early.id], profile.id)  # the user invoiced it on 开票 already
    approve_both(application.id, "inv_f", "inv_g")
    assert len(invoices_of(early.id)) == 1  # approval goes on, nothing invoiced twice
    assert db_session.get(Order, early.id).status == OrderStatus.PENDING_FIN_VERIFICATION
    refused = db_session.scalar(sa.select(AuditLog).where(AuditLog.action == "application.invoice_request"))
    assert refused.result == "refused" and refused.detail["refusal"] == "already_invoiced"


def test_the_invoice_tax_number_is_checked_as_the_invoice_pages_check_it(db_session, stores):
    order = expired_order()
    application = consented(order)
    with pytest.raises(InvalidFields) as refused:
        service.save_materials(order.user_id, application.id, materials(
            invoice_type="electronic", invoice_title=ORGANISATION, invoice_tax_number="91350100M000100Y44"))
    assert refused.value.errors["invoice_tax_number"] == "统一社会信用代码校验位不正确，请核对"


# --- the form without its font, and the queues in pages ------------------------------------------------------------


def test_a_missing_pdf_font_is_a_chinese_refusal_not_a_server_error(app, db_session, stores, monkeypatch):
    order = expired_order()
    application = ready_application(order)
    monkeypatch.setitem(app.config, "APPLICATION_PDF_FONT", str(stores / "no-such-font.ttc"))
    with pytest.raises(service.FormUnavailable) as refused:
        service.form_pdf(order.user_id, application.id)
    assert refused.value.status == 503 and "申请表暂时无法生成" in refused.value.message


def test_the_review_queue_pages_oldest_payment_first(db_session, stores):
    waiting = [paid_for_review(expired_order()).id for _ in range(5)]
    first = service.review_queue(size=2)
    second = service.review_queue(first.next_cursor, size=2)
    third = service.review_queue(second.next_cursor, size=2)
    assert [a.id for page in (first, second, third) for a in page.rows] == waiting
    assert third.next_cursor is None
