"""The invoice status machine (DESIGN §3, §10): an invoice is pending until the adapter issues it or refuses it;
both ends are final (a refused invoice lets go of its orders, which a new request may cover)."""

from __future__ import annotations

from wxbackend.core.states import IllegalTransition, StateMachine
from wxbackend.invoices.models import STATUS_LABELS, InvoiceStatus


class IllegalInvoiceTransition(IllegalTransition):
    code = "illegal_invoice_transition"


INVOICE_STATES = StateMachine({
    InvoiceStatus.PENDING: {InvoiceStatus.ISSUED, InvoiceStatus.FAILED},
    InvoiceStatus.ISSUED: set(),
    InvoiceStatus.FAILED: set(),
}, noun="发票", labels=STATUS_LABELS, error=IllegalInvoiceTransition)
