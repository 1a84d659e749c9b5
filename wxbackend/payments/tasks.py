"""Payment jobs: asking WeChat Pay about payments and refunds whose notification never came, and matching
imported bank statement lines (corporate transfers)."""

from __future__ import annotations

from wxbackend.core.jobs import enqueue_now, job
from wxbackend.payments import service
from wxbackend.payments.transfer import match_line, match_lines


@job("default", timeout=300)
def query_unconfirmed_payments() -> int:
    """Every 5 minutes (cron): queue one `confirm_wechat_payment` per WeChat payment still pending 5 minutes after
    it started (and started within 2 days). Each job re-checks the payment, so running this twice is harmless."""
    ids = service.unconfirmed_payment_ids()
    for payment_id in ids:
        enqueue_now("payments.confirm_wechat_payment", payment_id)
    return len(ids)


@job("default", timeout=60, retry=(60, 300))
def confirm_wechat_payment(payment_id: int) -> str:
    """Query WeChat Pay for one pending payment: SUCCESS is applied exactly as a notification would be, an
    expired unpaid one is closed (`payments.service.sync_wechat_payment`)."""
    return service.sync_wechat_payment(payment_id)


@job("default", timeout=300)
def query_unconfirmed_refunds() -> int:
    """Every 5 minutes (cron): queue one `confirm_refund` per WeChat refund still processing after 5 minutes."""
    ids = service.unconfirmed_refund_ids()
    for refund_id in ids:
        enqueue_now("payments.confirm_refund", refund_id)
    return len(ids)


@job("default", timeout=60, retry=(60, 300))
def confirm_refund(refund_id: int) -> str:
    """Query WeChat Pay for one processing refund and apply its answer (`payments.service.sync_refund`)."""
    return service.sync_refund(refund_id)


@job("default", timeout=60, retry=(30, 300, 1800))
def match_statement_line(line_id: int) -> str:
    """Match one imported statement line to the order it pays, or put it in the manual queue with a reason.
    The line is locked and re-checked first: a line already matched or manual is left alone. (Imports queue
    `match_statement_lines`; this one runs what older imports recorded.)"""
    return match_line(line_id)


@job("default", timeout=300, retry=(30, 300, 1800))
def match_statement_lines(line_ids: list[int]) -> dict[str, int]:
    """Match a batch of imported statement lines (`transfer.match_lines`): decided together, each applied under
    its order's lock; lines already matched or manual are left alone, so a retry after a failure is harmless."""
    return match_lines(line_ids)
