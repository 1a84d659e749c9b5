"""Browser test of the reviewed application (issue 13), as far as submission: an expired certificate's order, the
agreement and the separate consent, the materials (an error under its field, then saved), the printable PDF read
back with pypdf, the two scans, the ID photos and the liveness check on the phone reached from the PC's QR code
(the fake FaceID's hosted page), the PC page following the phone's result, then 提交申请 → 待支付."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.support.applications import ORGANISATION, jpeg, materials
from tests.support.live import shot, wechat_phone
from wxbackend.core.db import db

pytestmark = pytest.mark.browser
OPENID = "oApplicant0000001"


def expired_draft_order(live_app) -> int:
    from tests.support.factories import bind, make_certificate
    from wxbackend.orders.service import create_order
    from wxbackend.users.models import User

    with live_app.app_context():
        user = User(openid=OPENID, nickname="张三", identity_verified=True)
        db.session.add(user)
        db.session.flush()
        certificate = make_certificate(ORGANISATION, expires_in_days=-20)
        bind(user, certificate)
        order = create_order(user.id, certificate.id, 1)
        db.session.commit()
        return order.id


def test_phone_and_pc_fill_in_the_application_up_to_payment(live_app, browser, fake_liveness, monkeypatch, tmp_path):
    fake_liveness.use(live_app, monkeypatch)
    monkeypatch.setitem(live_app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    order_id = expired_draft_order(live_app)
    base = live_app.base_url
    phone = wechat_phone(browser, live_app, OPENID)
    phone.goto(f"{base}/h5/orders/{order_id}")
    phone.click("#open-application")
    phone.wait_for_selector("#agreement-text")
    assert "第八条 争议解决" in phone.text_content("#agreement-text")
    phone.check("#agree-agreement")
    phone.click("#agreement-submit")
    assert "《敏感个人信息处理授权书》" in phone.text_content('[data-field="consent"]')
    phone.check("#agree-agreement")
    phone.check("#agree-consent")
    shot(phone, "application-agreement")
    phone.click("#agreement-submit")
    phone.wait_for_selector("#materials-form")
    values = materials(credit_code="91350100M000100Y44")
    for name, value in values.items():
        if name == "invoice_type":
            phone.select_option("#f-invoice_type", value)
        elif name not in ("org_name", "bank_account_name"):
            phone.fill(f"#f-{name}", value)
    phone.click("#materials-submit")
    assert phone.text_content('[data-field="credit_code"]') == "统一社会信用代码校验位不正确，请核对"
    shot(phone, "application-materials-error")
    for name in ("legal_id_number", "legal_mobile", "agent_id_number", "agent_mobile", "bank_account"):
        phone.fill(f"#f-{name}", values[name])  # not sent back by the server: typed again
    phone.fill("#f-credit_code", "91350100M000100Y43")
    phone.click("#materials-submit")
    phone.wait_for_selector("#application-no")
    application_no = phone.text_content("#application-no")
    application_id = int(re.search(r"/h5/applications/(\d+)", phone.url).group(1))
    pdf = phone.request.get(f"{base}/h5/applications/{application_id}/form.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert application_no in text and ORGANISATION in text and "6222021234567890123" in text

    phone.click("#step-uploads")
    for kind in ("form", "licence"):
        phone.set_input_files(f"#file-{kind}", files=[{"name": f"{kind}.jpg", "mimeType": "image/jpeg",
                                                       "buffer": jpeg()}])
        phone.click(f"#upload-{kind}-submit")
        phone.wait_for_selector(f"#uploaded-{kind}")

    # the PC shows a QR code of the phone's liveness page and follows it
    pc = wechat_phone(browser, live_app, OPENID)
    pc.set_viewport_size({"width": 1280, "height": 900})
    pc.goto(f"{base}/h5/applications/{application_id}/liveness")
    assert pc.locator("#handoff-qr svg").count() == 1
    phone_url = pc.text_content("#handoff .mono").strip()
    shot(pc, "application-pc-qr")
    phone.goto(phone_url)  # what 微信扫一扫 opens
    for kind in ("id_front", "id_back"):
        phone.set_input_files(f"#file-{kind}", files=[{"name": "id.jpg", "mimeType": "image/jpeg",
                                                       "buffer": jpeg((856, 540))}])
        phone.click(f"#upload-{kind}-submit")
        phone.wait_for_selector(f"#uploaded-{kind}")
    phone.click("#liveness-start")
    phone.wait_for_selector("#pass")  # the provider's hosted page
    shot(phone, "application-faceid-page")
    phone.click("#pass")
    phone.wait_for_selector("#liveness-status")
    assert phone.text_content("#liveness-status") == "已通过"
    pc.wait_for_function("document.getElementById('liveness-status').textContent === '已通过'", timeout=15000)
    shot(pc, "application-pc-followed")

    phone.goto(f"{base}/h5/applications/{application_id}")
    assert phone.locator("#missing").count() == 0
    phone.click("#submit-application")
    phone.wait_for_selector("#order-no")
    assert phone.text_content("#status") == "待支付"
    shot(phone, "application-submitted")
