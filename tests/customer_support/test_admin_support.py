"""The console's 人工客服 (a follower's "人工" becomes a conversation; replies as WeChat customer-service messages
within the 48-hour window), 未送达发票 (why, and requeue one) and 待制证/待寄出; roles, CSRF, masking, audit rows."""

from __future__ import annotations

import time
from datetime import timedelta

import requests
import sqlalchemy as sa
import xmltodict
from rq import Queue

from tests.support.factories import bind, make_certificate, make_user, pending_order
from tests.support.flows import queued_work, run_jobs
from tests.support.staff import make_staff, sign_in_staff
from tests.support.wechat import post_plain, text_xml
from wxbackend.audit.models import AuditLog
from wxbackend.certificates.service import user_certificates
from wxbackend.core.db import db
from wxbackend.core.jobs import enqueue_now
from wxbackend.core.redis import get_redis
from wxbackend.core.times import local_day, utcnow
from wxbackend.invoices import service as invoices
from wxbackend.invoices.models import Invoice
from wxbackend.invoices.service import ProfileInput
from wxbackend.orders import transitions as order_transitions
from wxbackend.orders.models import OrderStatus
from wxbackend.orders.service import mark_paid
from wxbackend.support import service
from wxbackend.support.models import SupportConversation, SupportMessage, SupportReply
from wxbackend.users.models import User

CUSTOM_SEND = "/cgi-bin/message/custom/send"
ORGANISATION = "广州某某科技有限公司"


def audit_rows(db_session, action: str) -> list[AuditLog]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def reply_content(response) -> str:
    return xmltodict.parse(response.data)["xml"]["Content"]


def conversations(db_session) -> list[SupportConversation]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(SupportConversation).order_by(SupportConversation.id)))


def customer() -> User:
    """张三, following, with a bound certificate and an order waiting for payment."""
    user = make_user("张三")
    certificate = make_certificate(ORGANISATION, expires_in_days=20)
    bind(user, certificate)
    pending_order(1, "深圳某某贸易有限公司", user)
    user.following = True
    db.session.commit()
    return user


def asks_for_a_person(client, user: User, msg_id: int = 7001, text: str = "我要转人工") -> SupportConversation:
    response = post_plain(client, text_xml(text, msg_id, openid=user.openid))
    assert "已为您转接人工客服" in reply_content(response)
    run_jobs()
    [conversation] = [c for c in conversations(db.session) if c.user_id == user.id and c.status != "closed"]
    return conversation


def support_client(app, name: str = "kefu", *roles: str):
    client = app.test_client()
    staff = make_staff(name, *(roles or ("support",)))
    return client, staff, sign_in_staff(client, staff)


# ------------------------------------------------------------------------------------------ from WeChat


def test_a_request_for_a_person_becomes_one_open_conversation_however_often_it_arrives(client, db_session, wechat):
    user = customer()
    xml = text_xml("你好，我要人工客服", 7001, openid=user.openid, create_time=int(time.time()))
    first, retried = post_plain(client, xml), post_plain(client, xml)  # WeChat's retry of the same MsgId
    assert reply_content(first) == reply_content(retried)
    assert "已为您转接人工客服" in reply_content(first)
    run_jobs()
    get_redis().delete("wechat:seen:msg:7001")  # the endpoint's mark gone: WeChat's late copy queues again
    post_plain(client, xml)
    enqueue_now("wechat.hand_over_to_staff", user.openid, "你好，我要人工客服", "msg:7001", int(time.time()))
    run_jobs()  # the job twice more
    [conversation] = conversations(db_session)
    assert conversation.status == "open" and conversation.user_id == user.id and conversation.openid == user.openid
    assert [m.content for m in conversation.messages] == ["你好，我要人工客服"]
    assert [row.detail["opened"] for row in audit_rows(db_session, "wechat.handover")] == [True]

    more = post_plain(client, text_xml("我的证书下个月到期，U盾插上没反应", 7002, openid=user.openid))
    assert "已收到您的留言" in reply_content(more)  # any text while the conversation is live goes to staff
    asks_again = post_plain(client, text_xml("人工", 7003, openid=user.openid))
    assert "已为您转接人工客服" in reply_content(asks_again)
    stranger = post_plain(client, text_xml("随便说点什么", 7004, openid="oSTRANGER"))
    assert "请点击菜单" in reply_content(stranger)
    run_jobs()
    [conversation] = conversations(db_session)
    assert [m.content for m in conversation.messages] == ["你好，我要人工客服", "我的证书下个月到期，U盾插上没反应",
                                                          "人工"]
    assert db_session.scalar(sa.select(sa.func.count()).select_from(SupportMessage)) == 3


# ------------------------------------------------------------------------------------------ the queue


def test_the_queue_and_the_conversation_show_the_follower_with_certificates_and_orders(app, client, db_session,
                                                                                      wechat):
    user = customer()
    conversation = asks_for_a_person(client, user)
    console, _, _ = support_client(app)
    home = console.get("/admin/")
    assert 'data-queue="support_admin.queue">人工客服<span class="count">1</span>' in home.text
    queue = console.get("/admin/support")
    assert queue.status_code == 200 and f'data-conversation="{conversation.id}"' in queue.text
    assert "我要转人工" in queue.text and "张**" in queue.text and "张三" not in queue.text
    page = console.get(f"/admin/support/{conversation.id}")
    assert page.status_code == 200
    assert "我要转人工" in page.text and ORGANISATION in page.text  # the bound certificate, with its organisation
    for certificate in user_certificates(user.id):  # the one bound, and the one of the order
        assert certificate.serial in page.text and local_day(certificate.not_after) in page.text
    assert "深圳某某贸易有限公司" in page.text and "待支付" in page.text  # the recent order and its status
    assert "张三" not in page.text and user.openid not in page.text  # masked: 张**, o123***cdef
    assert "张**" in page.text and user.openid[-4:] in page.text
    assert console.get("/admin/support/999999").status_code == 404


def test_the_queue_is_oldest_first_and_keyset_paged(app, client, db_session, wechat):
    users = [make_user(f"用户{n}") for n in range(3)]
    db_session.commit()
    now = int(time.time())
    for n, user in enumerate(users):  # the first user asked first
        post_plain(client, text_xml("人工", 7100 + n, openid=user.openid, create_time=now - 600 + n * 60))
    run_jobs()
    ids = [c.id for c in conversations(db_session)]
    first = service.conversations("open", size=2)
    assert [row.conversation.id for row in first.rows] == ids[:2] and first.next_cursor
    second = service.conversations("open", first.next_cursor, size=2)
    assert [row.conversation.id for row in second.rows] == ids[2:] and second.next_cursor is None
    console, _, _ = support_client(app)
    assert console.get("/admin/support?after=not-a-cursor").status_code == 200  # a bad cursor: the first page


# ------------------------------------------------------------------------------------------ replies


def test_a_reply_reaches_the_follower_as_a_customer_service_message(app, client, db_session, wechat):
    user = customer()
    conversation = asks_for_a_person(client, user)
    console, staff, csrf = support_client(app)
    text = "您好，请在插有 U-KEY 的电脑上打开续期页面。\n如有问题请再留言。"
    sent = console.post(f"/admin/support/{conversation.id}/reply", data={"csrf_token": csrf, "content": text},
                        follow_redirects=True)
    assert "回复已通过微信客服消息发送" in sent.text
    [message] = wechat.custom_messages()
    assert message["touser"] == user.openid and message["msgtype"] == "text"
    assert message["text"] == {"content": text}
    [conversation] = conversations(db_session)
    assert conversation.status == "answered" and conversation.answered_at is not None
    [reply] = conversation.replies
    assert reply.staff_id == staff.id and reply.content == text and reply.sent_at and reply.errcode is None
    assert text.split("\n")[0] in console.get(f"/admin/support/{conversation.id}").text
    [row] = audit_rows(db_session, "support.reply")
    assert row.actor == f"staff:{staff.id}" and row.target == f"support:{conversation.id}" and row.result == "ok"
    assert row.detail["before"] == {"status": "open"} and row.detail["after"]["status"] == "answered"
    assert text not in str(row.detail)
    assert console.get("/admin/support").text.count("data-conversation=") == 0  # answered: not waiting for us

    post_plain(client, text_xml("好的，谢谢，还有一个问题", 7010, openid=user.openid))
    run_jobs()
    [conversation] = conversations(db_session)
    assert conversation.status == "open"  # the follower wrote again: back in the queue


def test_a_reply_after_48_hours_is_refused_here_without_asking_wechat(app, client, db_session, wechat):
    user = customer()
    conversation = asks_for_a_person(client, user)
    conversation.last_message_at = utcnow() - timedelta(hours=49)
    db_session.commit()
    console, staff, csrf = support_client(app)
    page = console.get(f"/admin/support/{conversation.id}")
    assert 'id="window-closed"' in page.text and 'id="reply-form"' not in page.text
    refused = console.post(f"/admin/support/{conversation.id}/reply", data={"csrf_token": csrf, "content": "您好"},
                           follow_redirects=True)
    assert "已超过 48 小时" in refused.text
    assert wechat.calls().get(CUSTOM_SEND, 0) == 0 and wechat.custom_messages() == []
    [conversation] = conversations(db_session)
    assert conversation.status == "open" and conversation.replies == []
    [row] = audit_rows(db_session, "support.reply")
    assert row.result == "refused" and row.detail["why"] == "outside_48h"


def test_wechat_refusing_with_45015_is_shown_in_chinese_and_nothing_is_recorded_as_sent(app, client, db_session,
                                                                                       wechat):
    user = customer()
    conversation = asks_for_a_person(client, user)
    wechat.silent(user.openid)  # WeChat's own clock says the follower has been silent for over 48 hours
    console, staff, csrf = support_client(app)
    refused = console.post(f"/admin/support/{conversation.id}/reply",
                           data={"csrf_token": csrf, "content": "您好，请问还需要帮助吗？"}, follow_redirects=True)
    assert "用户超过 48 小时未与公众号互动，微信拒绝发送客服消息（45015）" in refused.text
    assert wechat.calls()[CUSTOM_SEND] == 1 and wechat.custom_messages() == []
    [conversation] = conversations(db_session)
    assert conversation.status == "open" and conversation.answered_at is None
    [attempt] = conversation.replies
    assert attempt.sent_at is None and attempt.errcode == 45015  # the attempt is kept, never as sent
    assert "未送达（微信错误码 45015）" in console.get(f"/admin/support/{conversation.id}").text
    [row] = audit_rows(db_session, "support.reply")
    assert row.result == "refused" and row.detail["errcode"] == 45015

    wechat.silent(user.openid, False)
    wechat.fail(CUSTOM_SEND, 45047)  # the usual failure switch: too many messages before the user answered
    again = console.post(f"/admin/support/{conversation.id}/reply", data={"csrf_token": csrf, "content": "您好"},
                         follow_redirects=True)
    assert "45047" in again.text and wechat.custom_messages() == []
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(SupportReply)
                             .where(SupportReply.sent_at.is_not(None))) == 0


def test_an_empty_or_too_long_reply_is_refused_and_nothing_is_sent(app, client, db_session, wechat):
    conversation = asks_for_a_person(client, customer())
    console, _, csrf = support_client(app)
    empty = console.post(f"/admin/support/{conversation.id}/reply", data={"csrf_token": csrf, "content": "  "},
                         follow_redirects=True)
    assert "请填写回复内容" in empty.text
    long = console.post(f"/admin/support/{conversation.id}/reply", data={"csrf_token": csrf, "content": "长" * 700},
                        follow_redirects=True)
    assert "最多 2048 字节" in long.text
    assert wechat.calls().get(CUSTOM_SEND, 0) == 0
    assert conversations(db_session)[0].replies == []


def test_closing_a_conversation_with_a_note_and_asking_again_opens_a_new_one(app, client, db_session, wechat):
    user = customer()
    conversation = asks_for_a_person(client, user)
    console, staff, csrf = support_client(app)
    closed = console.post(f"/admin/support/{conversation.id}/close",
                          data={"csrf_token": csrf, "note": "已电话联系用户解决"}, follow_redirects=True)
    assert "会话已关闭" in closed.text
    [conversation] = conversations(db_session)
    assert conversation.status == "closed" and conversation.closed_by == staff.id
    assert conversation.close_note == "已电话联系用户解决"
    again = console.post(f"/admin/support/{conversation.id}/close", data={"csrf_token": csrf}, follow_redirects=True)
    assert "不能变为“已关闭”" in again.text
    reply = console.post(f"/admin/support/{conversation.id}/reply", data={"csrf_token": csrf, "content": "您好"},
                         follow_redirects=True)
    assert "该会话已关闭" in reply.text and wechat.custom_messages() == []
    [row] = audit_rows(db_session, "support.close")
    assert row.detail == {"before": {"status": "open"}, "after": {"status": "closed", "note": True}}

    later = post_plain(client, text_xml("还有一个问题", 7020, openid=user.openid))
    assert "请点击菜单" in reply_content(later)  # closed: an ordinary message is not passed on
    asks_for_a_person(client, user, 7021, "人工")
    assert [c.status for c in conversations(db_session)] == ["closed", "open"]


# ------------------------------------------------------------------------------------------ the door


def test_other_roles_get_403_and_posts_need_the_console_csrf_token(app, client, db_session, wechat):
    conversation = asks_for_a_person(client, customer())
    finance, _, finance_csrf = support_client(app, "caiwu", "finance")
    assert finance.get("/admin/support").status_code == 403
    assert finance.get(f"/admin/support/{conversation.id}").status_code == 403
    assert finance.post(f"/admin/support/{conversation.id}/reply",
                        data={"csrf_token": finance_csrf, "content": "您好"}).status_code == 403
    assert finance.get("/admin/fulfilment").status_code == 403
    assert "人工客服" not in finance.get("/admin/").text
    maker, _, _ = support_client(app, "zhizheng", "maker")
    assert maker.get("/admin/invoices/undelivered").status_code == 403
    assert maker.get("/admin/support").status_code == 403
    assert len(audit_rows(db_session, "staff.forbidden")) == 6

    admin, _, _ = support_client(app, "guanli", "admin")
    assert admin.get("/admin/support").status_code == 200  # 管理员 works the queue too
    support, _, _ = support_client(app)
    assert support.post(f"/admin/support/{conversation.id}/reply", data={"content": "您好"}).status_code == 400
    assert support.post(f"/admin/support/{conversation.id}/close", data={"note": "x"}).status_code == 400
    assert support.post(f"/admin/support/{conversation.id}/reply",
                        data={"csrf_token": finance_csrf, "content": "您好"}).status_code == 400  # not this session's
    assert wechat.custom_messages() == [] and conversations(db_session)[0].status == "open"
    assert len(audit_rows(db_session, "staff.csrf_refused")) == 3


# ------------------------------------------------------------------------------------------ 未送达发票


TAX_NUMBER = "9144030071526726XG"


def requested_invoice(user: User) -> Invoice:
    order = pending_order(1, ORGANISATION, user)
    mark_paid(order.id, "wechat", "test")
    profile = invoices.create_profile(user.id, ProfileInput(title=ORGANISATION, title_type="enterprise",
                                                            tax_number=TAX_NUMBER, email="finance@example.cn"))
    invoice = invoices.request_invoice(user.id, [order.id], profile_id=profile.id)
    db.session.commit()
    run_jobs()
    return invoice


def test_undelivered_invoices_show_why_and_one_is_requeued(app, client, db_session, wechat, smtp_sink,
                                                           invoice_files):
    user = make_user("李四")
    smtp_sink.stop()  # the mail server is down: issued, the mail fails (rq retries it later)
    invoice = requested_invoice(user)
    db_session.refresh(invoice)
    assert invoice.status == "issued" and invoice.emailed_at is None
    assert invoice.last_error == "邮件暂时无法发送，稍后将自动重试" and invoice.last_error_at is not None
    mail = Queue("mail", connection=get_redis())
    assert mail.count == 0 and mail.scheduled_job_registry.count == 1  # waiting for its retry

    console, staff, csrf = support_client(app, "caiwu", "finance")
    assert ('data-queue="invoices_admin.undelivered">未送达发票<span class="count">1</span>'
            in console.get("/admin/").text)
    page = console.get("/admin/invoices/undelivered")
    assert f'data-invoice="{invoice.id}"' in page.text and invoice.request_no in page.text
    assert "邮件发送失败" in page.text and "邮件暂时无法发送" in page.text
    assert invoice.items[0].order_no in page.text and "李**" in page.text and "李四" not in page.text

    assert console.post(f"/admin/invoices/{invoice.id}/requeue").status_code == 400  # no CSRF token
    assert mail.count == 0
    requeued = console.post(f"/admin/invoices/{invoice.id}/requeue", data={"csrf_token": csrf},
                            follow_redirects=True)
    assert "已重新排队" in requeued.text
    assert queued_work(mail) == [("invoices.email_invoice", [invoice.id])]
    [row] = audit_rows(db_session, "invoice.requeued")
    assert row.actor == f"staff:{staff.id}" and row.target == f"invoice:{invoice.id}"
    assert row.detail["job"] == "invoices.email_invoice"

    smtp_sink.start()
    run_jobs()
    db_session.refresh(invoice)
    assert invoice.emailed_at is not None and invoice.last_error == ""
    assert f'data-invoice="{invoice.id}"' not in console.get("/admin/invoices/undelivered").text
    late = console.post(f"/admin/invoices/{invoice.id}/requeue", data={"csrf_token": csrf}, follow_redirects=True)
    assert "无需重新排队" in late.text and mail.count == 0


def test_an_invoice_the_platform_could_not_issue_is_listed_and_requeued_for_issuing(app, db_session, wechat,
                                                                                   smtp_sink, invoice_files,
                                                                                   einvoice):
    requests.post(einvoice + "_fake/fail", json={"times": 1, "status": 503}, timeout=5)
    invoice = requested_invoice(make_user())
    db_session.refresh(invoice)
    assert invoice.status == "pending" and invoice.last_error == "电子发票平台暂时不可用"
    console, _, csrf = support_client(app, "kefu2", "support")  # 客服 works this queue too
    page = console.get("/admin/invoices/undelivered")
    assert "开具失败" in page.text and "电子发票平台暂时不可用" in page.text
    console.post(f"/admin/invoices/{invoice.id}/requeue", data={"csrf_token": csrf})
    assert queued_work(Queue("mail", connection=get_redis())) == [("invoices.issue_invoice", [invoice.id])]
    run_jobs()
    db_session.refresh(invoice)
    assert invoice.status == "issued" and invoice.emailed_at is not None and invoice.last_error == ""


# ------------------------------------------------------------------------------------------ 待制证/待寄出


def test_the_fulfilment_page_lists_orders_being_made_and_shipped_for_makers(app, db_session):
    maker, _, _ = support_client(app, "zhizheng", "maker")
    empty = maker.get("/admin/fulfilment")
    assert empty.status_code == 200 and "没有制证中的受理单" in empty.text
    assert 'data-queue="orders_fulfilment_admin.fulfilment">待制证/待寄出<span class="count">0</span>' in \
        maker.get("/admin/").text
    user = make_user("王五")
    order = pending_order(1, ORGANISATION, user)
    for status in (OrderStatus.PAID, OrderStatus.PENDING_REVIEW, OrderStatus.APPROVED, OrderStatus.MAKING):
        order_transitions.move(order, status, "test")
    shipped = pending_order(1, "佛山某某制造有限公司", make_user())
    for status in (OrderStatus.PAID, OrderStatus.PENDING_REVIEW, OrderStatus.APPROVED, OrderStatus.MAKING,
                   OrderStatus.SHIPPED):
        order_transitions.move(shipped, status, "test")
    db_session.commit()
    making = maker.get("/admin/fulfilment")
    assert f'data-order="{order.id}"' in making.text and order.order_no in making.text
    assert "王**" in making.text and "王五" not in making.text and shipped.order_no not in making.text
    assert shipped.order_no in maker.get("/admin/fulfilment?status=shipped").text
    assert '<span class="count">2</span>' in maker.get("/admin/").text
