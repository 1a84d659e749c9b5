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
