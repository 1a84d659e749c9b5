"""Certificate jobs."""

from __future__ import annotations

from wxbackend.certificates.service import mark_expired_certificates
from wxbackend.core.jobs import job


@job("default", timeout=600)
def mark_expired() -> int:
    """Mark certificates and 应用 past their end as expired (hourly, from the cron table)."""
    return mark_expired_certificates()
