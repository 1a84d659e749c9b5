"""Invoice jobs: issue, mail, and the 24-hour watch. Each takes ids, locks and re-checks, so running one twice
does the work once."""

from __future__ import annotations

from jobs import app_job
from wxbackend.invoices import issuing


@app_job
def issue_invoice(invoice_id: int) -> str:
    """Issue a pending invoice (adapter, file store); its mail is queued when this commits. A transient adapter
    failure raises, so rq retries with backoff."""
    return issuing.issue(invoice_id)


@app_job
def email_invoice(invoice_id: int) -> str:
    """Mail an issued invoice's download link, then the WeChat notice. SMTP down raises, so rq retries with
    backoff until it is back."""
    return issuing.deliver(invoice_id)


@app_job
def alert_overdue_invoices() -> int:
    """Report (ERROR log, audit row) invoices still undelivered INVOICE_OVERDUE_HOURS after their request."""
    return issuing.alert_overdue_invoices()
