"""The console's code entries after sign-in (re-authentication, enrolment, password change) spend the same per-IP
limit as signing in: a Chinese 429 page, and no audit row for the refused tries."""

import sqlalchemy as sa

from tests.support.staff import make_staff, sign_in_staff
from wxbackend.audit.models import AuditLog


def test_reauth_codes_are_limited_per_address(app, db_session, monkeypatch):
    staff = make_staff("limit_admin", "admin")
    client = app.test_client()
    csrf = sign_in_staff(client, staff)
    monkeypatch.setitem(app.config, "STAFF_SIGN_IN_LIMIT", "2 per 15 minutes")
    before = db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    answers = [client.post("/admin/reauth", data={"csrf_token": csrf, "code": "000000"}) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] != [429, 429]
    assert answers[2].status_code == 429
    assert "操作过于频繁，请稍后再试" in answers[2].text
    audited = db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) - before
    assert audited == 2  # one refusal row per wrong code that was checked, none for the limited one
