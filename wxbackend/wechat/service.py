"""Handling a verified message once, across processes, and answering fast.

The reply is computed first (it touches neither the database nor WeChat, `replies`), then one Redis script, in one
round trip, checks that the request's parameters were not used with another body, marks the message (SET NX) with
that reply and tells whether the follower's conversation with staff is live. WeChat's retries of the same message
(and concurrent copies) find the mark and get the first copy's reply without acting again. Work that may be
slow — reading the follower from WeChat, handing over to staff — goes to an rq job.

A text asking for a person ("人工") goes to staff's 人工客服 queue; so does any text from a follower whose
conversation with staff is live (a Redis mark: still no database here). The job gets the message's unique key
(MsgId, or a hash of openid, CreateTime and content) so that a retried or repeated job stores it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from wechatpy.messages import BaseMessage

from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.redis import get_redis
from wxbackend.support.service import MAX_MESSAGE_CHARS, live_key, message_key
from wxbackend.wechat import replies
from wxbackend.wechat.inbound import REPLAY_SECONDS, Opened, ReplayedRequest, dedupe_key

log = logging.getLogger(__name__)
SEEN_SECONDS = 600  # WeChat retries within 15 s; keep the mark well past that
EMPTY = "success"

# KEYS: the request's replay key, the message's mark[, the follower's live-conversation mark]
# ARGV: the body's digest, REPLAY_SECONDS, SEEN_SECONDS, the reply[, the reply while a conversation is live]
# → {"replayed"} | {"again", the first copy's reply} | {"first", 1 when the conversation is live else 0}
MARK_SCRIPT = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  local seen = redis.call('GET', KEYS[1])
  if seen and seen ~= ARGV[1] then return {'replayed'} end
end
local live = 0
if #KEYS > 2 then live = redis.call('EXISTS', KEYS[3]) end
local reply = ARGV[4]
if live == 1 then reply = ARGV[5] end
if redis.call('SET', KEYS[2], reply, 'NX', 'EX', ARGV[3]) then return {'first', live} end
return {'again', redis.call('GET', KEYS[2]) or ''}
"""


@dataclass
class Answer:
    """What to say, and what to queue, for a message; `while_live` for a text whose follower talks with staff."""

    reply: str
    effect: Callable[[], None] | None = None
    while_live: Answer | None = field(default=None)


def handle_message(opened: Opened, base_url: str) -> str:
    """The reply XML for the message ('success' when there is nothing to say), its side effects queued once.
    Raises ReplayedRequest when the request's parameters came before with another body."""
    message = opened.message
    try:
        answer = _answer(message, base_url)
    except Exception:
        log.exception("wechat message %s answered with the help text", message.type)
        answer = Answer(_text(message, replies.help_text(base_url)))
    keys = [opened.replay_key, dedupe_key(message)]
    args = [opened.body_digest, REPLAY_SECONDS, SEEN_SECONDS, answer.reply]
    if answer.while_live is not None:
        keys.append(live_key(message.source))
        args.append(answer.while_live.reply)
    result = _mark_script()(keys=keys, args=args)
    outcome = result[0].decode()
    if outcome == "replayed":
        raise ReplayedRequest()
    if outcome == "again":
        return result[1].decode() or EMPTY
    chosen = answer.while_live if result[1] == 1 and answer.while_live is not None else answer
    if chosen.effect is not None:
        try:
            chosen.effect()
        except Exception:
            # The mark stays: a retry of the message must not repeat whatever was queued before the failure.
            log.exception("wechat message %s: its work could not be queued", message.type)
            return _text(message, replies.help_text(base_url))
    return chosen.reply


def _mark_script():
    script = current_app.extensions.get("wechat_mark_script")
    if script is None:
        script = get_redis().register_script(MARK_SCRIPT)  # EVALSHA; loaded into the server on first use
        current_app.extensions["wechat_mark_script"] = script
    return script


def _text(message: BaseMessage, content: str) -> str:
    return replies.text_xml(message.target, message.source, content)


def _for_staff(message: BaseMessage, content: str) -> tuple[str, str, str, int]:
    """The job's arguments: openid, the text, its unique key, WeChat's CreateTime."""
    create_time = int(message._data.get("CreateTime") or 0)
    key = message_key(message.source, create_time, content, message._data.get("MsgId"))
    return message.source, content[:MAX_MESSAGE_CHARS], key, create_time


def _answer(message: BaseMessage, base_url: str) -> Answer:
    if message.type == "event":
        event = message.event
        if event in ("subscribe", "subscribe_scan"):
            scene = getattr(message, "scene_id", None)
            return Answer(_text(message, replies.welcome(base_url)),
                          lambda: enqueue_after_commit("wechat.follow", message.source, scene))
        if event == "unsubscribe":
            return Answer(EMPTY, lambda: enqueue_after_commit("wechat.unfollow", message.source))
        if event == "scan":
            return Answer(_text(message, replies.welcome(base_url)))
        if event == "click":
            return Answer(_text(message, replies.click_reply(base_url, message.key) or replies.help_text(base_url)))
        return Answer(EMPTY)  # view, location, template-send reports …: nothing to say
    if message.type == "text":
        content = message.content or ""
        reply = _text(message, replies.text_reply(base_url, content))
        job = _for_staff(message, content)
        if replies.wants_staff(message):
            return Answer(reply, lambda: enqueue_after_commit("wechat.hand_over_to_staff", *job))
        live = Answer(_text(message, replies.conversation_reply(base_url, content)),
                      lambda: enqueue_after_commit("wechat.pass_on_to_staff", *job))
        return Answer(reply, while_live=live)
    return Answer(_text(message, replies.help_text(base_url)))
