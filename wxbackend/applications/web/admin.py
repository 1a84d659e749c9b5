"""The console's 待审核 (DESIGN §15, 审核员): the queue of paid applications waiting for review, and one application's
page — every field of every revision (changes marked), the printable form and the uploads side by side, and the
four-eyes decision forms (`approvals`: a one-time nonce, a fresh TOTP code; reject names fields and a reason)."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request, url_for

from wxbackend.applications import face, finance, materials, service
from wxbackend.approvals import service as approvals
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.staff_session import staff_required

bp = Blueprint("applications_admin", __name__, url_prefix="/admin", template_folder="../templates")
ROLES = (Role.AUDITOR, Role.ADMIN)
FINANCE = (Role.FINANCE, Role.ADMIN)
QUEUES = (ConsoleQueue("待审核", "applications_admin.queue", ROLES, count=service.review_count),
          ConsoleQueue("待金融认证", "applications_admin.fin_queue", FINANCE, count=finance.waiting_count))


@bp.get("/applications")
@staff_required(*ROLES)
def queue():
    found = service.review_queue(request.args.get("after"))
    next_url = url_for("applications_admin.queue", after=found.next_cursor) if found.next_cursor else None
    return render_template("applications/admin_queue.html", rows=found.rows, next_url=next_url)


@bp.get("/applications/fin-verifications")
@staff_required(*FINANCE)
def fin_queue():
    """待金融认证: each 0.01-yuan attempt not yet verified (打款中, 待输入随机码, 打款失败, 未通过) — never the code."""
    found = finance.waiting(request.args.get("after"))
    next_url = url_for("applications_admin.fin_queue", after=found.next_cursor) if found.next_cursor else None
    return render_template("applications/admin_fin_queue.html", rows=found.rows, next_url=next_url)


@bp.get("/applications/<int:application_id>")
@staff_required(*ROLES)
def detail(application_id: int):
    found = service.get_application(application_id)
    pending = approvals.pending_request(service.REVIEW_KIND, found.id)
    why_not = approvals.why_not(pending, g.staff) if pending is not None else None
    nonce = approvals.issue_nonce(pending.id, g.staff.id) if pending is not None and why_not is None else None
    response = render_template(
        "applications/admin_detail.html", app=found, order=found.order, pending=pending, why_not=why_not,
        nonce=nonce, steps=approvals.steps_of(pending) if pending is not None else [],
        revisions=service.revisions_for_staff(found, g.staff.id, request.remote_addr or ""),
        fields=materials.FIELDS, labels=service.review_field_labels(), uploads=service.current_uploads(found),
        all_uploads=found.uploads, verification=finance.latest(found.id), liveness=face.latest(found.id))
    return response, 200, {"Cache-Control": "no-store"}


@bp.get("/applications/<int:application_id>/form.pdf")
@staff_required(*ROLES)
def form_pdf(application_id: int):
    found = service.get_application(application_id)
    return service.render_pdf(found), 200, {
        "Content-Type": "application/pdf", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{found.application_no}.pdf"'}


@bp.get("/applications/uploads/<public_id>")
@staff_required(*ROLES)
def upload(public_id: str):
    """An upload, as an attachment of a neutral type under a name of ours (never the sender's name or type)."""
    found, data = service.upload_for_staff(public_id)
    suffix = "png" if found.content_type == "image/png" else "jpg"
    return data, 200, {"Content-Type": "application/octet-stream", "Cache-Control": "no-store",
                       "Content-Disposition": f'attachment; filename="{found.kind}-{found.public_id}.{suffix}"',
                       "X-Content-Type-Options": "nosniff"}
