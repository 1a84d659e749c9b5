"""WeChat Pay jobs: asking about payments and refunds whose notification never came."""

from __future__ import annotations

from rq import Retry

from jobs import app_job, get_queue
from wxbackend.payments import service


@app_job
def query_unconfirmed_payments() -> int:
    """Every 5 minutes (cron): queue one `confirm_wechat_payment` per WeChat payment still pending 5 minutes after
    it started (and started within 2 days). Each job re-checks the payment, so running this twice is harmless."""
    queue = get_queue("default")
    ids = service.unconfirmed_payment_ids()
    for payment_id in ids:
        queue.enqueue(confirm_wechat_payment, payment_id, job_timeout=60, retry=Retry(max=2, interval=[60, 300]))
    return len(ids)


@app_job
def confirm_wechat_payment(payment_id: int) -> str:
    """Query WeChat Pay for one pending payment: SUCCESS is applied exactly as a notification would be, an
    expired unpaid one is closed (`payments.service.sync_wechat_payment`)."""
    return service.sync_wechat_payment(payment_id)


@app_job
def query_unconfirmed_refunds() -> int:
    """Every 5 minutes (cron): queue one `confirm_refund` per WeChat refund still processing after 5 minutes."""
    queue = get_queue("default")
    ids = service.unconfirmed_refund_ids()
    for refund_id in ids:
        queue.enqueue(confirm_refund, refund_id, job_timeout=60, retry=Retry(max=2, interval=[60, 300]))
    return len(ids)


@app_job
def confirm_refund(refund_id: int) -> str:
    """Query WeChat Pay for one processing refund and apply its answer (`payments.service.sync_refund`)."""
    return service.sync_refund(refund_id)
