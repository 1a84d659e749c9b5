"""An expired demo key all the way: its reviewed application (consent, materials, uploads), payment, a rejection
naming 基本户账号, a corrected revision 2 approved by two other auditors, the 0.01-yuan payout, two wrong codes and
the right one, then the existing PC renewal writes the new certificate onto the key (real helper, SoftHSM2)."""

from __future__ import annotations

import json

import pytest

from tests.renewal.test_renewal import confirm, install, renew_until_issued
from tests.support.applications import ORGANISATION, materials, paid_for_review
from tests.support.factories import bind, make_user
from tests.support.staff import make_staff
from wxbackend.applications import finance, service
from wxbackend.approvals import service as approvals
from wxbackend.orders.models import OrderStatus
from wxbackend.orders.service import create_order


@pytest.fixture
def expired_key(db_session, softhsm_store):
    from wxbackend.demo.service import make_demo_key

    return make_demo_key(organisation=ORGANISATION, expires_in_days=-10, email="it@example.cn")


def decide(request_id, staff, verdict, reason="", fields=()):
    return approvals.decide(request_id, staff.id, verdict, approvals.issue_nonce(request_id, staff.id),
                            reason=reason, fields=fields)


def test_expired_key_is_renewed_after_review_and_financial_verification(
        app, pc, expired_key, start_helper, db_session, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    monkeypatch.setitem(app.config, "BANK_PAYOUT_LOCAL_FILE", str(tmp_path / "payouts.log"))
    helper = start_helper()
    user = make_user("张三")
    bind(user, expired_key.certificate)
    order = create_order(user.id, expired_key.certificate.id, 1)
    assert order.status == OrderStatus.DRAFT
    application = paid_for_review(order)
    first, second, third = (make_staff(n, "auditor") for n in ("e2e_a", "e2e_b", "e2e_c"))
    decide(approvals.pending_request(service.REVIEW_KIND, application.id).id, first, "reject",
           "基本户账号有误", ["bank_account"])
    assert order.status == OrderStatus.REJECTED
    service.save_materials(user.id, application.id, materials(bank_account="6222020000111122223"))
    service.submit(user.id, application.id)
    request = approvals.pending_request(service.REVIEW_KIND, application.id)
    assert request.revision == 2
    decide(request.id, second, "approve")
    decide(request.id, third, "approve")
    assert order.status == OrderStatus.PENDING_FIN_VERIFICATION
    finance.pay(finance.latest(application.id).id)
    [payout] = [json.loads(line) for line in (tmp_path / "payouts.log").read_text(encoding="utf-8").splitlines()]
    assert (payout["amount_fen"], payout["account_number"]) == (1, "6222020000111122223")
    code = payout["remark"][-6:]
    wrong = "000000" if code != "000000" else "111111"
    assert not finance.enter_code(user.id, application.id, wrong).ok
    assert not finance.enter_code(user.id, application.id, wrong).ok
    assert finance.enter_code(user.id, application.id, code).ok
    assert order.status == OrderStatus.READY_TO_WRITE
    db_session.commit()

    started, issued = renew_until_issued(pc, helper)
    assert started["order"]["order_no"] == order.order_no
    written = install(helper, issued)
    assert written.status_code == 200, written.text
    done = confirm(pc, issued, written.json()["signature"])
    assert done.status_code == 200, done.json
    db_session.refresh(order)
    assert order.status == OrderStatus.COMPLETED
