"""The console's 待审批 pages (DESIGN §15): the queue (what the staff member may decide now and, apart but never
hidden, the pending requests of their roles they cannot decide now, with who must act), a request's page (the
summary shown before deciding, the steps and decisions so far, the approve and reject forms carrying a one-time
nonce), and the two decisions, each asking for a fresh TOTP code."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from wxbackend.approvals import service
from wxbackend.approvals.models import ApprovalStatus, Verdict
from wxbackend.staff.models import Role
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import fresh_totp_required, staff_required

bp = Blueprint("approvals_admin", __name__, url_prefix="/admin", template_folder="../templates")
DECIDERS = (Role.FINANCE, Role.ADMIN, Role.AUDITOR)


def waiting_for_me() -> int:
    return service.count_decidable(g.staff.id)


QUEUES = (ConsoleQueue("待审批", "approvals_admin.queue", DECIDERS, waiting_for_me),)


def client_ip() -> str:
    return request.remote_addr or ""


def detail_page(request_id: int) -> str:
    return url_for("approvals_admin.detail", request_id=request_id)


@bp.get("/approvals")
@staff_required(*DECIDERS)
def queue():
    mine, mine_next = service.queue(g.staff.id, "mine", request.args.get("after"))
    others, others_next = service.queue(g.staff.id, "others", request.args.get("others_after"))
    return render_template(
        "approvals/queue.html", mine=mine, others=others,
        mine_next=url_for("approvals_admin.queue", after=mine_next) if mine_next else None,
        others_next=url_for("approvals_admin.queue", others_after=others_next) if others_next else None)


@bp.get("/approvals/<int:request_id>")
@staff_required(*DECIDERS)
def detail(request_id: int):
    """The summary of what will happen, the steps so far and, for someone who may decide now, the forms (with a
    nonce issued for this request, step and person)."""
    approval = service.get_request(request_id)
    why_not = service.why_not(approval, g.staff)
    names = service.staff_names([approval.created_by_staff_id] + [d.staff_id for d in approval.decisions])
    return render_template(
        "approvals/detail.html", approval=approval, steps=service.steps_of(approval), why_not=why_not,
        nonce=service.issue_nonce(approval.id, g.staff.id) if why_not is None else None,
        kind_label=service.kind_label(approval.kind), creator=service.creator_name(approval, names),
        must_act=service.must_act(approval, names), stale=service.is_stale(approval),
        fields=(approval.payload or {}).get("fields") or {})


def decided(approval) -> None:
    if approval.status == ApprovalStatus.APPROVED:
        flash("审批通过，已执行申请的操作", "ok")
    elif approval.status == ApprovalStatus.REJECTED:
        flash("已驳回该申请", "ok")
    elif approval.status == ApprovalStatus.VOIDED:
        flash(f"该申请已作废：{approval.closing_note}", "error")
    else:
        flash(f"已批准第{approval.current_step}步，等待下一步审批", "ok")


@bp.post("/approvals/<int:request_id>/approve")
@staff_required(*DECIDERS)
@refusals_flashed(back=detail_page, answered=(service.NonceRefused,))
@fresh_totp_required
def approve(request_id: int):
    decided(service.decide(request_id, g.staff.id, Verdict.APPROVE, request.form.get("nonce", ""),
                           reason=request.form.get("reason", ""), ip=client_ip()))
    return redirect(detail_page(request_id))


@bp.post("/approvals/<int:request_id>/reject")
@staff_required(*DECIDERS)
@refusals_flashed(back=detail_page, answered=(service.NonceRefused,))
@fresh_totp_required
def reject(request_id: int):
    decided(service.decide(request_id, g.staff.id, Verdict.REJECT, request.form.get("nonce", ""),
                           reason=request.form.get("reason", ""), fields=request.form.getlist("fields"),
                           ip=client_ip()))
    return redirect(detail_page(request_id))
