"""What a person types (a reason, a note, a follower's "人工" text) never reaches the audit table verbatim: ID
numbers, 18-character codes, mobiles, 6–8 digit codes and account numbers are masked (issue 18 item 8)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.support.flows import run_jobs
from tests.support.wechat import post_safe, text_xml
from wxbackend.audit.models import AuditLog
from wxbackend.audit.service import record_audit
from wxbackend.core.redaction import redact_text
from wxbackend.support.models import SupportMessage

ID_NUMBER = "11010519491231002X"
SECRETS = (ID_NUMBER, "12345678", "654321", "13812345678", "6222021234567890123", "91440101MA5C3XKX1X")
TYPED = (f"客户来电：身份证{ID_NUMBER}，绑定码 12345678，PIN 654321，手机13812345678，"
         "账号 6222021234567890123，信用代码91440101MA5C3XKX1X")


def stored_rows(db_session) -> list[AuditLog]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(AuditLog).order_by(AuditLog.id)))


def test_free_text_in_an_audit_detail_is_masked_and_identifiers_are_kept(db_session):
    record_audit("staff:1", "approval.reject", target="approval:5",
                 detail={"why": TYPED, "after": {"reason": TYPED, "status": "rejected"},
                         "bank_txn_id": "20250304000123", "amount_fen": 30000, "fields": ["name"]})
    db_session.flush()
    [row] = stored_rows(db_session)
    text = json.dumps(row.detail, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in text, secret
    assert row.detail["why"].startswith(
        "客户来电：身份证110***********002X，绑定码 ********，PIN ******，手机138****5678")
    assert row.detail["after"]["status"] == "rejected"
    assert row.detail["bank_txn_id"] == "20250304000123" and row.detail["amount_fen"] == 30000  # ours, as given


def test_redaction_leaves_ordinary_words_dates_and_hashes_alone():
    assert redact_text("amount_mismatch 2026-12-02 09:30 订单 R2025 共 300 元 ab12345678cd") == (
        "amount_mismatch 2026-12-02 09:30 订单 R2025 共 300 元 ab12345678cd")


def test_a_handover_text_with_an_id_number_is_kept_only_in_the_conversation(client, wechat, db_session):
    wechat.user("oTELLS", unionid="uTELLS")
    response = post_safe(client, text_xml(f"人工 {TYPED}", 4401, openid="oTELLS"))
    assert response.status_code == 200
    run_jobs()
    db_session.expire_all()
    assert [m.content for m in db_session.scalars(sa.select(SupportMessage))] == [f"人工 {TYPED}"]
    rows = stored_rows(db_session)
    assert "wechat.handover" in [row.action for row in rows]
    every_detail = json.dumps([row.detail for row in rows], ensure_ascii=False) + "".join(
        row.target for row in rows)
    for secret in SECRETS:
        assert secret not in every_detail, secret
