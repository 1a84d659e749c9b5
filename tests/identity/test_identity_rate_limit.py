"""身份鉴别认证 is a name/ID oracle that costs money per call: limited per user and per address, in both channels."""

import sqlalchemy as sa

from tests.support.flows import csrf_token, sign_in
from wxbackend.audit.models import AuditLog
from wxbackend.identity.models import IdentityCheck

PERSON = {"name": "李四", "id_number": "11010519491231002X", "mobile": "13812345678", "consent": True}
TOO_MANY = {"code": "too_many_requests", "message": "操作过于频繁，请稍后再试"}


def audited_checks(db_session) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "identity.check"))


def test_the_51st_identity_check_is_429_in_chinese_and_writes_nothing(app, db_session):
    phone = app.test_client()
    csrf = sign_in(phone, "张三")
    for _ in range(50):
        response = phone.post("/api/identity", json=PERSON, headers={"X-CSRFToken": csrf})
        assert response.status_code == 201, response.json
    refused = phone.post("/api/identity", json=PERSON, headers={"X-CSRFToken": csrf})
    assert refused.status_code == 429
    assert refused.json == TOO_MANY
    assert audited_checks(db_session) == 50
    assert db_session.scalar(sa.select(sa.func.count()).select_from(IdentityCheck)) == 50
    # the H5 form spends the same budget: a Chinese page, no check made
    page = phone.post("/h5/identity", data={**PERSON, "consent": "y", "csrf_token": csrf_token(phone)})
    assert page.status_code == 429
    assert "操作过于频繁，请稍后再试" in page.text
    assert audited_checks(db_session) == 50


def test_many_users_on_one_address_meet_the_address_limit(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "IDENTITY_CHECK_LIMIT_PER_IP", "3 per day")
    for i in range(3):
        phone = app.test_client()
        csrf = sign_in(phone, f"用户{i}")
        assert phone.post("/api/identity", json=PERSON, headers={"X-CSRFToken": csrf}).status_code == 201
    fourth = app.test_client()
    csrf = sign_in(fourth, "用户3")
    refused = fourth.post("/api/identity", json=PERSON, headers={"X-CSRFToken": csrf})
    assert refused.status_code == 429 and refused.json == TOO_MANY
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    csrf = sign_in(elsewhere, "别处用户")
    assert elsewhere.post("/api/identity", json=PERSON, headers={"X-CSRFToken": csrf}).status_code == 201
    assert audited_checks(db_session) == 4
