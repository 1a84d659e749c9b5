"""Times: stored in UTC, shown in Asia/Shanghai (DESIGN §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")  # where times are shown


def local_day(value) -> str:
    """A moment as its day in Asia/Shanghai, `2026-12-31` ("" for None): how every page and message shows dates."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d") if value else ""


def local_minute(value) -> str:
    """A moment in Asia/Shanghai to the minute, `2026-12-31 09:30` ("" for None)."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value else ""


def local_second(value) -> str:
    """A moment in Asia/Shanghai to the second, `2026-12-31 09:30:05` ("" for None): the audit trail's times."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if value else ""


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


def local_day_start(day: date) -> datetime:
    """Midnight at the start of `day` in Asia/Shanghai, as an aware UTC moment (a date a person typed)."""
    return datetime.combine(day, time(), SHANGHAI).astimezone(UTC)


def local_day_end(day: date) -> datetime:
    """The moment `day` ends in Asia/Shanghai (the next day's midnight), aware UTC: `< local_day_end(day)` is
    "on or before `day`"."""
    return local_day_start(day + timedelta(days=1))


def from_local(moment: datetime) -> datetime:
    """A naive wall-clock time in Asia/Shanghai (what a person typed) as an aware UTC moment."""
    return moment.replace(tzinfo=SHANGHAI).astimezone(UTC)
