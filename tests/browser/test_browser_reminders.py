"""Browser test of an expiry reminder (issue 15): the daily scan finds a certificate 30 days from its end, the
delivery job sends the template message through the fake WeChat, and the phone opens the message's link — through
WeChat OAuth, as a template message's link opens — and lands on the one-tap renewal page with the eligibility, the
price and the new validity the order then charges."""

from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa

from tests.reminders.support import certificate_ending
from tests.support.factories import bind, make_user
from tests.support.live import fill_order_terms, on_page, shot, wechat_phone
from wxbackend.core.db import db
from wxbackend.core.jobs import run_outbox
from wxbackend.core.outbox import OutboxEntry
from wxbackend.core.times import SHANGHAI
from wxbackend.orders.eligibility import new_validity
from wxbackend.reminders.service import local_today, scan

pytestmark = pytest.mark.browser

OPENID = "oRemind00000001"


def reminded_certificate(live_app) -> dict:
    with live_app.app_context():
        user = make_user("张三")
        user.openid = OPENID
        certificate = certificate_ending(30, "广州某某科技有限公司")
        bind(user, certificate)
        db.session.commit()
        assert scan(local_today()) == 1
        db.session.commit()
        [entry_id] = db.session.scalars(sa.select(OutboxEntry.id).where(OutboxEntry.job == "reminders.deliver"))
        assert run_outbox(entry_id) == "template"
        return {"id": certificate.id, "not_after": certificate.not_after}


def test_the_reminder_opens_the_renewal_page_with_the_price_the_order_charges(live_app, browser):
    cert = reminded_certificate(live_app)
    messages = requests.get(live_app.config["WECHAT_API_BASE"] + "_fake/messages", timeout=10).json()
    [message] = [m for m in messages if m["kind"] == "template" and m["touser"] == OPENID]
    assert message["data"]["first"]["value"] == "证书将于30天后到期"

    phone = wechat_phone(browser, live_app, OPENID)
    phone.goto(message["url"])  # not signed in yet: WeChat OAuth, then back to the link
    phone.wait_for_selector("#renew-form")
    assert on_page(phone, live_app.base_url, f"/h5/certificates/{cert['id']}/renew")
    shot(phone, "phone-reminder-renewal")
    assert phone.text_content("#org") == "广州某某科技有限公司"
    assert phone.text_content("#eligibility").startswith("可在线续期")
    assert phone.text_content("#amount") == "¥300.00"
    new_end = new_validity(cert["not_after"], 1).astimezone(SHANGHAI).strftime("%Y-%m-%d")
    assert phone.text_content("#new-not-after") == new_end

    fill_order_terms(phone)  # the first order: the agreement, 经办人 and 收件人
    phone.click("#create-order")  # the one tap
    phone.wait_for_selector("#order-no")
    assert phone.text_content("#amount") == "¥300.00" and phone.text_content("#new-not-after") == new_end
    with live_app.app_context():
        order = db.session.execute(sa.text("SELECT amount_fen, certificate_id FROM orders WHERE order_no = :no"),
                                   {"no": phone.text_content("#order-no")}).one()
    assert order.amount_fen == 30000 and order.certificate_id == cert["id"]


def test_the_settings_page_turns_reminders_off(live_app, browser):
    phone = wechat_phone(browser, live_app, OPENID)
    phone.goto(f"{live_app.base_url}/h5/")
    phone.click("[data-tile=reminders]")
    phone.wait_for_selector("#reminder-settings")
    assert phone.is_checked("#reminders-enabled") and not phone.is_checked("#sms-opt-in")
    phone.uncheck("#reminders-enabled")
    phone.check("#sms-opt-in")
    phone.fill("#mobile", "13812345678")
    with phone.expect_navigation():
        phone.click("#save-reminders")
    shot(phone, "phone-reminder-settings")
    assert not phone.is_checked("#reminders-enabled") and phone.is_checked("#sms-opt-in")
    assert "138****5678" in phone.text_content("#saved-mobile")
