"""Delivering a reminder to each bound user, against the fake WeChat and the fake SMS gateway: a template message
to a follower opening the renew page; for a mini-program user a subscribe message per accept counted (none left:
the SMS fallback if opted in, else nothing); reminders off, a renewal or an order meanwhile: nothing; the outbox job
run twice sends once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.reminders.support import TODAY, certificate_ending, open_order
from tests.support.factories import bind, make_user
from tests.support.wechat import MINI_TEMPLATES, TEMPLATES
from wxbackend.core.db import db
from wxbackend.core.jobs import run_outbox
from wxbackend.core.outbox import OutboxEntry
from wxbackend.integrations.wechat import WeChatError
from wxbackend.reminders.models import Reminder, ReminderDelivery
from wxbackend.reminders.service import (
    deliver,
    preferences,
    record_subscribe_results,
    remaining_accepts,
    scan,
    update_preferences,
)
from wxbackend.users.models import User

SUBSCRIBE_TEMPLATE = MINI_TEMPLATES["expiry_reminder"]


def mini_program_user(name: str = "小程序用户") -> User:
    user = User(mp_openid=f"mp-{name}-{TODAY.isoformat()}", nickname=name, identity_verified=True)
    db.session.add(user)
    db.session.flush()
    return user


def reminded(user: User, days: int = 7, **kw) -> Reminder:
    certificate = certificate_ending(days, **kw)
    bind(user, certificate)
    assert scan(TODAY) >= 1
    return db.session.scalars(sa.select(Reminder).where(Reminder.certificate_id == certificate.id)).one()


def delivery(reminder: Reminder, user: User) -> ReminderDelivery:
    return db.session.scalars(sa.select(ReminderDelivery).where(ReminderDelivery.reminder_id == reminder.id,
                                                                ReminderDelivery.user_id == user.id)).one()


def test_a_follower_gets_a_template_message_opening_the_renew_page(app, db_session, wechat):
    user = make_user()
    reminder = reminded(user, 7, organisation="广州某某科技有限公司")
    assert deliver(reminder.id, user.id) == "template"
    [message] = wechat.messages()
    assert message["kind"] == "template" and message["touser"] == user.openid
    assert message["template_id"] == TEMPLATES["expiry_reminder"]
    assert message["url"] == f"{app.config['PUBLIC_BASE_URL']}/h5/certificates/{reminder.certificate_id}/renew"
    assert message["data"]["first"]["value"] == "证书将于7天后到期"
    assert message["data"]["keyword1"]["value"] == "广州某某科技有限公司"
    assert message["data"]["keyword2"]["value"] == (TODAY + timedelta(days=7)).strftime("%Y年%m月%d日")
    assert deliver(reminder.id, user.id) == "already"
    assert len(wechat.messages()) == 1


def test_an_app_reminder_opens_the_app_renew_page(app, db_session, wechat):
    user = make_user()
    certificate = certificate_ending(300, organisation="深圳某某有限公司", apps=(("深圳公共资源交易中心", -7),))
    bind(user, certificate)
    assert scan(TODAY) == 1
    reminder = db.session.scalars(sa.select(Reminder)).one()
    assert deliver(reminder.id, user.id) == "template"
    [message] = wechat.messages()
    assert message["url"].endswith(f"/h5/certificates/{certificate.id}/renew?app={certificate.apps[0].id}")
    assert message["data"]["first"]["value"] == "应用已过期7天"
    assert message["data"]["keyword1"]["value"] == "深圳某某有限公司（深圳公共资源交易中心）"


def test_the_outbox_job_run_twice_sends_once(app, db_session, wechat):
    user = make_user()
    reminded(user, 0)
    [entry_id] = db.session.scalars(sa.select(OutboxEntry.id).where(OutboxEntry.job == "reminders.deliver")).all()
    assert run_outbox(entry_id) == "template"
    assert run_outbox(entry_id) == "nothing to do"
    reminder = db.session.scalars(sa.select(Reminder)).one()
    assert deliver(reminder.id, user.id) == "already"
    assert [m["data"]["first"]["value"] for m in wechat.messages()] == ["证书今日到期"]


def test_a_mini_program_user_gets_one_subscribe_message_per_accept(app, db_session, wechat, fake_sms):
    user = mini_program_user()
    wechat.user(user.mp_openid, consents=[SUBSCRIBE_TEMPLATE])
    assert record_subscribe_results(user.id, {SUBSCRIBE_TEMPLATE: "accept", "SUB-other": "accept"}) == 1
    assert record_subscribe_results(user.id, {SUBSCRIBE_TEMPLATE: "reject"}) == 1
    first = reminded(user, 30)
    assert deliver(first.id, user.id) == "subscribe"
    assert remaining_accepts(user.id) == 0
    [message] = wechat.messages()
    assert message["kind"] == "subscribe" and message["touser"] == user.mp_openid
    assert message["page"] == f"pages/renew/renew?certificate={first.certificate_id}"
    # the one accept is spent: no second subscribe message, and without SMS opt-in nothing at all
    second = reminded(user, 7)
    assert deliver(second.id, user.id) == "none"
    assert delivery(second, user).note == "no_subscribe_accept"
    assert len(wechat.messages()) == 1 and fake_sms.messages() == []


def test_no_accept_falls_back_to_sms_when_opted_in(app, db_session, wechat, fake_sms):
    user = mini_program_user()
    update_preferences(user.id, enabled=True, sms_opt_in=True, mobile="13812345678")
    reminder = reminded(user, -30, organisation="广州某某科技有限公司")
    assert deliver(reminder.id, user.id) == "sms"
    [sms] = fake_sms.messages()
    assert sms["mobile"] == "13812345678" and sms["template"] == app.config["REMINDER_SMS_TEMPLATE"]
    assert sms["params"]["title"] == "证书已过期30天" and sms["params"]["organisation"] == "广州某某科技有限公司"
    assert sms["params"]["link"].endswith(f"/h5/certificates/{reminder.certificate_id}/renew")
    assert wechat.messages() == []
    assert deliver(reminder.id, user.id) == "already"
    assert len(fake_sms.messages()) == 1


def test_no_accept_and_no_sms_opt_in_sends_nothing(app, db_session, wechat, fake_sms):
    user = mini_program_user()
    reminder = reminded(user, 90)
    assert deliver(reminder.id, user.id) == "none"
    assert wechat.messages() == [] and fake_sms.messages() == []


def test_an_unfollower_falls_through_to_sms(app, db_session, wechat, fake_sms):
    user = make_user()
    wechat.user(user.openid, subscribed=False)  # WeChat answers 43004 to a template message
    update_preferences(user.id, enabled=True, sms_opt_in=True, mobile="13912345678")
    reminder = reminded(user, 7)
    assert deliver(reminder.id, user.id) == "sms"
    assert wechat.messages() == [] and len(fake_sms.messages()) == 1


def test_reminders_off_send_nothing(app, db_session, wechat, fake_sms):
    user = make_user()
    update_preferences(user.id, enabled=False, sms_opt_in=True, mobile="13812345678")
    assert preferences(user.id).enabled is False
    reminder = reminded(user, 7)
    assert deliver(reminder.id, user.id) == "none"
    assert delivery(reminder, user).note == "reminders_off"
    assert wechat.messages() == [] and fake_sms.messages() == []


def test_a_renewal_or_an_order_meanwhile_sends_nothing(app, db_session, wechat):
    user = make_user()
    renewed = reminded(user, 7, organisation="已续期机构")
    newer = certificate_ending(372, organisation="已续期机构", previous=renewed.certificate)
    bind(user, newer)
    ordered = reminded(user, 30, organisation="有受理单机构")
    open_order(user, ordered.certificate)
    assert deliver(renewed.id, user.id) == "none" and delivery(renewed, user).note == "renewed"
    assert deliver(ordered.id, user.id) == "none" and delivery(ordered, user).note == "open_order"
    assert wechat.messages() == []


def test_an_unbound_user_gets_nothing(app, db_session, wechat):
    user, other = make_user("张三"), make_user("李四")
    reminder = reminded(user, 7)
    assert deliver(reminder.id, other.id) == "none" and delivery(reminder, other).note == "unbound"
    assert wechat.messages() == []


def test_a_transient_failure_records_nothing_and_the_retry_sends_once(app, db_session, wechat):
    user = mini_program_user()
    wechat.user(user.mp_openid, consents=[SUBSCRIBE_TEMPLATE])
    record_subscribe_results(user.id, {SUBSCRIBE_TEMPLATE: "accept"})
    reminded(user, 7)
    db.session.commit()  # what the scan's job commits
    [entry_id] = db.session.scalars(sa.select(OutboxEntry.id).where(OutboxEntry.job == "reminders.deliver")).all()
    wechat.fail("/cgi-bin/message/subscribe/send", -1)  # WeChat busy
    with pytest.raises(WeChatError):
        run_outbox(entry_id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReminderDelivery)) == 0
    assert remaining_accepts(user.id) == 1  # the accept the failed attempt took is back
    assert db.session.get(OutboxEntry, entry_id).attempts == 1
    assert run_outbox(entry_id) == "subscribe"
    assert run_outbox(entry_id) == "nothing to do"
    assert remaining_accepts(user.id) == 0
    assert [m["kind"] for m in wechat.messages()] == ["subscribe"]
