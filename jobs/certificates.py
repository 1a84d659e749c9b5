"""Certificate jobs."""

from __future__ import annotations

from jobs import app_job
from wxbackend.certificates.service import mark_expired_certificates


@app_job
def mark_expired() -> int:
    """Mark certificates and 应用 past their end as expired (hourly, from the cron table)."""
    return mark_expired_certificates()
