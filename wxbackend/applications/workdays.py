"""Working days in Asia/Shanghai: Monday to Friday, minus the public holidays in config (PUBLIC_HOLIDAYS), plus the
weekend days worked in their place (MAKEUP_WORKDAYS, 调休), both lists of YYYY-MM-DD."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import current_app

from wxbackend.core.times import SHANGHAI


def _days(key: str) -> set[date]:
    found = set()
    for value in current_app.config.get(key) or ():
        try:
            found.add(date.fromisoformat(str(value).strip()))
        except ValueError:
            continue
    return found


def is_working_day(day: date) -> bool:
    if day in _days("MAKEUP_WORKDAYS"):
        return True
    return day.weekday() < 5 and day not in _days("PUBLIC_HOLIDAYS")


def add_working_days(start: datetime, days: int) -> date:
    """The day (Shanghai) by which `days` working days after `start` have passed (the day of `start` not counted)."""
    day = start.astimezone(SHANGHAI).date()
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day
