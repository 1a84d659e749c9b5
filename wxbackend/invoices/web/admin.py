"""未送达发票 in the console (DESIGN §15), for 财务 and 客服: invoices requested and not yet in the user's mailbox,
the longest waiting first, with why (still to issue, issuing failed, still to mail, mail failed, a paper invoice to
post) and a button that queues the next step of one invoice again (or, for a paper one, records it posted)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from wxbackend.core.times import utcnow
from wxbackend.invoices import issuing
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import staff_required

bp = Blueprint("invoices_admin", __name__, url_prefix="/admin", template_folder="../templates")
ROLES = (Role.FINANCE, Role.SUPPORT)
QUEUES = (ConsoleQueue("未送达发票", "invoices_admin.undelivered", ROLES, count=issuing.undelivered_count),)


def undelivered_page(**_view_args) -> str:
    return url_for("invoices_admin.undelivered")


@bp.get("/invoices/undelivered")
@staff_required(*ROLES)
def undelivered():
    found = issuing.undelivered_page(request.args.get("after"))
    next_url = url_for("invoices_admin.undelivered", after=found.next_cursor) if found.next_cursor else None
    return render_template("invoices/admin_undelivered.html", page=found, next_url=next_url, now=utcnow())


@bp.post("/invoices/<int:invoice_id>/requeue")
@staff_required(*ROLES)
@refusals_flashed(back=undelivered_page)
def requeue(invoice_id: int):
    issuing.requeue_invoice(g.staff.id, invoice_id, request.remote_addr or "")
    flash("已重新排队", "ok")
    return redirect(undelivered_page())


@bp.post("/invoices/<int:invoice_id>/posted")
@staff_required(*ROLES)
@refusals_flashed(back=undelivered_page)
def posted(invoice_id: int):
    """纸质发票已寄出 (the paper invoice was posted to its recipient)."""
    issuing.mark_posted(g.staff.id, invoice_id, request.remote_addr or "")
    flash("已标记为已寄出", "ok")
    return redirect(undelivered_page())
