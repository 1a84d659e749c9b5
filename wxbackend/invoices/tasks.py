"""Invoice jobs: issue, mail, and the 24-hour watch. Each takes ids, locks and re-checks, so running one twice
does the work once."""

from __future__ import annotations

from wxbackend.core.jobs import job
from wxbackend.invoices import issuing


@job("mail", timeout=120, retry=(60, 300, 900, 1800, 3600, 7200))
def issue_invoice(invoice_id: int) -> str:
    """Issue a pending invoice (adapter, file store); its mail is queued when this commits. A transient adapter
    failure raises, so rq retries with backoff."""
    return issuing.issue(invoice_id)


@job("mail", timeout=60, retry=(30, 60, 300, 900, 1800, 3600, 7200, 14400))
def email_invoice(invoice_id: int) -> str:
    """Mail an issued invoice's download link, then the WeChat notice. SMTP down raises, so rq retries with
    backoff until it is back."""
    return issuing.deliver(invoice_id)


@job("default", timeout=300)
def alert_overdue_invoices() -> int:
    """Report (ERROR log, audit row) invoices still undelivered INVOICE_OVERDUE_HOURS after their request."""
    return issuing.alert_overdue_invoices()
