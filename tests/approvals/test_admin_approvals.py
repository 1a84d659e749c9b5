"""Decisions with four eyes (DESIGN §15) and refunds staff start from the console: up to the threshold at once, above
it 财务 then 管理员, nobody deciding their own request or two steps of one; one-time nonces against replay; a new
revision voids pending decisions; roles checked at the edge; every decision and refusal audited. Real PostgreSQL
and Redis, the fake WeChat Pay gateway."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.factories import pending_order
from tests.support.staff import make_staff, sign_in_staff
from tests.support.wechatpay import deliver
from wxbackend.approvals import service as approvals
from wxbackend.approvals.models import ApprovalDecision, ApprovalRequest
from wxbackend.audit.models import AuditLog
from wxbackend.core.errors import Conflict
from wxbackend.core.validation import InvalidFields
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.orders.service import mark_paid
from wxbackend.payments import staff_refunds
from wxbackend.payments.models import Payment, Refund
from wxbackend.payments.service import refund_order, start_wechat_payment

REFUNDS = "POST /v3/refund/domestic/refunds"


# --- helpers ---------------------------------------------------------------------------------------------------


def paid_order(app, wechatpay, db_session, years: int = 1) -> Order:
    """An order paid through WeChat Pay as the phone pays it (300.00 元 per year): 待制证."""
    order = pending_order(years=years)
    start_wechat_payment(order.user_id, order.id, "jsapi")
    payment = db_session.scalar(sa.select(Payment).where(Payment.order_id == order.id))
    assert deliver(app.test_client(), wechatpay.pay(payment.out_trade_no)).status_code == 204
    db_session.expire_all()
    assert db_session.get(Order, order.id).status == OrderStatus.READY_TO_WRITE
    return order


class Console:
    """A staff member signed in to the console in a browser of their own."""

    def __init__(self, app, username: str, *roles: str):
        self.staff = make_staff(username, *roles)
        self.id = self.staff.id
        self.client = app.test_client()
        self.csrf = sign_in_staff(self.client, self.staff)

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf
        return self.client.post(path, data=data, **kw)

    def nonce(self, request_id: int) -> str:
        """The nonce of the decision forms on the request's page, as rendered for this person now."""
        page = self.get(f"/admin/approvals/{request_id}").text
        assert 'name="nonce"' in page, page
        return page.split('name="nonce" value="')[1].split('"')[0]

    def approve(self, request_id: int, nonce: str | None = None, **kw):
        nonce = self.nonce(request_id) if nonce is None else nonce
        return self.post(f"/admin/approvals/{request_id}/approve", {"nonce": nonce}, **kw)

    def reject(self, request_id: int, reason: str, nonce: str | None = None, **kw):
        nonce = self.nonce(request_id) if nonce is None else nonce
        return self.post(f"/admin/approvals/{request_id}/reject", {"nonce": nonce, "reason": reason}, **kw)


def request_refund(console: Console, order: Order, reason: str = "客户重复缴费", **kw):
    return console.post(f"/admin/orders/{order.id}/refund", {"reason": reason}, **kw)


def approval_of(db_session, order: Order) -> ApprovalRequest:
    db_session.expire_all()
    return db_session.scalar(sa.select(ApprovalRequest).where(ApprovalRequest.object_id == order.id)
                             .order_by(ApprovalRequest.id.desc()))


def refund_asked(app, wechatpay, db_session):
    """A paid 2-year order (above the threshold) whose refund one finance user asked for, and the three desks:
    (order, its approval request, (the asking finance user, another finance user, an admin))."""
    order = paid_order(app, wechatpay, db_session, years=2)
    creator, reviewer = Console(app, "chuangjian", "finance"), Console(app, "fuhe", "finance")
    admin = Console(app, "guanli", "admin")
    request_refund(creator, order)
    return order, approval_of(db_session, order), (creator, reviewer, admin)


def status_of(db_session, order: Order) -> str:
    db_session.expire_all()
    return db_session.get(Order, order.id).status


def audits(db_session, action: str, result: str | None = None) -> list[AuditLog]:
    db_session.expire_all()
    query = sa.select(AuditLog).where(AuditLog.action == action)
    if result is not None:
        query = query.where(AuditLog.result == result)
    return list(db_session.scalars(query.order_by(AuditLog.id)))


def refusal_reasons(db_session, action: str) -> list[str]:
    return [row.detail.get("why") for row in audits(db_session, action, "refused")]


# --- refunds up to the threshold --------------------------------------------------------------------------------


def test_a_refund_up_to_the_threshold_is_made_at_once(app, wechatpay, db_session):
    order = paid_order(app, wechatpay, db_session)  # 300.00 元 ≤ 500.00 元
    finance = Console(app, "cai", "finance")
    page = finance.get(f"/admin/orders/{order.id}/refund").text
    for shown in (order.order_no, "广州某某科技有限公司", "300.00 元", "微信支付", "确认退款"):
        assert shown in page
    done = request_refund(finance, order, "客户重复缴费", follow_redirects=True)
    assert "已发起退款，款项将原路退回" in done.text
    assert wechatpay.calls()[REFUNDS] == 1  # the gateway was asked to pay it back
    assert status_of(db_session, order) == OrderStatus.REFUNDING
    refund = db_session.scalar(sa.select(Refund).where(Refund.order_id == order.id))
    assert (refund.actor, refund.reason, refund.amount_fen) == (f"staff:{finance.id}", "客户重复缴费", 30000)
    assert db_session.scalar(sa.select(sa.func.count(ApprovalRequest.id))) == 0
    [row] = audits(db_session, "order.staff_refund")
    assert row.actor == f"staff:{finance.id}" and row.detail["before"] == {"status": "ready_to_write"}
    assert len(audits(db_session, "order.refund_requested")) == 1


def test_refund_refusals_change_nothing(app, wechatpay, db_session):
    finance = Console(app, "cai", "finance")
    unpaid = pending_order()
    page = finance.get(f"/admin/orders/{unpaid.id}/refund").text
    assert "受理单当前为“待支付”，不能退款" in page and 'id="refund-form"' not in page
    refused = request_refund(finance, unpaid, follow_redirects=True)
    assert "不能退款" in refused.text
    order = paid_order(app, wechatpay, db_session)
    assert "请填写退款原因" in request_refund(finance, order, "  ", follow_redirects=True).text
    assert "退款原因最多80个字" in request_refund(finance, order, "长" * 81, follow_redirects=True).text
    assert status_of(db_session, order) == OrderStatus.READY_TO_WRITE and wechatpay.calls().get(REFUNDS, 0) == 0
    assert finance.get("/admin/orders/refund?order_no=" + order.order_no).headers["Location"].endswith(
        f"/admin/orders/{order.id}/refund")
    assert "没有找到该受理单号" in finance.get("/admin/orders/refund?order_no=R000", follow_redirects=True).text


# --- above the threshold: 财务, then 管理员 -----------------------------------------------------------------------


def test_above_the_threshold_finance_then_admin_approve_and_the_refund_is_made(app, wechatpay, db_session):
    order = paid_order(app, wechatpay, db_session, years=2)  # 600.00 元 > 500.00 元
    creator = Console(app, "chuangjian", "finance")
    second = Console(app, "fuhe", "finance", "admin")  # could decide either step, but only one of them
    finance_only = Console(app, "caiwu", "finance")
    admin = Console(app, "guanli", "admin")
    assert "须由另一位财务和一位管理员依次审批" in creator.get(f"/admin/orders/{order.id}/refund").text

    started = request_refund(creator, order)
    approval = approval_of(db_session, order)
    assert started.headers["Location"].endswith(f"/admin/approvals/{approval.id}")
    assert (approval.status, approval.current_step, approval.kind, approval.revision) == (
        "pending", 0, "refund", staff_refunds.order_revision(order.id))
    assert [s["roles"] for s in approval.steps] == [["finance"], ["admin"]]
    assert "600.00 元" in approval.summary and approval.payload["amount_fen"] == 60000
    assert wechatpay.calls().get(REFUNDS, 0) == 0 and status_of(db_session, order) == OrderStatus.READY_TO_WRITE
    assert "已有待审批的退款申请" in request_refund(second, order, follow_redirects=True).text  # one open request
    assert refusal_reasons(db_session, "order.staff_refund") == ["approval_pending"]

    # the creator sees the request, never hidden, but cannot decide it; a hand-made form is refused
    page = creator.get(f"/admin/approvals/{approval.id}").text
    assert "不能审批自己提交的申请" in page and 'id="approve-form"' not in page and "600.00 元" in page
    queue = creator.get("/admin/approvals").text
    assert 'id="mine-empty"' in queue and f'data-approval="{approval.id}"' in queue.split('id="others"')[1]
    forged = creator.approve(approval.id, nonce=approvals.issue_nonce(approval.id, creator.id), follow_redirects=True)
    assert "不能审批自己提交的申请" in forged.text

    # step 1: another 财务
    assert f'data-approval="{approval.id}"' in second.get("/admin/approvals").text.split('id="others"')[0]
    assert "待审批<span class=\"count\">1</span>" in second.get("/admin/").text
    assert "已批准第1步" in second.approve(approval.id, follow_redirects=True).text
    db_session.expire_all()
    assert approval_of(db_session, order).current_step == 1 and wechatpay.calls().get(REFUNDS, 0) == 0

    # the same person may not decide step 2, even holding 管理员; nor may a 财务 without it
    page = second.get(f"/admin/approvals/{approval.id}").text
    assert "您已审批过本申请的第1步" in page and 'id="approve-form"' not in page
    assert "不能是chuangjian、fuhe" in page  # who must act, and who may not
    refused = second.approve(approval.id, nonce=approvals.issue_nonce(approval.id, second.id), follow_redirects=True)
    assert "同一申请的其他步骤须由他人审批" in refused.text
    refused = finance_only.approve(approval.id, nonce=approvals.issue_nonce(approval.id, finance_only.id),
                                   follow_redirects=True)
    assert "须由管理员审批" in refused.text
    assert approval_of(db_session, order).current_step == 1 and wechatpay.calls().get(REFUNDS, 0) == 0

    # step 2: a 管理员 — the request is approved and the refund made through the same service
    assert "审批通过" in admin.approve(approval.id, follow_redirects=True).text
    approval = approval_of(db_session, order)
    assert approval.status == "approved" and approval.decided_at is not None
    assert [(d.step, d.staff_id, d.verdict) for d in approval.decisions] == [(0, second.id, "approve"),
                                                                             (1, admin.id, "approve")]
    assert wechatpay.calls()[REFUNDS] == 1 and status_of(db_session, order) == OrderStatus.REFUNDING
    refund = db_session.scalar(sa.select(Refund).where(Refund.order_id == order.id))
    assert (refund.actor, refund.amount_fen, refund.reason) == (f"staff:{admin.id}", 60000, "客户重复缴费")
    assert "已批准" in admin.get(f"/admin/approvals/{approval.id}").text

    assert [r.actor for r in audits(db_session, "approval.approve", "ok")] == [f"staff:{second.id}",
                                                                               f"staff:{admin.id}"]
    assert refusal_reasons(db_session, "approval.approve") == ["own_request", "second_step", "step_role"]
    assert len(audits(db_session, "approval.submit")) == 1
    assert len(audits(db_session, "staff.forbidden")) == 0  # they may see the queue; the step refused them


def test_one_rejection_with_a_reason_rejects_the_request_and_nothing_is_refunded(app, wechatpay, db_session):
    order, approval, (creator, reviewer, admin) = refund_asked(app, wechatpay, db_session)
    assert "驳回须填写原因" in reviewer.reject(approval.id, "  ", follow_redirects=True).text
    assert approval_of(db_session, order).status == "pending"
    assert "已驳回该申请" in reviewer.reject(approval.id, "客户未申请退款", follow_redirects=True).text
    approval = approval_of(db_session, order)
    assert approval.status == "rejected" and approval.current_roles == ""
    [decision] = approval.decisions
    assert (decision.staff_id, decision.verdict, decision.reason, decision.step) == (reviewer.id, "reject",
                                                                                     "客户未申请退款", 0)
    page = admin.get(f"/admin/approvals/{approval.id}").text
    assert "已驳回" in page and 'id="approve-form"' not in page
    late = admin.approve(approval.id, nonce=approvals.issue_nonce(approval.id, admin.id), follow_redirects=True)
    assert "不能再审批" in late.text
    assert wechatpay.calls().get(REFUNDS, 0) == 0 and status_of(db_session, order) == OrderStatus.READY_TO_WRITE
    assert db_session.scalar(sa.select(sa.func.count(Refund.id))) == 0
    assert refusal_reasons(db_session, "approval.reject") == ["invalid_fields"]
    assert refusal_reasons(db_session, "approval.approve") == ["approval_closed"]
    assert [r.detail["reason"] for r in audits(db_session, "approval.reject", "ok")] == ["客户未申请退款"]
    # the order can be refunded again later: a new request is allowed once the old one is closed
    request_refund(creator, order, "客户再次申请")
    assert approval_of(db_session, order).status == "pending"


def test_when_the_refund_fails_at_the_last_step_the_decision_does_not_stand(app, wechatpay, db_session):
    order, approval, (creator, reviewer, admin) = refund_asked(app, wechatpay, db_session)
    reviewer.approve(approval.id)
    wechatpay.fail("/v3/refund/domestic/refunds", 500, "SYSTEM_ERROR")
    failed = admin.approve(approval.id, follow_redirects=True)
    assert "外部服务暂时不可用" in failed.text
    approval = approval_of(db_session, order)
    assert (approval.status, approval.current_step, len(approval.decisions)) == ("pending", 1, 1)
    assert status_of(db_session, order) == OrderStatus.READY_TO_WRITE
    assert db_session.scalar(sa.select(sa.func.count(Refund.id))) == 0
    assert refusal_reasons(db_session, "approval.approve") == ["upstream_error"]
    assert "审批通过" in admin.approve(approval.id, follow_redirects=True).text  # asked again: it goes through
    assert status_of(db_session, order) == OrderStatus.REFUNDING


# --- the one-time nonce -----------------------------------------------------------------------------------------


def test_a_replayed_nonce_is_refused(app, wechatpay, db_session):
    order = paid_order(app, wechatpay, db_session, years=2)
    creator, reviewer = Console(app, "chuangjian", "finance"), Console(app, "fuhe", "finance")
    other = Console(app, "lingyi", "finance")
    request_refund(creator, order)
    approval = approval_of(db_session, order)
    nonce = reviewer.nonce(approval.id)
    assert reviewer.approve(approval.id, nonce=nonce).status_code == 302
    replayed = reviewer.approve(approval.id, nonce=nonce)
    assert replayed.status_code == 409 and "已提交过或已过期" in replayed.text
    # a nonce rendered for someone else (or another step) is no good either, and is spent by the attempt
    stolen = approvals.issue_nonce(approval.id, reviewer.id)
    assert other.approve(approval.id, nonce=stolen).status_code == 409
    assert other.approve(approval.id, nonce="made-up").status_code == 409
    approval = approval_of(db_session, order)
    assert (approval.status, approval.current_step, len(approval.decisions)) == ("pending", 1, 1)
    assert refusal_reasons(db_session, "approval.approve") == ["nonce_refused", "nonce_mismatch", "nonce_refused"]


def test_a_decision_without_a_nonce_or_without_the_console_csrf_token_is_refused(app, wechatpay, db_session):
    order = paid_order(app, wechatpay, db_session, years=2)
    creator, reviewer = Console(app, "chuangjian", "finance"), Console(app, "fuhe", "finance")
    request_refund(creator, order)
    approval = approval_of(db_session, order)
    missing = reviewer.post(f"/admin/approvals/{approval.id}/approve", {})
    assert missing.status_code == 400 and "缺少一次性审批令牌" in missing.text
    nonce = reviewer.nonce(approval.id)
    no_csrf = reviewer.post(f"/admin/approvals/{approval.id}/approve", {"nonce": nonce}, csrf=False)
    assert no_csrf.status_code == 400
    assert approval_of(db_session, order).decisions == []
    assert refusal_reasons(db_session, "approval.approve") == ["nonce_missing"]
    assert len(audits(db_session, "staff.csrf_refused", "refused")) == 1
    assert reviewer.approve(approval.id, nonce=nonce).status_code == 302  # the nonce was never spent


def test_deciding_asks_for_a_fresh_totp_code(app, wechatpay, db_session, monkeypatch):
    order = paid_order(app, wechatpay, db_session, years=2)
    creator, reviewer = Console(app, "chuangjian", "finance"), Console(app, "fuhe", "finance")
    request_refund(creator, order)
    approval = approval_of(db_session, order)
    monkeypatch.setitem(app.config, "STAFF_FRESH_TOTP_MINUTES", 0)
    nonce = reviewer.nonce(approval.id)
    assert 'name="totp_code"' in reviewer.get(f"/admin/approvals/{approval.id}").text
    assert reviewer.approve(approval.id, nonce=nonce).status_code == 428
    done = reviewer.post(f"/admin/approvals/{approval.id}/approve",
                         {"nonce": nonce, "totp_code": reviewer.staff.next_code()})
    assert done.status_code == 302 and approval_of(db_session, order).current_step == 1


# --- revisions --------------------------------------------------------------------------------------------------


def test_a_new_revision_voids_pending_decisions(app, wechatpay, db_session):
    order = paid_order(app, wechatpay, db_session, years=2)
    creator, reviewer = make_staff("chuangjian", "finance"), make_staff("fuhe", "finance")
    first = staff_refunds.start_refund(creator.id, order.id, "客户重复缴费")
    approvals.decide(first.id, reviewer.id, "approve", approvals.issue_nonce(first.id, reviewer.id))
    assert first.current_step == 1
    with pytest.raises(Conflict, match="approval_pending"):  # the same revision again
        approvals.submit("refund", order.id, first.revision, "再来一次", {}, staff_refunds.REFUND_STEPS,
                         f"staff:{creator.id}")
    second = approvals.submit("refund", order.id, first.revision + 1, "第二版", first.payload,
                              staff_refunds.REFUND_STEPS, f"staff:{creator.id}")
    assert (first.status, second.status, second.current_step) == ("voided", "pending", 0)
    assert "第" in first.closing_note and first.decided_at is not None
    assert approvals.void_pending("order", order.id, "受理单已修改", actor=f"staff:{creator.id}") == 1
    assert (second.status, second.closing_note) == ("voided", "受理单已修改")
    assert approvals.void_pending("order", order.id, "再次修改") == 0
    with pytest.raises(Conflict, match="approval_closed"):
        approvals.decide(second.id, reviewer.id, "approve", approvals.issue_nonce(second.id, reviewer.id))
    assert [r.detail["why"] for r in audits(db_session, "approval.void")] == [
        f"已提交第{first.revision + 1}版，原申请作废", "受理单已修改"]
    assert wechatpay.calls().get(REFUNDS, 0) == 0


def test_an_order_that_changed_after_the_request_voids_it_instead_of_refunding(app, wechatpay, db_session):
    order, approval, (creator, reviewer, admin) = refund_asked(app, wechatpay, db_session)
    reviewer.approve(approval.id)
    refund_order(order.user_id, order.id, f"user:{order.user_id}", "用户撤销")  # the user cancelled meanwhile
    db_session.commit()
    assert "审批时该申请将作废" in admin.get(f"/admin/approvals/{approval.id}").text
    voided = admin.approve(approval.id, follow_redirects=True)
    assert "该申请已作废" in voided.text and "所涉对象已变化" in voided.text
    approval = approval_of(db_session, order)
    assert approval.status == "voided" and len(approval.decisions) == 1
    assert wechatpay.calls()[REFUNDS] == 1  # the user's refund only


# --- the queue --------------------------------------------------------------------------------------------------


def test_the_queue_pages_by_keyset_and_never_hides_pending_work(app, wechatpay, db_session):
    creator, reviewer = make_staff("chuangjian", "finance"), make_staff("fuhe", "finance")
    auditor = make_staff("shenhe", "auditor")
    orders = []
    for _ in range(3):
        order = pending_order(years=2)
        assert mark_paid(order.id, "transfer", "bank")
        orders.append(order)
    made = [staff_refunds.start_refund(creator.id, order.id, "退回多付款项") for order in orders]
    page, cursor = approvals.queue(reviewer.id, "mine", limit=2)
    assert [row.request.id for row in page] == [made[0].id, made[1].id] and cursor
    rest, end = approvals.queue(reviewer.id, "mine", after=cursor, limit=2)
    assert [row.request.id for row in rest] == [made[2].id] and end is None
    assert approvals.count_decidable(reviewer.id) == 3 and approvals.count_decidable(creator.id) == 0
    theirs, _ = approvals.queue(creator.id, "others")
    assert [row.request.id for row in theirs] == [m.id for m in made]
    assert theirs[0].must_act == "第1步「财务审批」：须由财务审批（不能是chuangjian）"
    assert approvals.queue(auditor.id, "mine")[0] == [] and approvals.queue(auditor.id, "others")[0] == []
    approvals.decide(made[0].id, reviewer.id, "approve", approvals.issue_nonce(made[0].id, reviewer.id))
    assert approvals.count_decidable(reviewer.id) == 2
    waiting, _ = approvals.queue(reviewer.id, "others")  # decided step 1: still in view, with who acts next
    assert [row.request.id for row in waiting] == [made[0].id]
    assert waiting[0].must_act.startswith("第2步「管理员审批」：须由管理员审批")


def test_a_rejection_may_name_fields_of_the_request(app, db_session, monkeypatch):
    """The reviewed flows will name what to correct; a kind registered like create_app does it."""
    kind = approvals.ApprovalKind(name="review", label="资料审核", object_type="thing", lock=lambda _id: None,
                                  revision=lambda _id: 1, approved=lambda request: None)
    monkeypatch.setitem(app.extensions[approvals.KINDS], "review", kind)
    maker, auditor = make_staff("tijiao", "support"), make_staff("shenhe", "auditor")
    request = approvals.submit("review", 7, 1, "审核资料", {"fields": {"licence": "营业执照", "form": "申请表"}},
                               [approvals.Step("审核", ("auditor",))], f"staff:{maker.id}")
    with pytest.raises(InvalidFields):
        approvals.decide(request.id, auditor.id, "reject", approvals.issue_nonce(request.id, auditor.id),
                         reason="看不清", fields=["id_number"])
    approvals.decide(request.id, auditor.id, "reject", approvals.issue_nonce(request.id, auditor.id),
                     reason="营业执照不清晰", fields=["licence"])
    [decision] = db_session.scalars(sa.select(ApprovalDecision).where(ApprovalDecision.request_id == request.id))
    assert (request.status, decision.fields, decision.reason) == ("rejected", ["licence"], "营业执照不清晰")


# --- roles ------------------------------------------------------------------------------------------------------


def test_roles_without_access_get_403(app, wechatpay, db_session):
    order = paid_order(app, wechatpay, db_session, years=2)
    creator = Console(app, "chuangjian", "finance")
    request_refund(creator, order)
    approval = approval_of(db_session, order)
    for roles in (("support",), ("maker",)):
        person = Console(app, f"x{roles[0]}", *roles)
        nonce = approvals.issue_nonce(approval.id, person.id)
        assert person.get("/admin/approvals").status_code == 403
        assert person.get(f"/admin/approvals/{approval.id}").status_code == 403
        assert person.post(f"/admin/approvals/{approval.id}/approve", {"nonce": nonce}).status_code == 403
        assert person.post(f"/admin/approvals/{approval.id}/reject", {"nonce": nonce, "reason": "x"}).status_code == 403
        assert person.get(f"/admin/orders/{order.id}/refund").status_code == 403
        assert person.post(f"/admin/orders/{order.id}/refund", {"reason": "x"}).status_code == 403
        assert "待审批" not in person.get("/admin/").text
    auditor = Console(app, "shenhe", "auditor")  # sees the queue (for the reviewed flows), starts no refund
    assert auditor.get("/admin/approvals").status_code == 200
    assert "须由财务审批" in auditor.get(f"/admin/approvals/{approval.id}").text
    assert auditor.post(f"/admin/orders/{order.id}/refund", {"reason": "x"}).status_code == 403
    assert len(audits(db_session, "staff.forbidden", "refused")) == 13
    assert approval_of(db_session, order).decisions == [] and wechatpay.calls().get(REFUNDS, 0) == 0
