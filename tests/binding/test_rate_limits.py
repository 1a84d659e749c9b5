"""Flask-Limiter on the PC's binding and renewal starts and the phone's claims: a Chinese 429, nothing written."""

import sqlalchemy as sa

from wxbackend.audit.models import AuditLog

TOO_MANY = {"code": "too_many_requests", "message": "操作过于频繁，请稍后再试"}


def audited(db_session, action: str) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == action))


def test_the_31st_bind_start_from_one_address_is_429_and_audits_nothing(app, pc, demo_key, db_session):
    pem = demo_key.certificate.pem
    for _ in range(30):
        assert pc.post("/pc/api/bind/start", json={"certificate": pem}).status_code == 200
    refused = pc.post("/pc/api/bind/start", json={"certificate": pem})
    assert refused.status_code == 429 and refused.json == TOO_MANY
    assert audited(db_session, "binding.start") == 30
    # another address is not held back
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.30"
    assert other.post("/pc/api/bind/start", json={"certificate": pem}).status_code == 200
    assert audited(db_session, "binding.start") == 31


def test_renew_start_and_bind_code_are_limited_too(app, pc, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "PC_START_LIMIT", "2 per 15 minutes")
    monkeypatch.setitem(app.config, "PC_SIGNATURE_LIMIT", "2 per 15 minutes")
    body = {"certificate": "x", "key_ids": [], "order_no": "x"}
    statuses = [pc.post("/pc/api/renew/start", json=body).status_code for _ in range(3)]
    assert statuses[:2] != [429, 429] and statuses[2] == 429
    codes = [pc.post("/pc/api/bind/code", json={"ticket_id": "x" * 20, "signature": "AAAA"}) for _ in range(3)]
    assert [c.status_code for c in codes][2] == 429 and codes[2].json == TOO_MANY


def test_binding_claims_are_limited_per_address(app, db_session, monkeypatch):
    from tests.support.flows import phone_claim, sign_in

    monkeypatch.setitem(app.config, "BIND_CLAIM_LIMIT", "2 per 15 minutes")
    phone = app.test_client()
    csrf = sign_in(phone, "张三")
    assert [phone_claim(phone, csrf, "12345678", "abcd").status_code for _ in range(2)] == [400, 400]
    refused = phone_claim(phone, csrf, "12345678", "abcd")
    assert refused.status_code == 429 and refused.json == TOO_MANY
    assert audited(db_session, "binding.claim") == 2
