"""Notice jobs."""

from __future__ import annotations

import logging

from jobs import app_job
from wxbackend.errors import UpstreamError
from wxbackend.notices.service import adapter

log = logging.getLogger(__name__)


@app_job
def send_notice(user_id: int, kind: str, data: dict) -> bool:
    """Send one notice through the configured adapter; an upstream refusal is logged and dropped."""
    try:
        adapter().send(user_id, kind, data)
        return True
    except UpstreamError:
        log.warning("notice %s to user %s not sent", kind, user_id)
        return False
