"""The reviewed application's pages on the phone and in the console, over HTTP: each route answers 404 for another
user's application, a scan goes up as a multipart form, errors appear under their fields, the console's 待审核 shows
every field with the uploads (downloaded as neutral attachments, staff only) and decides through four eyes."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from tests.support.applications import expired_order, jpeg, materials, paid_for_review
from tests.support.flows import sign_in
from tests.support.staff import make_staff, sign_in_staff
from wxbackend.applications import service
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.users.models import User


@pytest.fixture
def stores(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    monkeypatch.setitem(app.config, "BANK_PAYOUT_LOCAL_FILE", str(tmp_path / "payouts.log"))
    return tmp_path


def signed_in(client, db_session, name: str) -> tuple[User, str]:
    csrf = sign_in(client, name)
    user = db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))
    user.identity_verified = True
    db_session.flush()
    return user, csrf


def test_the_whole_phone_path_up_to_payment(client, db_session, stores):
    user, csrf = signed_in(client, db_session, "经办人甲")
    order = expired_order(user=user)
    page = client.get(f"/h5/orders/{order.id}")
    assert "填写申请资料" in page.text
    started = client.post(f"/h5/orders/{order.id}/application", data={"csrf_token": csrf})
    application = service.for_order(order.id)
    assert started.headers["Location"].endswith(f"/h5/applications/{application.id}/agreement")
    agreement = client.get(f"/h5/applications/{application.id}/agreement").text
    assert "第八条 争议解决" in agreement and "您可以拒绝本授权" in agreement  # both shown in full
    # the materials page is not reachable before the consent
    assert client.get(f"/h5/applications/{application.id}/materials").headers["Location"].endswith("/agreement")
    refused = client.post(f"/h5/applications/{application.id}/agreement", data={"csrf_token": csrf,
                                                                               "agreement": "yes"})
    assert 'data-field="consent"' in refused.text
    client.post(f"/h5/applications/{application.id}/agreement",
                data={"csrf_token": csrf, "agreement": "yes", "consent": "yes"})
    form = client.get(f"/h5/applications/{application.id}/materials").text
    assert 'value="深圳某某科技有限公司"' in form and '<option value="中国工商银行">' in form
    wrong = client.post(f"/h5/applications/{application.id}/materials",
                        data={"csrf_token": csrf, **materials(credit_code="91350100M000100Y44")})
    assert re.search(r'data-field="credit_code">统一社会信用代码校验位不正确', wrong.text)
    assert "11010519491231002X" not in wrong.text  # the sensitive values are not sent back
    saved = client.post(f"/h5/applications/{application.id}/materials", data={"csrf_token": csrf, **materials()})
    assert saved.status_code == 302
    pdf = client.get(f"/h5/applications/{application.id}/form.pdf")
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.data.startswith(b"%PDF")
    for kind in ("form", "licence"):
        sent = client.post(f"/h5/applications/{application.id}/uploads",
                           data={"csrf_token": csrf, "kind": kind, "file": (io.BytesIO(jpeg()), "a.jpg")},
                           content_type="multipart/form-data")
        assert sent.status_code == 302
    php = client.post(f"/h5/applications/{application.id}/uploads",
                      data={"csrf_token": csrf, "kind": "form",
                            "file": (io.BytesIO(b"<?php echo 1; ?>"), "shell.jpg")},
                      content_type="multipart/form-data", follow_redirects=True)
    assert "只能上传jpg、jpeg、bmp、gif 或 png格式的图片" in php.text
    for kind in ("id_front", "id_back"):
        client.post(f"/h5/applications/{application.id}/liveness",
                    data={"csrf_token": csrf, "kind": kind, "file": (io.BytesIO(jpeg()), "id.jpg")},
                    content_type="multipart/form-data")
    handoff = client.get(f"/h5/applications/{application.id}/liveness").text
    assert "微信“扫一扫”" in handoff and "<svg" in handoff  # the PC's QR code to the phone
    started = client.post(f"/h5/applications/{application.id}/liveness/start", data={"csrf_token": csrf})
    assert "/liveness/return?BizToken=" in started.headers["Location"]  # the local provider: straight back
    back = client.get(started.headers["Location"].split("5000", 1)[-1], follow_redirects=True)
    assert "活体认证已通过" in back.text
    assert client.get(f"/h5/applications/{application.id}/liveness/status").json["passed"] is True
    overview = client.get(f"/h5/applications/{application.id}").text
    assert "110***********002X" in overview and "11010519491231002X" not in overview
    submitted = client.post(f"/h5/applications/{application.id}/submit", data={"csrf_token": csrf})
    assert submitted.headers["Location"].endswith(f"/h5/orders/{order.id}")
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.PENDING_PAYMENT
    listing = client.get("/h5/applications?status=pending_payment").text
    assert application.application_no in listing and "查看" in listing
    assert application.application_no not in client.get("/h5/applications?status=rejected").text
    assert client.get("/h5/applications?status=nonsense").status_code == 400
    assert client.get("/h5/applications?from=not-a-date").status_code == 200


def test_another_users_application_is_404_on_every_route(client, db_session, stores):
    owner, _ = signed_in(client, db_session, "主人")
    order = expired_order(user=owner)
    application = paid_for_review(order)
    _, csrf = signed_in(client, db_session, "陌生人")
    a = application.id
    for method, path in (("get", f"/h5/applications/{a}"), ("get", f"/h5/applications/{a}/agreement"),
                         ("post", f"/h5/applications/{a}/agreement"), ("get", f"/h5/applications/{a}/materials"),
                         ("post", f"/h5/applications/{a}/materials"), ("get", f"/h5/applications/{a}/form.pdf"),
                         ("get", f"/h5/applications/{a}/uploads"), ("post", f"/h5/applications/{a}/uploads"),
                         ("post", f"/h5/applications/{a}/submit"), ("get", f"/h5/applications/{a}/verification"),
                         ("post", f"/h5/applications/{a}/verification"), ("get", f"/h5/applications/{a}/liveness"),
                         ("post", f"/h5/applications/{a}/liveness"), ("post", f"/h5/applications/{a}/liveness/start"),
                         ("get", f"/h5/applications/{a}/liveness/return"),
                         ("get", f"/h5/applications/{a}/liveness/status"),
                         ("post", f"/h5/orders/{order.id}/application")):
        answer = getattr(client, method)(path, data={"csrf_token": csrf, "agreement": "yes", "consent": "yes",
                                                      "code": "123456", **materials()})
        assert answer.status_code == 404, (method, path, answer.status_code)
    assert application.application_no not in client.get("/h5/applications").text


def test_the_console_review_page_and_staff_only_downloads(app, client, db_session, stores):
    order = expired_order()
    application = paid_for_review(order)
    auditor = make_staff("shenhe1", "auditor", name="审核员甲")
    console = app.test_client()
    token = sign_in_staff(console, auditor)
    home = console.get("/admin/").text
    assert "待审核" in home
    queue = console.get("/admin/applications").text
    assert application.application_no in queue
    page = console.get(f"/admin/applications/{application.id}")
    assert page.headers["Cache-Control"] == "no-store"
    for value in ("11010519491231002X", "6222021234567890123", "中国工商银行", "初审", 'id="reject-form"',
                  "经办人活体认证：已通过", "身份证照片已于核验后删除"):
        assert value in page.text, value
    upload = service.current_uploads(application)["licence"]
    download = console.get(f"/admin/applications/uploads/{upload.public_id}")
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    # our name for it, never the sender's ("a.jpg"; the random id itself may well end in "a")
    assert download.headers["Content-Disposition"] == f'attachment; filename="licence-{upload.public_id}.jpg"'
    assert download.data.startswith(b"\xff\xd8\xff")
    pdf = console.get(f"/admin/applications/{application.id}/form.pdf")
    assert pdf.data.startswith(b"%PDF") and pdf.headers["Content-Disposition"].startswith("attachment;")
    # the customer's cookie opens nothing in the console; an unknown id is 404
    assert client.get(f"/admin/applications/uploads/{upload.public_id}").status_code == 302
    assert console.get("/admin/applications/uploads/" + "0" * 32).status_code == 404
    # reject naming 基本户账号, through the console's four-eyes form
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)
    request_id = service.approvals.pending_request(service.REVIEW_KIND, application.id).id
    rejected = console.post(f"/admin/approvals/{request_id}/reject",
                            data={"csrf_token": token, "nonce": nonce, "reason": "账号不符", "fields": "bank_account",
                                  "totp_code": auditor.next_code()})
    assert rejected.status_code == 302
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.REJECTED
    assert service.last_rejection(application).fields == ["基本户账号"]


def test_rejected_after_wechat_pay_the_user_asks_for_the_refund(app, client, db_session, stores, wechatpay):
    from tests.support.applications import ready_application
    from tests.support.wechatpay import deliver
    from wxbackend.payments.models import Payment, Refund
    from wxbackend.payments.service import start_wechat_payment

    user, csrf = signed_in(client, db_session, "退费人")
    order = expired_order(user=user)
    application = ready_application(order)
    service.submit(user.id, application.id)
    start_wechat_payment(user.id, order.id, "jsapi")
    payment = db_session.scalar(sa.select(Payment).where(Payment.order_id == order.id))
    assert deliver(app.test_client(), wechatpay.pay(payment.out_trade_no)).status_code == 204
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.PENDING_REVIEW  # paid → 待审核, review opened
    request = service.approvals.pending_request(service.REVIEW_KIND, application.id)
    auditor = make_staff("refund_aud", "auditor")
    service.approvals.decide(request.id, auditor.id, "reject", service.approvals.issue_nonce(request.id, auditor.id),
                             reason="材料不全")
    page = client.get(f"/h5/applications/{application.id}").text
    assert "审核未通过" in page and "材料不全" in page
    listing = client.get("/h5/applications").text
    assert "申请退费" in listing and "编辑" in listing
    refunded = client.post(f"/h5/orders/{order.id}/refund", data={"csrf_token": csrf})
    assert refunded.status_code == 302
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.REFUNDING
    assert db_session.scalar(sa.select(Refund).where(Refund.order_id == order.id)).amount_fen == order.amount_fen


def test_finance_sees_the_fin_verification_queue_without_the_code(app, db_session, stores):
    from wxbackend.applications import finance
    from wxbackend.core.crypto import decrypt

    order = expired_order()
    application = paid_for_review(order)
    request = service.approvals.pending_request(service.REVIEW_KIND, application.id)
    for name in ("fq_a", "fq_b"):
        staff = make_staff(name, "auditor")
        service.approvals.decide(request.id, staff.id, "approve", service.approvals.issue_nonce(request.id, staff.id))
    verification = finance.latest(application.id)
    finance.pay(verification.id)
    code = decrypt(verification.code_enc, "fin_verification_code")
    console = app.test_client()
    sign_in_staff(console, make_staff("caiwu1", "finance"))
    page = console.get("/admin/applications/fin-verifications").text
    assert application.application_no in page and "待输入随机码" in page and "6222***********0123" in page
    assert finance.remark(code) not in page and "6222021234567890123" not in page
    assert console.get("/admin/applications").status_code in (302, 403)  # 待审核 is the auditors'


def test_an_upload_above_the_request_limit_is_refused_without_a_500(client, db_session, stores):
    user, csrf = signed_in(client, db_session, "大文件")
    order = expired_order(user=user)
    application = service.start(user.id, order.id)
    service.agree(user.id, application.id, True, True)
    big = io.BytesIO(b"\xff\xd8\xff" + b"0" * (5 << 20))
    huge = client.post(f"/h5/applications/{application.id}/uploads",
                       data={"csrf_token": csrf, "kind": "form", "file": (big, "big.jpg")},
                       content_type="multipart/form-data")
    assert huge.status_code == 413
    three_mb = client.post(f"/h5/applications/{application.id}/uploads",
                           data={"csrf_token": csrf, "kind": "licence",
                                 "file": (io.BytesIO(b"\xff\xd8\xff" + b"0" * (3 << 20)), "3mb.jpg")},
                           content_type="multipart/form-data", follow_redirects=True)
    assert "图片不能超过2MB" in three_mb.text
    assert service.current_uploads(application) == {}


def test_a_missing_pdf_font_answers_503_in_chinese_on_the_page_and_the_api(app, client, db_session, stores,
                                                                          monkeypatch):
    from wxbackend.web.auth import issue_api_token

    user, _ = signed_in(client, db_session, "无字体")
    application = paid_for_review(expired_order(user=user))
    monkeypatch.setitem(app.config, "APPLICATION_PDF_FONT", str(stores / "no-such-font.ttc"))
    refused = client.get(f"/h5/applications/{application.id}/form.pdf")
    assert refused.status_code == 302 and refused.location.endswith(f"/h5/applications/{application.id}")
    assert "申请表暂时无法生成" in client.get(refused.location).text  # flashed on the application's page
    api = client.get(f"/api/applications/{application.id}/form.pdf",
                     headers={"Authorization": f"Bearer {issue_api_token(user.id)[0]}"})
    assert api.status_code == 503 and api.json == {"code": "form_unavailable",
                                                  "message": "申请表暂时无法生成，请稍后再试；如持续出现请联系客服"}


def test_the_console_queue_has_a_next_page(app, db_session, stores, monkeypatch):
    from wxbackend.core import keyset

    monkeypatch.setattr(keyset, "PAGE_SIZE", 2)
    numbers = [paid_for_review(expired_order()).application_no for _ in range(3)]
    console = app.test_client()
    sign_in_staff(console, make_staff("paging1", "auditor"))
    first = console.get("/admin/applications").text
    assert numbers[0] in first and numbers[1] in first and numbers[2] not in first
    next_url = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = console.get(next_url).text
    assert numbers[2] in second and numbers[0] not in second and 'id="next-page"' not in second
