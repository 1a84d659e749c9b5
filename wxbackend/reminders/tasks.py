"""Expiry-reminder jobs: the daily scan (cron) and one delivery per reminder and bound user (outbox)."""

from __future__ import annotations

from wxbackend.core.jobs import job
from wxbackend.reminders import service


@job("default", timeout=1800)
def scan_due() -> int:
    """Cron, daily: record today's reminders and their deliveries (a second run the same day records nothing)."""
    return service.scan()


@job("notices", timeout=30, retry=(30, 300, 1800))
def deliver(reminder_id: int, user_id: int) -> str:
    """Send one reminder to one user; safe to run twice (the delivery row is the record)."""
    return service.deliver(reminder_id, user_id)
