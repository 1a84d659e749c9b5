"""审计日志 in the console (DESIGN §15), for 管理员 and 审核员: read and filter the trail, export it as CSV. Read
only: no route here (nor anywhere) edits or deletes a row; an export is itself audited."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, render_template, request, stream_with_context, url_for

from wxbackend.audit import service
from wxbackend.audit.forms import AuditSearchForm
from wxbackend.core.times import utcnow
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.staff_session import staff_required

bp = Blueprint("audit_admin", __name__, url_prefix="/admin", template_folder="../templates")
READERS = (Role.ADMIN, Role.AUDITOR)
QUEUES = (ConsoleQueue("审计日志", "audit_admin.audit", READERS, None, group="查询"),)


def criteria() -> dict[str, str]:
    """The filters as typed, for links (the next page, the export)."""
    return {name: value for name, value in request.args.items() if value and name != "before"}


def render_audit(form: AuditSearchForm, page: service.AuditPage | None, status: int = 200):
    next_url = None
    if page is not None and page.next_before is not None:
        next_url = url_for("audit_admin.audit", **criteria(), before=page.next_before)
    return render_template("audit/admin_audit.html", form=form, page=page, next_url=next_url,
                           export_url=url_for("audit_admin.export", **criteria()),
                           max_rows=current_app.config["AUDIT_EXPORT_MAX_ROWS"]), status


@bp.get("/audit")
@staff_required(*READERS)
def audit():
    """The trail newest first, 50 a page: by actor, target prefix, action prefix, result and time."""
    form = AuditSearchForm(formdata=request.args)
    return render_audit(form, service.search_audit(form.query(), form.before_id()) if form.validate() else None)


@bp.get("/audit.csv")
@staff_required(*READERS)
def export():
    """The filtered rows as CSV (UTF-8 with BOM), streamed, at most AUDIT_EXPORT_MAX_ROWS; the export is audited."""
    form = AuditSearchForm(formdata=request.args)
    if not form.validate():
        return render_audit(form, None, 400)
    rows = service.export_audit(g.staff.id, form.query(), current_app.config["AUDIT_EXPORT_MAX_ROWS"],
                                request.remote_addr or "")
    filename = f"audit-{utcnow().strftime('%Y%m%d-%H%M%S')}.csv"
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
