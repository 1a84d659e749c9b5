"""Issuing and delivering invoices (run by jobs): the adapter issues, the PDF goes to the file store, the mail
with the signed link goes out over SMTP, then the WeChat notice. Each step locks the invoice and re-checks its
state, so a job run twice (or two at once) does the work once. The 24-hour promise is watched by
`alert_overdue_invoices`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from wxbackend.audit.service import record_audit
from wxbackend.core import keyset
from wxbackend.core.crypto import decrypt
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, NotFound, UpstreamError
from wxbackend.core.files import file_store
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.times import local_day, local_minute, utcnow
from wxbackend.core.uow import keep_after_rollback
from wxbackend.integrations.einvoice import InvoiceRefused, invoice_adapter
from wxbackend.integrations.invoice_pdf import InvoiceDocument, Line, Party
from wxbackend.integrations.smtp import mask_address, send_mail
from wxbackend.invoices.models import UNDELIVERED_SQL, Invoice, InvoiceStatus
from wxbackend.invoices.service import bank_account_of, link_for, mobile_of, queue_issuing
from wxbackend.invoices.transitions import INVOICE_STATES
from wxbackend.notices.service import queue_notice
from wxbackend.users.models import User

log = logging.getLogger(__name__)


def seller() -> Party:
    """The seller as the invoice prints it: the same name and account the customer paid to."""
    cfg = current_app.config
    return Party(name=cfg["INVOICE_SELLER_NAME"] or cfg["TRANSFER_PAYEE_NAME"],
                 tax_number=cfg["INVOICE_SELLER_TAX_NUMBER"], address=cfg["INVOICE_SELLER_ADDRESS"],
                 bank_name=cfg["TRANSFER_PAYEE_BANK"], bank_account=cfg["TRANSFER_PAYEE_ACCOUNT"])


def document_for(invoice: Invoice) -> InvoiceDocument:
    buyer = Party(name=invoice.title, tax_number=invoice.tax_number, address=invoice.address, phone=invoice.phone,
                  bank_name=invoice.bank_name, bank_account=bank_account_of(invoice))
    return InvoiceDocument(invoice_id=invoice.id, request_no=invoice.request_no, seller=seller(), buyer=buyer,
                           buyer_title_type=invoice.title_type,
                           lines=tuple(Line(item.name, item.order_no, item.fee_detail, item.amount_fen)
                                       for item in invoice.items),
                           total_fen=invoice.amount_fen, email=invoice.email, mobile=mobile_of(invoice),
                           tax_rate_percent=current_app.config["INVOICE_TAX_RATE_PERCENT"])


def issue(invoice_id: int) -> str:
    """Issue a pending invoice through the configured adapter and store its PDF; the mail is queued once this
    commits. A refusal marks it failed and lets go of its orders (they can be invoiced again); a transient
    failure raises UpstreamError (the job is retried). Returns what happened."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None:
        return "missing"
    if invoice.status != InvoiceStatus.PENDING:
        return f"already {invoice.status}"
    adapter = invoice_adapter()
    try:
        issued = adapter.issue(document_for(invoice))
    except UpstreamError as failed:
        note_failure(invoice.id, failed)
        raise
    except InvoiceRefused as refused:
        INVOICE_STATES.move(invoice, InvoiceStatus.FAILED)
        invoice.failure_reason = refused.message[:300]
        invoice.adapter = adapter.name
        for item in invoice.items:
            item.order_id = None  # the orders are free to be invoiced again; the item keeps the order number
        record_audit("system", "invoice.failed", target=f"invoice:{invoice.id}", result="refused",
                     detail={"request_no": invoice.request_no, "reason": invoice.failure_reason})
        db.session.flush()
        log.warning("invoice %s refused by the %s adapter: %s", invoice.request_no, adapter.name, refused.message)
        return "failed"
    invoice.file_key = file_store().put(issued.pdf, ".pdf")
    invoice.invoice_no = issued.invoice_no
    invoice.issued_at = issued.issued_at
    invoice.adapter = adapter.name
    invoice.last_error, invoice.last_error_at = "", None
    INVOICE_STATES.move(invoice, InvoiceStatus.ISSUED)
    record_audit("system", "invoice.issued", target=f"invoice:{invoice.id}",
                 detail={"request_no": invoice.request_no, "invoice_no": invoice.invoice_no,
                         "amount_fen": invoice.amount_fen, "adapter": adapter.name})
    if invoice.paper:  # staff post it: it waits in 未送达发票 as 纸质发票待寄出 with the recipient; nothing is mailed
        invoice.to_post_at = utcnow()
        record_audit("system", "invoice.to_post", target=f"invoice:{invoice.id}",
                     detail={"invoice_no": invoice.invoice_no, "recipient": invoice.recipient_name,
                             "mobile": invoice.recipient_mobile_masked, "address": invoice.recipient_address_masked})
        db.session.flush()
        queue_notice(invoice.user_id, "invoice_issued", {"invoice_no": invoice.invoice_no,
                                                         "amount": invoice.amount_yuan})
        return "issued, to post"
    db.session.flush()
    queue_mail(invoice_id)
    return "issued"


def note_failure(invoice_id: int, failed: UpstreamError) -> None:
    """Record on the invoice why its step failed this time (the 未送达发票 queue shows it). The job raises and rolls
    back so that rq retries it; the note outlives that rollback (`keep_after_rollback`)."""
    reason, at = failed.message[:300], utcnow()

    def note() -> None:
        db.session.execute(sa.update(Invoice).where(Invoice.id == invoice_id)
                           .values(last_error=reason, last_error_at=at))

    keep_after_rollback(note)


def queue_mail(invoice_id: int) -> None:
    """Queue the mail of an issued invoice once this unit of work commits; SMTP being down is retried with
    backoff for about a day."""
    enqueue_after_commit("invoices.email_invoice", invoice_id)


def mail_text(invoice: Invoice, link: str) -> str:
    hours = current_app.config["INVOICE_LINK_HOURS"]
    lines = "\n".join(f"  {item.order_no}  {item.name}  {item.amount_yuan}元" for item in invoice.items)
    return (f"您好：\n\n您申请的电子发票已开具。\n\n"
            f"发票号码：{invoice.invoice_no}\n"
            f"开票日期：{local_day(invoice.issued_at)}\n"
            f"发票抬头：{invoice.title}\n"
            f"税号：{invoice.tax_number or '—'}\n"
            f"价税合计：{invoice.amount_yuan}元\n"
            f"受理单：\n{lines}\n\n"
            f"下载电子发票（PDF，{hours}小时内有效，可在电脑浏览器中打开）：\n{link}\n\n"
            f"链接过期后，请在微信公众号“数安CA管家 - 我的发票 - 开票历史”中重新复制下载链接。\n"
            f"本邮件由系统自动发送，请勿直接回复。\n\n{seller().name}\n")


def deliver(invoice_id: int) -> str:
    """Mail an issued invoice's link (once) and then tell the user in WeChat. SMTP failing raises MailFailed
    (the job is retried with backoff). Returns what happened."""

    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None or invoice.status != InvoiceStatus.ISSUED:
        return "not issued"
    if invoice.paper:
        return "paper: posted by staff"
    if invoice.emailed_at is not None:
        return "already sent"
    try:
        send_mail(invoice.email, f"【数安CA管家】电子发票 {invoice.invoice_no}", mail_text(invoice, link_for(invoice)))
    except UpstreamError as failed:
        note_failure(invoice.id, failed)
        raise
    invoice.emailed_at = utcnow()
    invoice.last_error, invoice.last_error_at = "", None
    record_audit("system", "invoice.emailed", target=f"invoice:{invoice.id}",
                 detail={"invoice_no": invoice.invoice_no, "to": mask_address(invoice.email)})
    db.session.flush()
    user_id, data = invoice.user_id, {"invoice_no": invoice.invoice_no, "amount": invoice.amount_yuan}
    queue_notice(user_id, "invoice_issued", data)
    return "sent"


def undelivered_invoices(older_than: timedelta) -> list[Invoice]:
    """Invoices requested more than `older_than` ago that have not reached the user's mailbox (still pending,
    or issued and not mailed)."""
    return list(db.session.scalars(
        sa.select(Invoice).where(Invoice.created_at < utcnow() - older_than, _undelivered()).order_by(Invoice.id)))


def _undelivered() -> sa.ColumnElement[bool]:
    """Requested and not in the user's mailbox: the condition of the partial index `ix_invoices_undelivered`."""
    return sa.text(UNDELIVERED_SQL)


def alert_overdue_invoices() -> int:
    """The 24-hour promise: each invoice still undelivered `INVOICE_OVERDUE_HOURS` after its request is reported
    once, as an ERROR log line and an audit row. Returns how many were reported now."""
    hours = current_app.config["INVOICE_OVERDUE_HOURS"]
    reported = 0
    for invoice in undelivered_invoices(timedelta(hours=hours)):
        if invoice.overdue_alerted_at is not None:
            continue
        invoice.overdue_alerted_at = utcnow()
        stage = "not issued" if invoice.status == InvoiceStatus.PENDING else "issued, not emailed"
        log.error("invoice %s (id %s) requested %s is %s after %s hours: the 24-hour promise is at risk; "
                  "`flask invoices requeue` queues it again", invoice.request_no, invoice.id,
                  local_minute(invoice.created_at), stage, hours)
        record_audit("system", "invoice.overdue", target=f"invoice:{invoice.id}", result="alert",
                     detail={"request_no": invoice.request_no, "stage": stage, "hours": hours})
        reported += 1
    db.session.flush()
    return reported


def requeue_undelivered() -> list[str]:
    """Queue the next step again for every undelivered invoice (staff, after an alert or an outage)."""

    queued = []
    for invoice in undelivered_invoices(timedelta(0)):
        (queue_issuing if invoice.status == InvoiceStatus.PENDING else queue_mail)(invoice.id)
        queued.append(invoice.request_no)
    return queued


# ------------------------------------------------------------------------------ the console's 未送达发票 queue


def undelivered_count() -> int:
    """How many invoices have not reached the user's mailbox (the console home's tile)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(_undelivered())) or 0


STAGES = {  # (status, failed this time?) -> why it is not delivered
    (InvoiceStatus.PENDING, False): "待开具",
    (InvoiceStatus.PENDING, True): "开具失败",
    (InvoiceStatus.ISSUED, False): "待发送邮件",
    (InvoiceStatus.ISSUED, True): "邮件发送失败",
}


def _stage(invoice: Invoice) -> str:
    if invoice.paper and invoice.status == InvoiceStatus.ISSUED:
        return "纸质发票待寄出"
    return STAGES[(InvoiceStatus(invoice.status), bool(invoice.last_error))]


@dataclass(frozen=True)
class Undelivered:
    invoice: Invoice
    user_name: str  # masked
    order_nos: list[str]
    stage: str  # 待开具 / 开具失败 / 待发送邮件 / 邮件发送失败
    reason: str  # the last failure's message, "" when none

    @property
    def failed(self) -> bool:
        return bool(self.reason)


def undelivered_page(cursor: str | None = None, size: int = keyset.PAGE_SIZE) -> keyset.Page:
    """One page of undelivered invoices, the longest waiting first (keyset on created_at, id); rows are
    `Undelivered`, the user masked."""
    found = keyset.page(sa.select(Invoice).where(_undelivered()), Invoice.created_at, Invoice.id, cursor,
                        lambda invoice: (invoice.created_at, invoice.id), size=size)
    users = {user.id: user for user in db.session.scalars(
        sa.select(User).where(User.id.in_({invoice.user_id for invoice in found.rows})))} if found.rows else {}
    rows = [Undelivered(invoice, users[invoice.user_id].masked_name if invoice.user_id in users else "**",
                        [item.order_no for item in invoice.items], _stage(invoice), invoice.last_error)
            for invoice in found.rows]
    return keyset.Page(rows, found.next_cursor)


def mark_posted(staff_id: int, invoice_id: int, ip: str = "") -> Invoice:
    """纸质发票已寄出: staff posted an issued paper invoice to its recipient; it leaves 未送达发票. Audited. Conflict
    when it is not an issued paper invoice waiting to be posted, NotFound when there is no such invoice."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None:
        raise NotFound("没有找到该发票")
    if not (invoice.paper and invoice.status == InvoiceStatus.ISSUED and invoice.posted_at is None):
        raise Conflict(f"发票{invoice.request_no}不是待寄出的纸质发票", code="not_to_post")
    invoice.posted_at = utcnow()
    record_audit(f"staff:{staff_id}", "invoice.posted", target=f"invoice:{invoice.id}", ip=ip,
                 detail={"invoice_no": invoice.invoice_no, "recipient": invoice.recipient_name,
                         "address": invoice.recipient_address_masked})
    db.session.flush()
    return invoice


def to_post() -> list[tuple[Invoice, dict[str, str]]]:
    """Issued paper invoices not yet posted, the oldest first, each with its recipient in full (for the waybill:
    `flask invoices to-post`; pages show the masked copies)."""
    found = db.session.scalars(sa.select(Invoice).where(
        Invoice.delivery == "paper", Invoice.status == InvoiceStatus.ISSUED, Invoice.posted_at.is_(None))
        .order_by(Invoice.to_post_at, Invoice.id))
    return [(invoice, {"name": invoice.recipient_name, "mobile": decrypt(invoice.recipient_mobile_enc, "mobile"),
                       "address": decrypt(invoice.recipient_address_enc, "address")}) for invoice in found]


def requeue_invoice(staff_id: int, invoice_id: int, ip: str = "") -> str:
    """Queue the next step of one undelivered invoice again (issuing when pending, mailing when issued), once
    this commits; audited. Conflict when it was delivered or failed for good meanwhile, NotFound when there is no
    such invoice. The job re-checks state, so a requeue that crosses a running job does the work once. Returns
    the job's name."""
    invoice = db.session.get(Invoice, invoice_id, with_for_update=True)
    if invoice is None:
        raise NotFound("没有找到该发票")
    if not (invoice.status == InvoiceStatus.PENDING or
            (invoice.status == InvoiceStatus.ISSUED and invoice.emailed_at is None)):
        raise Conflict(f"发票{invoice.request_no}已{'送达' if invoice.emailed_at else invoice.status_label}，"
                       "无需重新排队", code="invoice_not_undelivered")
    if invoice.paper and invoice.status == InvoiceStatus.ISSUED:
        raise Conflict(f"发票{invoice.request_no}为纸质发票，请按收件人信息邮寄，无需重新排队", code="paper_invoice")
    if invoice.status == InvoiceStatus.PENDING:
        queue_issuing(invoice.id)
        job = "invoices.issue_invoice"
    else:
        queue_mail(invoice.id)
        job = "invoices.email_invoice"
    record_audit(f"staff:{staff_id}", "invoice.requeued", target=f"invoice:{invoice.id}", ip=ip,
                 detail={"request_no": invoice.request_no, "status": invoice.status, "job": job,
                         "last_error": invoice.last_error[:100]})
    return job
