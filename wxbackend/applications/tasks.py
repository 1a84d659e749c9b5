"""Jobs of the reviewed applications, safe to run twice."""

from __future__ import annotations

from wxbackend.applications import finance
from wxbackend.core.jobs import job


@job("default", timeout=60, retry=(30, 120, 600, 1800, 3600))
def pay_fin_verification(verification_id: int) -> str:
    """Pay a 金融认证 attempt's 0.01 yuan with its recorded idempotency key (no-op unless still 打款中)."""
    return finance.pay(verification_id)


@job("default", timeout=300)
def expire_fin_verifications() -> int:
    """金融认证 codes not entered within FIN_VERIFICATION_DAYS: 金融认证失败 (the user corrects and retries)."""
    return finance.expire_overdue()
