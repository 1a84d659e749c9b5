"""The user's switch and SMS opt-in on the H5 settings page and in /api, the mini-program's subscribe answers, and
待办事项 listing what the reminders are about with the reminders' own links."""

from __future__ import annotations

import sqlalchemy as sa

from tests.reminders.support import certificate_ending
from tests.support.factories import bind
from tests.support.flows import sign_in
from tests.support.wechat import MINI_TEMPLATES
from wxbackend.core.db import db
from wxbackend.orders.service import todo_items
from wxbackend.reminders.models import ReminderPreference
from wxbackend.users.models import User


def signed_in_user(db_session, name: str = "张三") -> User:
    return db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))


def test_api_turns_reminders_off_and_opts_in_to_sms(client, db_session):
    csrf = sign_in(client, "张三")
    headers = {"X-CSRFToken": csrf}
    assert client.get("/api/reminders/settings").json == {"enabled": True, "sms_opt_in": False, "mobile_masked": "",
                                                          "subscribe_accepts": 0}
    refused = client.put("/api/reminders/settings", json={"enabled": True, "sms_opt_in": True}, headers=headers)
    assert refused.status_code == 400 and refused.json["code"] == "mobile_required"
    assert refused.json["message"] == "开启短信提醒需填写手机号码"
    bad = client.put("/api/reminders/settings", json={"enabled": True, "sms_opt_in": True, "mobile": "123"},
                     headers=headers)
    assert bad.status_code == 400 and bad.json["code"] == "invalid_mobile"
    opted = client.put("/api/reminders/settings", json={"enabled": True, "sms_opt_in": True, "mobile": "13812345678"},
                       headers=headers)
    assert opted.status_code == 200 and opted.json["mobile_masked"] == "138****5678" and opted.json["sms_opt_in"]
    off = client.put("/api/reminders/settings", json={"enabled": False}, headers=headers)
    assert off.status_code == 200 and off.json == {"enabled": False, "sms_opt_in": True,
                                                   "mobile_masked": "138****5678", "subscribe_accepts": 0}
    no_sms = client.put("/api/reminders/settings", json={"enabled": False, "sms_opt_in": False}, headers=headers)
    assert no_sms.json["sms_opt_in"] is False and no_sms.json["mobile_masked"] == "138****5678"
    stored = db.session.get(ReminderPreference, signed_in_user(db_session).id)
    assert b"13812345678" not in stored.mobile_enc  # encrypted at rest
    wrong_type = client.put("/api/reminders/settings", json={"enabled": "maybe"}, headers=headers)
    assert wrong_type.status_code == 400 and "message" in wrong_type.json
    assert client.put("/api/reminders/settings", json={"enabled": False}).status_code == 400  # no CSRF token


def test_api_needs_a_signed_in_user(client, db_session):
    answer = client.get("/api/reminders/settings")
    assert answer.status_code == 401 and set(answer.json) >= {"code", "message"}


def test_the_mini_program_reports_its_subscribe_answers(client, db_session):
    csrf = sign_in(client, "张三")
    headers = {"X-CSRFToken": csrf}
    template = MINI_TEMPLATES["expiry_reminder"]
    assert client.get("/api/reminders/subscribe-templates").json == {"template_ids": [template]}
    for scene in ("binding", "payment"):
        answer = client.post("/api/reminders/subscribe-results",
                             json={"scene": scene, "results": {template: "accept", "SUB-unknown": "accept"}},
                             headers=headers)
        assert answer.status_code == 200
    assert answer.json == {"subscribe_accepts": 2}
    rejected = client.post("/api/reminders/subscribe-results", json={"results": {template: "reject"}},
                           headers=headers)
    assert rejected.json == {"subscribe_accepts": 2}
    bad = client.post("/api/reminders/subscribe-results", json={"results": {template: "maybe"}}, headers=headers)
    assert bad.status_code == 400
    assert client.get("/api/reminders/settings").json["subscribe_accepts"] == 2


def test_the_h5_settings_page_switches_reminders_off(client, db_session):
    sign_in(client, "张三")
    home = client.get("/h5/")
    assert 'href="/h5/reminders/settings"' in home.text and "到期提醒" in home.text
    page = client.get("/h5/reminders/settings")
    assert page.status_code == 200 and "接收证书到期提醒" in page.text and 'checked' in page.text
    token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    saved = client.post("/h5/reminders/settings", data={"csrf_token": token, "mobile": ""})
    assert saved.status_code == 302
    user = signed_in_user(db_session)
    assert db.session.get(ReminderPreference, user.id).enabled is False
    refused = client.post("/h5/reminders/settings", data={"csrf_token": token, "enabled": "y", "sms_opt_in": "y",
                                                          "mobile": "12345"}, follow_redirects=True)
    assert refused.status_code == 200 and "手机号码格式不正确" in refused.text
    db.session.expire_all()
    assert db.session.get(ReminderPreference, user.id).enabled is False  # the refusal changed nothing
    client.post("/h5/reminders/settings", data={"csrf_token": token, "enabled": "y", "sms_opt_in": "y",
                                                "mobile": "13812345678"})
    page = client.get("/h5/reminders/settings")
    assert "138****5678" in page.text


def test_todo_lists_what_reminders_are_about_with_the_same_links(client, db_session):
    sign_in(client, "张三")
    user = signed_in_user(db_session)
    certificate = certificate_ending(400, organisation="有应用的机构", apps=(("广东省政府采购网", 20),))
    bind(user, certificate)
    app = certificate.apps[0]
    items = todo_items(user.id)
    assert [(item.title, item.link) for item in items] == [
        ("应用待续期", f"/h5/certificates/{certificate.id}/renew?app={app.id}")]
    page = client.get("/h5/todo")
    assert f'href="/h5/certificates/{certificate.id}/renew?app={app.id}"' in page.text
