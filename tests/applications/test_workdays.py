"""Working days in Asia/Shanghai for the 3-working-day review promise, with the holiday and 调休 lists in config."""

from __future__ import annotations

from datetime import UTC, date, datetime

from wxbackend.applications.workdays import add_working_days, is_working_day
from wxbackend.core.times import SHANGHAI


def test_weekends_holidays_and_makeup_days(app, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_HOLIDAYS", ["2026-10-01", "2026-10-02", "2026-10-05", "bad"])
    monkeypatch.setitem(app.config, "MAKEUP_WORKDAYS", ["2026-10-10"])
    with app.app_context():
        assert not is_working_day(date(2026, 10, 1)) and not is_working_day(date(2026, 10, 4))  # holiday, Sunday
        assert is_working_day(date(2026, 10, 10))  # a Saturday worked in place of a holiday
        # paid on Wednesday 30 September at 23:30 in Shanghai (15:30 UTC): 10-06, 10-07, 10-08
        paid = datetime(2026, 9, 30, 23, 30, tzinfo=SHANGHAI)
        assert add_working_days(paid, 3) == date(2026, 10, 8)
        # Friday 4 December 16:30 UTC is already Saturday in Shanghai; either way one working day later is Monday
        assert add_working_days(datetime(2026, 12, 4, 16, 30, tzinfo=UTC), 1) == date(2026, 12, 7)
        assert add_working_days(datetime(2026, 12, 4, 15, 30, tzinfo=UTC), 1) == date(2026, 12, 7)
