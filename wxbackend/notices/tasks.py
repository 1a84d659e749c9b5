"""Notice jobs."""

from __future__ import annotations

import logging

from wxbackend.core.jobs import job
from wxbackend.integrations.wechat import WeChatError
from wxbackend.notices.service import PERMANENT_REFUSALS, adapter

log = logging.getLogger(__name__)


@job("notices", timeout=30, retry=(30, 300, 1800))
def send_notice(user_id: int, kind: str, data: dict) -> str:
    """Send one notice through the configured adapter. A refusal that retrying cannot change (unsubscribed,
    no consent, unknown template) is logged once and dropped; anything else raises, so rq retries it a
    bounded number of times."""
    try:
        return adapter().send(user_id, kind, data)
    except WeChatError as refused:
        if refused.errcode in PERMANENT_REFUSALS:
            log.warning("notice %s to user %s refused by WeChat (%s); not retried", kind, user_id, refused.errcode)
            return "refused"
        raise
