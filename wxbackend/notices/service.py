"""Sending notices. Callers enqueue; the job calls the configured adapter. A failure is logged, not retried
forever.

Adapters: `recording` (development and tests: the notice is kept in a Redis list that pages and tests can read)
and, with the WeChat issue, `wechat`.
"""

from __future__ import annotations

import json
import logging
from typing import Protocol

from flask import current_app

from wxbackend.extensions import get_redis, utcnow

log = logging.getLogger(__name__)
RECORDED_KEY = "notices:recorded"

NOTICE_KINDS = {
    "binding_success": "证书绑定成功",
}


class NoticeAdapter(Protocol):
    def send(self, user_id: int, kind: str, data: dict) -> None: ...


class RecordingNotices:
    """Keeps every notice in Redis (newest last) instead of sending it."""

    def send(self, user_id: int, kind: str, data: dict) -> None:
        entry = {"user_id": user_id, "kind": kind, "title": NOTICE_KINDS[kind], "data": data,
                 "at": utcnow().isoformat()}
        get_redis().rpush(RECORDED_KEY, json.dumps(entry, ensure_ascii=False))


def recorded_notices() -> list[dict]:
    return [json.loads(item) for item in get_redis().lrange(RECORDED_KEY, 0, -1)]


def adapter() -> NoticeAdapter:
    name = current_app.config["NOTICES_ADAPTER"]
    if name == "recording":
        return RecordingNotices()
    raise ValueError(f"unknown NOTICES_ADAPTER {name!r}")


def queue_notice(user_id: int, kind: str, data: dict) -> None:
    """Send a notice from a worker (never inside the request)."""
    from jobs import get_queue
    from jobs.notices import send_notice

    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    get_queue("notices").enqueue(send_notice, user_id, kind, data, job_timeout=30, failure_ttl=7 * 86400)
