"""Jobs for what followers do in the official account: slow or stateful work kept out of the 5 s reply."""

from __future__ import annotations

import logging

from wxbackend.audit.service import record_audit
from wxbackend.core.jobs import job
from wxbackend.integrations.wechat import WeChatError, official_account, wechat_call
from wxbackend.users.service import set_following, user_for_wechat

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
def hand_over_to_staff(openid: str, content: str) -> None:
    """A follower asked for a person: kept in the audit trail, where staff pick it up."""
    user = user_for_wechat(openid=openid)
    record_audit(f"user:{user.id}", "wechat.handover", target=f"user:{user.id}", detail={"message": content})
