"""Handling a verified message once, across processes, and answering fast.

The first request for a message marks it in Redis (SET NX) and computes the reply; WeChat's retries of the
same message (and concurrent copies) wait briefly for that reply instead of acting again. Work that may be
slow — reading the follower from WeChat, handing over to staff — goes to an rq job.

A text asking for a person ("人工") goes to staff's 人工客服 queue; so does any text from a follower whose
conversation with staff is live (a Redis mark: still no database here). The job gets the message's unique key
(MsgId, or a hash of openid, CreateTime and content) so that a retried or repeated job stores it once.
"""

from __future__ import annotations

import time

from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.redis import get_redis
from wxbackend.support.service import MAX_MESSAGE_CHARS, live_conversation, message_key
from wxbackend.wechat import replies
from wxbackend.wechat.inbound import dedupe_key

SEEN_SECONDS = 600  # WeChat retries within 15 s; keep the mark well past that
PENDING = b"\x00pending"
WAIT_FOR_FIRST = 3.0
EMPTY = "success"


def handle_message(message: BaseMessage, base_url: str) -> str:
    """The reply XML for `message` ('success' when there is nothing to say), its side effects queued once."""
    r = get_redis()
    key = dedupe_key(message)
    if not r.set(key, PENDING, nx=True, ex=SEEN_SECONDS):
        return _reply_of_first(key)
    try:
        reply = _answer(message, base_url)
    except Exception:
        r.delete(key)  # let WeChat's retry try again
        raise
    r.set(key, reply, xx=True, ex=SEEN_SECONDS)
    return reply


def _reply_of_first(key: str) -> str:
    r = get_redis()
    deadline = time.monotonic() + WAIT_FOR_FIRST
    while time.monotonic() < deadline:
        value = r.get(key)
        if value != PENDING:
            return value.decode() if value else EMPTY
        time.sleep(0.05)
    return EMPTY


def _text(message: BaseMessage, content: str) -> str:
    return TextReply(source=message.target, target=message.source, content=content).render()


def _for_staff(message: BaseMessage, content: str) -> tuple[str, str, str, int]:
    """The job's arguments: openid, the text, its unique key, WeChat's CreateTime."""
    create_time = int(message._data.get("CreateTime") or 0)
    key = message_key(message.source, create_time, content, message._data.get("MsgId"))
    return message.source, content[:MAX_MESSAGE_CHARS], key, create_time


def _answer(message: BaseMessage, base_url: str) -> str:
    if message.type == "event":
        event = message.event
        if event in ("subscribe", "subscribe_scan"):
            scene = getattr(message, "scene_id", None)
            enqueue_after_commit("wechat.follow", message.source, scene)
            return _text(message, replies.welcome(base_url))
        if event == "unsubscribe":
            enqueue_after_commit("wechat.unfollow", message.source)
            return EMPTY
        if event == "scan":
            return _text(message, replies.welcome(base_url))
        if event == "click":
            return _text(message, replies.click_reply(base_url, message.key) or replies.help_text(base_url))
        return EMPTY  # view, location, template-send reports …: nothing to say
    if message.type == "text":
        content = message.content or ""
        if replies.wants_staff(message):
            enqueue_after_commit("wechat.hand_over_to_staff", *_for_staff(message, content))
        elif live_conversation(message.source):
            enqueue_after_commit("wechat.pass_on_to_staff", *_for_staff(message, content))
            return _text(message, replies.conversation_reply(base_url, content))
        return _text(message, replies.text_reply(base_url, content))
    return _text(message, replies.help_text(base_url))
