"""Jobs of the counter, safe to run twice."""

from __future__ import annotations

from wxbackend.core.jobs import job
from wxbackend.counter import service


@job("default", timeout=60, retry=(30, 120, 600, 1800, 3600))
def deliver_pin(delivery_id: int) -> str:
    """Send a replacement key's PIN (payout remark or SMS) with the delivery's idempotency key; no-op unless 待发送."""
    return service.deliver_pin(delivery_id)
