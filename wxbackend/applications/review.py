"""The 待审核 review as a four-eyes approval kind ("application_review", registered from create_app): an auditor's
初审 and another's 复审 approve the application's revision; one rejection, naming fields and a reason, sends it
back to the user (未通过). An application's revision is its `revision` number: a resubmission voids a pending
review of an older one. Approving an expired renewal starts the financial verification (金融认证); approving a
replacement revokes the lost certificate and sends the order to 制证中 (`replacement.approved`); both request the
electronic invoice the materials asked for."""

from __future__ import annotations

from wxbackend.applications import finance, replacement, service
from wxbackend.applications.service import OBJECT_TYPE, REVIEW_KIND, get_application, lock_application
from wxbackend.approvals.models import ApprovalRequest
from wxbackend.approvals.service import ApprovalKind, last_decider
from wxbackend.core.errors import Conflict
from wxbackend.notices.service import queue_notice
from wxbackend.orders import transitions
from wxbackend.orders.models import OrderStatus


def _revision(application_id: int) -> int:
    return get_application(application_id).revision


def _waiting(request: ApprovalRequest):
    application = get_application(request.object_id)
    if application.order.status != OrderStatus.PENDING_REVIEW:
        raise Conflict(f"受理单当前为“{application.order.status_label}”，不在待审核状态", code="not_pending_review")
    return application


def approved(request: ApprovalRequest) -> None:
    """Both steps approved: 审核通过, then 待金融认证 with the 0.01-yuan payout queued."""
    application = _waiting(request)
    actor = f"staff:{last_decider(request)}"
    if replacement.is_replacement(application):
        replacement.approved(application, actor)
    else:
        order = application.order
        transitions.move(order, OrderStatus.APPROVED, actor, f"申请资料（第{request.revision}版）审核通过")
        queue_notice(application.user_id, "audit_result", {"order_no": order.order_no,
                                                           "result": "审核通过，等待金融认证"})
        finance.start_verification(application.id, actor)
    service.request_invoice(application.id)


def rejected(request: ApprovalRequest) -> None:
    """A step rejected: 未通过, the user told what to fix."""
    application = _waiting(request)
    decision = request.decisions[-1]
    labels = service.review_field_labels()
    named = "、".join(labels.get(f, f) for f in decision.fields)
    note = f"审核未通过：{decision.reason}" + (f"（需修改：{named}）" if named else "")
    transitions.move(application.order, OrderStatus.REJECTED, f"staff:{decision.staff_id}", note[:500])
    queue_notice(application.user_id, "audit_result",
                 {"order_no": application.order.order_no, "result": ("未通过：" + decision.reason)[:20]})


REVIEW_APPROVAL = ApprovalKind(name=REVIEW_KIND, label="申请资料审核", object_type=OBJECT_TYPE,
                               lock=lock_application, revision=_revision, approved=approved, rejected=rejected)
