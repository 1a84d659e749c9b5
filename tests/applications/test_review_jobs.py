"""What the review's decisions send through the job queue (rq on the test Redis): the audit_result notice to the
user, and the 0.01-yuan payout through the bank gateway fake — run twice, it pays once."""

from __future__ import annotations

import pytest

from tests.support.applications import expired_order, paid_for_review
from tests.support.flows import run_jobs
from tests.support.staff import make_staff
from wxbackend.applications import finance, service
from wxbackend.approvals import service as approvals
from wxbackend.core.jobs import enqueue_now


@pytest.fixture
def stores(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    return tmp_path


def decide(request_id, staff, verdict, reason="", fields=()):
    return approvals.decide(request_id, staff.id, verdict, approvals.issue_nonce(request_id, staff.id),
                            reason=reason, fields=fields)


def test_a_rejection_sends_the_audit_result_notice(db_session, stores, wechat):
    order = expired_order()
    application = paid_for_review(order)
    db_session.commit()
    run_jobs()
    decide(approvals.pending_request(service.REVIEW_KIND, application.id).id, make_staff("j_a", "auditor"),
           "reject", "营业执照不清晰", ["upload_licence"])
    db_session.commit()
    run_jobs()
    [notice] = [m for m in wechat.messages() if m.get("template_id") == "TPL-audit_result"]
    assert order.order_no in str(notice) and "未通过" in str(notice)


def test_approval_pays_once_through_the_bank_gateway_even_when_the_job_runs_twice(
        db_session, stores, wechat, fake_payouts):
    order = expired_order()
    application = paid_for_review(order)
    request = approvals.pending_request(service.REVIEW_KIND, application.id)
    decide(request.id, make_staff("j_b", "auditor"), "approve")
    decide(request.id, make_staff("j_c", "auditor"), "approve")
    db_session.commit()
    verification = finance.latest(application.id)
    enqueue_now(finance.PAYOUT_JOB, verification.id)  # a second copy of the job, as a retry would
    run_jobs()
    db_session.expire_all()
    assert finance.latest(application.id).status == "awaiting_code"
    [payout] = fake_payouts.payouts()
    assert payout["amount_fen"] == 1 and payout["idempotency_key"] == verification.idempotency_key
    assert payout["remark"].startswith("数字证书金融认证码")
    assert finance.pay(verification.id) == "nothing to do"
    assert len(fake_payouts.payouts()) == 1
    [notice] = [m for m in wechat.messages() if m.get("template_id") == "TPL-audit_result"]
    assert "审核通过" in str(notice)


def test_a_failed_payout_makes_the_verification_fail_and_the_user_corrects_the_account(
        db_session, stores, wechat, fake_payouts):
    order = expired_order()
    application = paid_for_review(order)
    request = approvals.pending_request(service.REVIEW_KIND, application.id)
    decide(request.id, make_staff("j_d", "auditor"), "approve")
    decide(request.id, make_staff("j_e", "auditor"), "approve")
    fake_payouts.mode("normal", outcome="failed", reason="账户已销户")
    assert finance.pay(finance.latest(application.id).id) == "failed"
    assert order.status == "fin_verification_failed"
    assert "账户已销户" in finance.latest(application.id).failure_reason
    fake_payouts.mode("normal", outcome="succeeded")
    retried = finance.retry(order.user_id, application.id, "中国银行", "6013820000000000123")
    assert finance.pay(retried.id) == "paid" and order.status == "pending_fin_verification"
