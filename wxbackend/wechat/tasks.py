"""Jobs for what followers do in the official account: slow or stateful work kept out of the 5 s reply."""

from __future__ import annotations

import logging

from wxbackend.audit.service import record_audit
from wxbackend.core.jobs import job
from wxbackend.integrations.wechat import WeChatError, official_account, wechat_call
from wxbackend.support.service import message_key, receive_message, received_time
from wxbackend.users.service import set_following

log = logging.getLogger(__name__)


@job("wechat", timeout=60)
def follow(openid: str, scene: str | None = None) -> int:
    """A follower (again): the user row marked following, with the unionid WeChat knows. Safe to run twice."""
    unionid = None
    try:
        with wechat_call():
            info = official_account().user.get(openid)
        unionid = info.get("unionid")
    except WeChatError as failed:
        log.warning("user info for a new follower not read (%s); following recorded without unionid", failed)
    user = set_following(openid, True, unionid=unionid)
    record_audit(f"user:{user.id}", "wechat.follow", target=f"user:{user.id}", detail={"scene": scene or ""})
    return user.id


@job("wechat", timeout=60)
def unfollow(openid: str) -> int:
    user = set_following(openid, False)
    record_audit(f"user:{user.id}", "wechat.unfollow", target=f"user:{user.id}")
    return user.id


@job("wechat", timeout=60)
def hand_over_to_staff(openid: str, content: str, key: str = "", create_time: int = 0) -> int | None:
    """A follower asked for a person: the message opens (or joins) their conversation in the 人工客服 queue.
    Stored once per `key` (WeChat's retries, a job run twice). Returns the conversation's id (None: stored before)."""
    received = receive_message(openid, content, key or message_key(openid, create_time, content),
                               received_time(create_time), asks_for_staff=True)
    return received.conversation_id if received else None


@job("wechat", timeout=60)
def pass_on_to_staff(openid: str, content: str, key: str, create_time: int = 0) -> int | None:
    """A follower with a live conversation wrote again: the text joins it (dropped when the conversation was
    closed meanwhile). Returns the conversation's id (None: nothing stored)."""
    received = receive_message(openid, content, key, received_time(create_time), asks_for_staff=False)
    return received.conversation_id if received else None
