"""Times: stored in UTC, shown in Asia/Shanghai (DESIGN §3)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")  # where times are shown


def local_day(value) -> str:
    """A moment as its day in Asia/Shanghai, `2026-12-31` ("" for None): how every page and message shows dates."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d") if value else ""


def local_minute(value) -> str:
    """A moment in Asia/Shanghai to the minute, `2026-12-31 09:30` ("" for None)."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else ""


def utcnow() -> datetime:
    return datetime.now(UTC)


def elapsed(since, now: datetime | None = None) -> str:
    """How long ago `since` was, for queues: `3天2小时`, `5小时12分`, `8分钟`, `不到1分钟` ("" for None)."""
    if since is None:
        return ""
    minutes = max(int(((now or utcnow()) - since).total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes}分"
    return f"{minutes}分钟" if minutes else "不到1分钟"
