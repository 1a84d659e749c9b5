"""Invoice adapters, chosen by `INVOICE_ADAPTER`: `local` (the embedded default: numbered and drawn here) and
`http` (an e-invoice platform). Both take an `InvoiceDocument` and give back the invoice number, its date and the
PDF; both are safe to call twice for the same request (the same number comes back).

A refusal that retrying cannot change (the platform rejects the buyer) raises `InvoiceRefused`; anything
transient raises `UpstreamError`, so the issuing job is retried with backoff.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import requests
from flask import current_app

from wxbackend.core.errors import DomainError, UpstreamError
from wxbackend.core.times import SHANGHAI, utcnow
from wxbackend.integrations.invoice_pdf import InvoiceDocument, render_invoice_pdf

log = logging.getLogger(__name__)


class InvoiceRefused(DomainError):
    """The invoice cannot be issued as requested (e.g. the platform does not know the buyer's tax number)."""

    code, message, status = "invoice_refused", "发票开具被拒绝", 422


@dataclass(frozen=True)
class IssuedInvoice:
    invoice_no: str
    issued_at: datetime
    pdf: bytes


class InvoiceAdapter(Protocol):
    name: str

    def issue(self, document: InvoiceDocument) -> IssuedInvoice: ...


class LocalInvoices:
    """Numbered and drawn here. The number is 20 digits — the year and our invoice id — so issuing the same
    invoice twice gives the same number, and two invoices never share one."""

    name = "local"

    def issue(self, document: InvoiceDocument) -> IssuedInvoice:
        issued_at = utcnow()
        number = f"{issued_at.astimezone(SHANGHAI):%y}{document.invoice_id:018d}"
        return IssuedInvoice(number, issued_at, render_invoice_pdf(document, number, issued_at))


class HttpInvoices:
    """An e-invoice platform: `POST {INVOICE_PLATFORM_URL}/invoices` with a bearer key and our request number as
    the idempotency key; the answer carries the invoice number, its date and the PDF (base64)."""

    name = "http"

    def __init__(self, base_url: str, api_key: str, timeout: float):
        self.base_url, self.api_key, self.timeout = base_url.rstrip("/"), api_key, timeout

    def issue(self, document: InvoiceDocument) -> IssuedInvoice:
        body = {
            "request_no": document.request_no,
            "seller": {"name": document.seller.name, "tax_number": document.seller.tax_number},
            "tax_rate": f"{document.tax_rate_percent / 100:.2f}",
            "buyer": {"title": document.buyer.name, "title_type": document.buyer_title_type,
                      "tax_number": document.buyer.tax_number, "address": document.buyer.address,
                      "phone": document.buyer.phone, "bank_name": document.buyer.bank_name,
                      "bank_account": document.buyer.bank_account, "email": document.email,
                      "mobile": document.mobile},
            "items": [{"name": f"*信息技术服务*{line.name}", "order_no": line.order_no, "quantity": 1,
                       "amount_fen": line.amount_fen} for line in document.lines],
            "total_fen": document.total_fen,
        }
        try:
            response = requests.post(f"{self.base_url}/invoices", json=body, timeout=self.timeout,
                                     headers={"Authorization": f"Bearer {self.api_key}",
                                              "Idempotency-Key": document.request_no})
        except requests.RequestException as failed:
            log.warning("e-invoice platform unreachable for %s: %s", document.request_no, failed)
            raise UpstreamError("电子发票平台暂时不可用") from failed
        if response.status_code in (400, 409, 422):
            reason = _message(response) or "电子发票平台拒绝开具"
            raise InvoiceRefused(reason[:200])
        if response.status_code != 200:
            log.warning("e-invoice platform answered %s for %s", response.status_code, document.request_no)
            raise UpstreamError("电子发票平台暂时不可用")
        try:
            answer = response.json()
            number = str(answer["invoice_no"])
            issued_at = datetime.fromisoformat(answer["issued_at"])
            pdf = base64.b64decode(answer["pdf_base64"], validate=True)
        except (ValueError, KeyError, TypeError) as garbled:
            raise UpstreamError("电子发票平台的应答无法识别") from garbled
        if not re.fullmatch(r"[0-9A-Za-z]{8,32}", number) or not pdf.startswith(b"%PDF") or issued_at.tzinfo is None:
            raise UpstreamError("电子发票平台的应答无法识别")
        return IssuedInvoice(number, issued_at, pdf)


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", ""))
    except ValueError:
        return ""


def invoice_adapter() -> InvoiceAdapter:
    cfg = current_app.config
    name = cfg["INVOICE_ADAPTER"]
    if name == "local":
        return LocalInvoices()
    if name == "http":
        if not cfg["INVOICE_PLATFORM_URL"]:
            raise ValueError("INVOICE_ADAPTER=http needs INVOICE_PLATFORM_URL")
        return HttpInvoices(cfg["INVOICE_PLATFORM_URL"], cfg["INVOICE_PLATFORM_KEY"],
                            cfg["INVOICE_PLATFORM_TIMEOUT_SECONDS"])
    raise ValueError(f"unknown INVOICE_ADAPTER {name!r}")
