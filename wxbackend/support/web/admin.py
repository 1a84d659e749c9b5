"""人工客服 in the console (DESIGN §15), for 客服 and 管理员: the queue of conversations waiting for a reply
(oldest first), a conversation with the follower's certificates and orders, replying (a WeChat customer-service
message, sent in this request) and closing."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from wxbackend.core.times import utcnow
from wxbackend.staff.models import Role
from wxbackend.support import service
from wxbackend.support.models import STATUS_LABELS, ConversationStatus
from wxbackend.web.console import ConsoleQueue
from wxbackend.web.refusals import refusals_flashed
from wxbackend.web.staff_session import staff_required

bp = Blueprint("support_admin", __name__, url_prefix="/admin", template_folder="../templates")
ROLES = (Role.SUPPORT, Role.ADMIN)
QUEUES = (ConsoleQueue("人工客服", "support_admin.queue", ROLES, count=service.open_count),)


def conversation_page(conversation_id: int, **_view_args) -> str:
    return url_for("support_admin.conversation", conversation_id=conversation_id)


@bp.get("/support")
@staff_required(*ROLES)
def queue():
    status = request.args.get("status", ConversationStatus.OPEN)
    if status not in STATUS_LABELS:
        status = ConversationStatus.OPEN
    found = service.conversations(status, request.args.get("after"))
    next_url = url_for("support_admin.queue", status=status, after=found.next_cursor) if found.next_cursor else None
    return render_template("support/queue.html", page=found, status=status, statuses=STATUS_LABELS,
                           next_url=next_url, now=utcnow(), window=service.REPLY_WINDOW)


@bp.get("/support/<int:conversation_id>")
@staff_required(*ROLES)
def conversation(conversation_id: int):
    found = service.conversation(conversation_id)
    return render_template("support/conversation.html", conversation=found, thread=service.thread(found),
                           context=service.user_context(found.user_id), window_ends=service.window_ends(found),
                           now=utcnow(), max_bytes=service.MAX_REPLY_BYTES)


@bp.post("/support/<int:conversation_id>/reply")
@staff_required(*ROLES)
@refusals_flashed(back=conversation_page)
def reply(conversation_id: int):
    service.reply(g.staff.id, conversation_id, request.form.get("content"), request.remote_addr or "")
    flash("回复已通过微信客服消息发送", "ok")
    return redirect(conversation_page(conversation_id))


@bp.post("/support/<int:conversation_id>/close")
@staff_required(*ROLES)
@refusals_flashed(back=conversation_page)
def close(conversation_id: int):
    service.close(g.staff.id, conversation_id, request.form.get("note"), request.remote_addr or "")
    flash("会话已关闭", "ok")
    return redirect(url_for("support_admin.queue"))
