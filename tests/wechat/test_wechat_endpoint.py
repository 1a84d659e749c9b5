"""`/wechat` as WeChat's servers use it: signed pushes in plain and safe mode, hostile bodies, duplicates."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
import xmltodict
from rq import Queue

from tests.support.flows import run_jobs
from tests.support.wechat import (
    decrypt_reply,
    event_xml,
    plain_mode,
    post_plain,
    post_safe,
    signed_query,
    text_xml,
)
from wxbackend.audit.models import AuditLog
from wxbackend.core.redis import get_redis
from wxbackend.support.models import SupportConversation, SupportMessage
from wxbackend.users.models import User


def reply_content(xml: str) -> str:
    return xmltodict.parse(xml)["xml"]["Content"]


def test_get_echoes_echostr_exactly_after_the_signature(client):
    echostr = "7215813287219637&x=<y>"
    ok = client.get("/wechat?" + urlencode(signed_query(echostr=echostr)))
    assert ok.status_code == 200 and ok.data == echostr.encode()
    bad = client.get("/wechat?" + urlencode(signed_query(echostr=echostr, token="not-our-token")))
    assert bad.status_code == 403 and echostr.encode() not in bad.data


def test_bad_signature_or_stale_timestamp_is_403(client):
    assert post_plain(client, text_xml("你好", 1), token="wrong").status_code == 403
    assert post_plain(client, text_xml("你好", 2), timestamp=int(time.time()) - 600).status_code == 403
    assert post_plain(client, text_xml("你好", 3), timestamp=int(time.time()) + 600).status_code == 403
    missing = client.post("/wechat", data=text_xml("你好", 4).encode(), content_type="text/xml")
    assert missing.status_code == 403


FORGERIES = {
    "wrong token": lambda client, xml: post_plain(client, xml, token="wrong"),
    "replayed timestamp": lambda client, xml: post_plain(client, xml, timestamp=int(time.time()) - 600),
    "future timestamp": lambda client, xml: post_plain(client, xml, timestamp=int(time.time()) + 600),
    "no signature": lambda client, xml: client.post("/wechat", data=xml.encode(), content_type="text/xml"),
    "safe mode, wrong msg_signature": lambda client, xml: post_safe(client, xml, tamper_signature=True),
    "safe mode, another appid": lambda client, xml: post_safe(client, xml, app_id="wxsomeoneelse000"),
    "safe mode, replayed timestamp": lambda client, xml: post_safe(client, xml, timestamp=int(time.time()) - 600),
}


def traces(db_session, openid: str) -> dict:
    """Everything a push from `openid` could leave behind."""
    return {
        "users": db_session.scalars(sa.select(User.openid).where(User.openid == openid)).all(),
        "jobs": {name: Queue(name, connection=get_redis()).count for name in ("wechat", "default", "notices", "mail")},
        "conversations": db_session.scalars(sa.select(SupportConversation.id)).all(),
        "messages": db_session.scalars(sa.select(SupportMessage.content)).all(),
        "audits": db_session.scalars(sa.select(AuditLog.action)).all(),
    }


NOTHING = {"users": [], "jobs": {"wechat": 0, "default": 0, "notices": 0, "mail": 0}, "conversations": [],
           "messages": [], "audits": []}


def test_forged_subscribes_and_handover_requests_are_403_and_leave_nothing(client, wechat, db_session):
    wechat.user("oFORGED", unionid="uFORGED")
    now = int(time.time())
    subscribe = event_xml("subscribe", "qrscene_x", openid="oFORGED", create_time=now)
    handover = text_xml("人工", 60, openid="oFORGED", create_time=now)
    for name, forge in FORGERIES.items():
        for xml in (subscribe, handover):
            response = forge(client, xml)
            assert response.status_code == 403, name
            assert "欢迎".encode() not in response.data and "人工客服".encode() not in response.data, name
    assert traces(db_session, "oFORGED") == NOTHING
    run_jobs()
    assert traces(db_session, "oFORGED") == NOTHING
    assert wechat.custom_messages() == []
    # The same pushes, signed: each is handled (the forgeries did not use up their message ids either).
    assert "欢迎关注数安CA管家" in reply_content(decrypt_reply(post_safe(client, subscribe)))
    assert "人工客服" in reply_content(decrypt_reply(post_safe(client, handover)))
    assert traces(db_session, "oFORGED")["jobs"]["wechat"] == 2
    run_jobs()
    after = traces(db_session, "oFORGED")
    assert after["users"] == ["oFORGED"] and len(after["conversations"]) == 1 and after["messages"] == ["人工"]
    assert {"wechat.follow", "wechat.handover"} <= set(after["audits"])


@pytest.mark.usefixtures("plain_wechat")
def test_plain_text_keywords_get_helpful_replies(client):
    renew = post_plain(client, text_xml("证书怎么续期？", 10))
    assert renew.status_code == 200
    reply = xmltodict.parse(renew.data)["xml"]
    assert reply["ToUserName"] == "oUSER1" and reply["MsgType"] == "text"
    assert "证书续期三步" in reply["Content"] and "/h5/certificates" in reply["Content"]
    assert "8 位绑定码" in reply_content(post_plain(client, text_xml("绑定", 11)).data)
    assert "我的发票" in reply_content(post_plain(client, text_xml("开发票", 12)).data)
    assert "请点击菜单" in reply_content(post_plain(client, text_xml("随便说点什么", 13)).data)


@pytest.mark.usefixtures("plain_wechat")
def test_click_keys_answer_with_the_matching_page_link(client, app):
    base = app.config["PUBLIC_BASE_URL"]
    guide = reply_content(post_plain(client, event_xml("CLICK", "RENEW_GUIDE")).data)
    assert f'href="{base}/h5/certificates"' in guide and f"{base}/pc/renew" in guide
    pc = reply_content(post_plain(client, event_xml("CLICK", "PC_RENEW", openid="oUSER2")).data)
    assert f"{base}/pc/renew" in pc  # the renewal page itself, not /pc/ (which opens binding)
    download = reply_content(post_plain(client, event_xml("CLICK", "HELPER_DOWNLOAD", openid="oUSER4")).data)
    assert f"{base}/pc/download" in download
    unknown = reply_content(post_plain(client, event_xml("CLICK", "NO_SUCH_KEY", openid="oUSER3")).data)
    assert "请点击菜单" in unknown


@pytest.mark.usefixtures("plain_wechat")
def test_subscribe_with_a_scene_welcomes_and_records_the_follower(client, wechat, db_session):
    wechat.user("oNEWFAN", unionid="uNEWFAN")
    response = post_plain(client, event_xml("subscribe", "qrscene_renew-2026", openid="oNEWFAN"))
    welcome = reply_content(response.data)
    assert "欢迎关注数安CA管家" in welcome and "/h5/bind" in welcome
    run_jobs()
    user = db_session.scalar(sa.select(User).where(User.openid == "oNEWFAN"))
    assert user.following and user.unionid == "uNEWFAN"
    [audit] = db_session.scalars(sa.select(AuditLog).where(AuditLog.action == "wechat.follow")).all()
    assert audit.detail == {"scene": "renew-2026"}

    assert post_plain(client, event_xml("unsubscribe", openid="oNEWFAN")).data == b"success"
    run_jobs()
    db_session.refresh(user)
    assert user.following is False


def test_safe_mode_reply_decrypts_with_wechatpys_own_crypto(client):
    response = post_safe(client, text_xml("续期", 20))
    assert response.status_code == 200
    plain = decrypt_reply(response)  # checks the reply's msg_signature too
    assert "证书续期三步" in reply_content(plain)
    assert b"<Encrypt>" in response.data and "续期".encode() not in response.data


def test_safe_mode_refuses_a_wrong_msg_signature_or_another_appid(client):
    assert post_safe(client, text_xml("续期", 21), tamper_signature=True).status_code == 403
    assert post_safe(client, text_xml("续期", 22), app_id="wxsomeoneelse000").status_code == 403


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>30</MsgId></xml>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>31</MsgId></xml>"""


def test_billion_laughs_and_external_entities_are_400_quickly_with_nothing_expanded(app, client):
    for body in (BILLION_LAUGHS, EXTERNAL_ENTITY):
        started = time.monotonic()
        with plain_mode(app):
            plain = post_plain(client, body)
        assert plain.status_code == 400 and plain.json is None
        assert b"lol" not in plain.data and b"root:" not in plain.data
        safe = post_safe(client, body)  # inside the encrypted envelope too
        assert safe.status_code == 400
        assert time.monotonic() - started < 1.0


def test_body_over_the_cap_is_refused(client):
    huge = text_xml("长" * 40_000, 40)
    assert post_plain(client, huge).status_code == 413


@pytest.mark.usefixtures("plain_wechat")
def test_malformed_xml_is_400_not_500(client):
    assert post_plain(client, "<xml><MsgType>text</MsgType").status_code == 400
    assert post_plain(client, "<xml><Content>no type</Content></xml>").status_code == 400
    assert post_plain(client, "").status_code == 400


@pytest.mark.usefixtures("plain_wechat")
def test_same_msgid_three_times_concurrently_has_one_side_effect(app, wechat, db_session):
    """WeChat retries a message it got no answer for; copies may arrive at different processes at once."""
    results = []

    def post():
        results.append(post_plain(app.test_client(), text_xml("转人工", 50, openid="oHELPME")))

    threads = [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200, 200, 200]
    assert {reply_content(r.data) for r in results} == {
        "已为您转接人工客服，客服将在工作时间（工作日 9:00–18:00）内回复您。"}
    assert Queue("wechat", connection=get_redis()).count == 1
    run_jobs()
    handovers = db_session.scalars(sa.select(AuditLog).where(AuditLog.action == "wechat.handover")).all()
    assert [h.detail["opened"] for h in handovers] == [True]
    assert [m.content for m in db_session.scalars(sa.select(SupportMessage))] == ["转人工"]


@pytest.mark.usefixtures("plain_wechat")
def test_two_different_events_in_the_same_second_are_both_handled(client):
    now = int(time.time())
    first = post_plain(client, event_xml("CLICK", "RENEW_GUIDE", openid="oSAME", create_time=now))
    second = post_plain(client, event_xml("CLICK", "FAQ", openid="oSAME", create_time=now))
    assert "证书续期三步" in reply_content(first.data)
    assert "常见问题" in reply_content(second.data)
    again = post_plain(client, event_xml("CLICK", "FAQ", openid="oSAME", create_time=now))  # WeChat's retry
    assert reply_content(again.data) == reply_content(second.data)


@pytest.mark.usefixtures("plain_wechat")
def test_slow_work_goes_to_a_job_and_the_reply_comes_in_time(client, wechat, db_session):
    """Reading the new follower from WeChat takes 4.5 s here; the reply must not wait for it."""
    wechat.user("oSLOW", unionid="uSLOW")
    wechat.delay("/cgi-bin/user/info", 4.5)
    started = time.monotonic()
    response = post_plain(client, event_xml("subscribe", openid="oSLOW"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and "欢迎关注" in reply_content(response.data)
    assert elapsed < 1.0
    assert db_session.scalar(sa.select(User).where(User.openid == "oSLOW")) is None  # not yet: it is queued
    started = time.monotonic()
    run_jobs()
    assert time.monotonic() - started >= 4.5
    user = db_session.scalar(sa.select(User).where(User.openid == "oSLOW"))
    assert user.unionid == "uSLOW" and user.following

