"""Browser test of 实时制证: the PC page in headless Chromium with the real helper and a SoftHSM2 key writes the
renewed certificate of a paid order; the token is then read with python-pkcs11 and the phone shows the result."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa
from cryptography import x509
from pkcs11 import Attribute, ObjectClass

from tests.support.live import make_demo_key, on_page, paid_order_for, shot, wechat_phone
from tests.support.x509check import verify_chain
from wxbackend.ca.service import get_authority
from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI
from wxbackend.orders.eligibility import new_validity

pytestmark = pytest.mark.browser


def test_paid_order_is_renewed_from_the_pc_page(live_app, live_helper, browser, softhsm_store):
    medium, cert_id, not_after = make_demo_key(live_app)  # the token's serial, the certificate
    order_no = paid_order_for(live_app, cert_id, "oRenewer0001")
    live_helper()
    base = live_app.base_url
    expected = new_validity(not_after, 1)

    pc = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    pc.goto(f"{base}/pc/renew")
    pc.wait_for_selector("#panel-order:not([hidden])")
    assert pc.text_content("#order-no") == order_no
    assert pc.text_content("#order-org") == "广州某某科技有限公司"
    assert pc.text_content("#new-not-after") == expected.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    for text in ("确认已安装并打开客户端", "插入待续期的介质", "输入用户PIN码，点击续期"):
        assert text in pc.text_content(".guide")
    shot(pc, "pc-renew-order")
    pc.fill("#pin", "12345678")
    pc.click("#btn-renew")
    pc.wait_for_selector("#panel-done:not([hidden])", timeout=60_000)
    assert pc.text_content("#result") == "续期成功"
    assert [li.get_attribute("class") for li in pc.query_selector_all("#progress li")] == ["done"] * 5
    shot(pc, "pc-renew-done")

    # the token, read with python-pkcs11
    lib = softhsm_store.lib()
    [token] = [t for t in (s.get_token() for s in lib.get_slots(token_present=True))
               if (t.serial.decode() if isinstance(t.serial, bytes) else t.serial).strip() == medium]
    with token.open(user_pin="12345678") as session:
        certs = [(bytes(o[Attribute.ID]), x509.load_der_x509_certificate(o[Attribute.VALUE]))
                 for o in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
        private_ids = [bytes(k[Attribute.ID]) for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})]
    [(cka_id, new)] = certs
    assert private_ids == [cka_id]
    with live_app.app_context():
        authority = get_authority()
        old = x509.load_pem_x509_certificate(db.session.execute(
            sa.text("SELECT pem FROM certificates WHERE id = :id"), {"id": cert_id}).scalar().encode())
        assert "OK" in verify_chain(new, authority.issuing, authority.root)
    assert new.subject == old.subject and new.serial_number != old.serial_number
    assert new.not_valid_after_utc == expected.astimezone(UTC)

    phone = wechat_phone(browser, live_app, "oRenewer0001")
    phone.goto(f"{base}/h5/certificates")
    assert on_page(phone, base, "/h5/certificates")
    row = phone.locator("a[data-serial]")
    assert row.count() == 1 and expected.astimezone(SHANGHAI).strftime("%Y-%m-%d") in row.text_content()
    phone.goto(f"{base}/h5/orders")
    assert "已完成" in phone.text_content(f"a[data-order-no='{order_no}']")
    shot(phone, "phone-renewed")
