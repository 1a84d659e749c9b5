"""The console's finance pages (DESIGN §9, §15; role 财务): importing a bank statement (upload, preview, 确认导入),
the 银行流水人工队列 (match a line to an order by hand, or set it aside), and the 退款 queue (corporate-transfer
refunds paid back by bank transfer, and WeChat refunds still open)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from wxbackend.core.errors import DomainError
from wxbackend.payments import service, transfer
from wxbackend.payments.bank_models import LINE_STATUS_LABELS
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import fresh_totp_required, staff_required

bp = Blueprint("payments_admin", __name__, url_prefix="/admin", template_folder="../templates")
QUEUES = (
    ConsoleQueue("银行流水人工队列", "payments_admin.manual_lines", (Role.FINANCE,), transfer.manual_line_count),
    ConsoleQueue("退款", "payments_admin.refunds", (Role.FINANCE,), service.manual_refund_count),
    ConsoleQueue("导入银行流水", "payments_admin.bank_import", (Role.FINANCE,)),
)
PREVIEW_ROWS = 500  # lines shown in a preview; the counts cover the whole file
REFUND_TAB_LABELS = {"manual": "待人工退款", "wechat": "微信退款未完成", "done": "已完成的人工退款"}


def client_ip() -> str:
    return request.remote_addr or ""


def import_page(**_view_args) -> str:
    return url_for("payments_admin.bank_import")


def line_page(line_id: int) -> str:
    order_no = transfer.normalised_order_no(request.form.get("order_no"))
    return url_for("payments_admin.line", line_id=line_id, **({"order_no": order_no} if order_no else {}))


def refunds_page(**_view_args) -> str:
    return url_for("payments_admin.refunds")


def _after_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) < 2**31 else None


# --- importing a statement ------------------------------------------------------------------------------------


@bp.route("/bank/import", methods=["GET", "POST"])
@staff_required(Role.FINANCE)
@refusals_flashed()
def bank_import():
    """GET: the upload form. POST: the preview of the uploaded file (nothing imported yet)."""
    if request.method == "POST":
        upload = request.files.get("statement")
        if upload is None or not upload.filename:
            raise DomainError("请选择要导入的银行流水文件（CSV）", code="no_file")
        preview = transfer.preview_statement(g.staff.id, upload.read(), upload.filename, client_ip())
        return render_template("payments/admin/import_preview.html", preview=preview,
                               shown=preview.lines[:PREVIEW_ROWS], max_rows=PREVIEW_ROWS)
    return render_template("payments/admin/import.html", header=",".join(transfer.STATEMENT_HEADER),
                           max_mb=transfer.STATEMENT_MAX_BYTES // 1024 // 1024)


@bp.post("/bank/import/confirm")
@staff_required(Role.FINANCE)
@refusals_flashed(back=import_page)
@fresh_totp_required
def bank_import_confirm():
    """确认导入: the previewed file is imported and its new lines queued for matching after the commit."""
    result = transfer.import_staged_statement(g.staff.id, request.form.get("token", ""),
                                              request.form.get("sha256", ""), client_ip())
    flash(f"已导入：共{result.total}行，新增{len(result.new_line_ids)}行，已导入过{result.skipped}行（跳过）；"
          f"{len(result.new_line_ids)}行已排队匹配", "ok")
    return redirect(import_page())


# --- the manual queue -----------------------------------------------------------------------------------------


@bp.get("/bank/manual")
@staff_required(Role.FINANCE)
def manual_lines():
    """银行流水人工队列: lines the matching job could not decide (or, by the status filter, those resolved)."""
    filters = transfer.line_filters(request.args)
    after_id = _after_id(request.args.get("after_id"))
    page = transfer.statement_lines(filters, (request.args.get("after_key", ""), after_id) if after_id else None)
    next_url = None
    if page.after is not None:
        key, last_id = page.after
        next_url = url_for("payments_admin.manual_lines", **filters.query_args(), after_key=key, after_id=last_id)
    return render_template("payments/admin/manual.html", filters=filters, page=page, next_url=next_url,
                           statuses={status: LINE_STATUS_LABELS[status] for status in transfer.LIST_STATUSES},
                           sorts={name: spec[0] for name, spec in transfer.LINE_SORTS.items()},
                           paged=bool(after_id))


@bp.get("/bank/lines/<int:line_id>")
@staff_required(Role.FINANCE)
@refusals_flashed(back=lambda line_id: url_for("payments_admin.line", line_id=line_id))
def line(line_id: int):
    """One line: what the bank says, why it waits, and the two ways to resolve it. `?order_no=` shows what matching
    it to that order would meet before anything is done."""
    order_no = request.args.get("order_no", "")
    candidate = transfer.match_candidate(line_id, order_no) if order_no.strip() else None
    return render_template("payments/admin/line.html", line=transfer.statement_line(line_id), candidate=candidate,
                           outcomes=transfer.ASIDE_OUTCOMES)


@bp.post("/bank/lines/<int:line_id>/match")
@staff_required(Role.FINANCE)
@refusals_flashed(back=line_page)
@fresh_totp_required
def match_line(line_id: int):
    """Match the line to an order by hand: the order is paid as the matching job would pay it."""
    line = transfer.match_line_by_hand(g.staff.id, line_id, request.form.get("order_no", ""),
                                       request.form.get("note", ""), client_ip())
    if line.group is not None:
        flash(f"流水{line.bank_txn_id}已匹配批量续期{line.group.group_no}，其中受理单已全部确认收款", "ok")
    else:
        flash(f"流水{line.bank_txn_id}已匹配受理单{line.order.order_no}，受理单已确认收款", "ok")
    return redirect(url_for("payments_admin.manual_lines"))


@bp.post("/bank/lines/<int:line_id>/aside")
@staff_required(Role.FINANCE)
@refusals_flashed(back=line_page)
@fresh_totp_required
def set_line_aside(line_id: int):
    """Resolve the line without paying an order: 退回付款人 or 非本系统款项, with a reason."""
    line = transfer.set_line_aside(g.staff.id, line_id, request.form.get("outcome", ""),
                                   request.form.get("note", ""), client_ip())
    flash(f"流水{line.bank_txn_id}已标记为“{line.status_label}”", "ok")
    return redirect(url_for("payments_admin.manual_lines"))


# --- refunds --------------------------------------------------------------------------------------------------


@bp.get("/refunds")
@staff_required(Role.FINANCE)
def refunds():
    """退款: corporate-transfer refunds to pay back by bank transfer; WeChat refunds still open (read only); the
    manual refunds completed."""
    tab = request.args.get("tab") if request.args.get("tab") in service.REFUND_TABS else "manual"
    page = service.refund_queue(tab, _after_id(request.args.get("after_id")))
    next_url = url_for("payments_admin.refunds", tab=tab, after_id=page.after) if page.after else None
    return render_template("payments/admin/refunds.html", tab=tab, tabs=REFUND_TAB_LABELS, page=page,
                           next_url=next_url)


@bp.post("/refunds/<int:refund_id>/complete")
@staff_required(Role.FINANCE)
@refusals_flashed(back=refunds_page)
@fresh_totp_required
def complete_refund(refund_id: int):
    """已退款: finance transferred the money back; the bank's reference of that transfer completes the refund."""
    refund = service.complete_manual_refund(g.staff.id, refund_id, request.form.get("bank_reference", ""),
                                            client_ip())
    flash(f"退款{refund.out_refund_no}已完成（银行交易流水号{refund.bank_reference}），受理单已退款", "ok")
    return redirect(refunds_page())
