"""审计日志 in the console: filters, keyset paging, the CSV export (UTF-8 with BOM, streamed, capped, audited), read
only for 管理员 and 审核员; and the database keeping the trail append-only: a trigger refusing UPDATE and DELETE, and
`deploy/audit_role.sql` giving the application's role only INSERT and SELECT on it."""

from __future__ import annotations

import csv
import html
import io
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

from tests.conftest import ROOT
from tests.support.staff import make_staff, sign_in_staff
from wxbackend.audit.models import AuditLog
from wxbackend.audit.service import EXPORT_COLUMNS, AuditQuery, audit_csv, record_audit
from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI


def seed(actor: str, action: str, target: str = "", result: str = "ok", at: datetime | None = None,
         detail: dict | None = None) -> AuditLog:
    row = record_audit(actor, action, target=target, result=result, ip="10.0.0.8", detail=detail)
    if at is not None:
        row.created_at = at
    db.session.flush()
    return row


def ids(client, **params) -> list[int]:
    page = client.get("/admin/audit", query_string=params)
    assert page.status_code == 200, page.text
    return [int(n) for n in re.findall(r'<tr data-id="(\d+)"', page.text)]


def audit_rows(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def trail(db_session):
    """Rows of made-up actors (numbers no real staff member has in a test run)."""
    rows = {
        "order15": seed("staff:90003", "order.refund_requested", "order:15", at=shanghai(2026, 2, 1, 9, 0)),
        "order150": seed("staff:90003", "order.personal_data_viewed", "order:150", at=shanghai(2026, 2, 1, 10, 0)),
        "order15x": seed("staff:900030", "order.refunded", "order:15/refund", at=shanghai(2026, 2, 2, 0, 10)),
        "refused": seed("staff:90004", "staff.forbidden", "path:/admin/staff", result="refused",
                        at=shanghai(2026, 2, 3, 12, 0)),
        "user": seed("user:90012", "identity.check", "user:90012", detail={"note": "广州某某科技有限公司"},
                     at=shanghai(2026, 2, 4, 8, 0)),
    }
    db.session.commit()
    return rows


def test_each_filter_finds_the_right_rows_and_only_them(client, db_session, trail):
    sign_in_staff(client, make_staff("shenji", "auditor"))
    r = {name: row.id for name, row in trail.items()}
    assert ids(client, actor="staff:90003") == [r["order150"], r["order15"]]  # exact: not staff:900030
    assert ids(client, target="order:15") == [r["order15"]]  # one object: not order:150 nor order:15/refund
    assert ids(client, target="order:1") == []  # a number is not a prefix of another number
    assert ids(client, target="order:15/") == [r["order15x"]]
    assert ids(client, target="order:") == [r["order15x"], r["order150"], r["order15"]]
    assert ids(client, target="path:/admin/") == [r["refused"]]
    assert ids(client, action="order.") == [r["order15x"], r["order150"], r["order15"]]
    assert ids(client, action="order.personal") == [r["order150"]]
    assert ids(client, action="%") == []  # no wildcards
    assert ids(client, result="refused", actor="staff:90004") == [r["refused"]]
    # times in Asia/Shanghai: "until" includes the minute, a day alone the whole day
    assert ids(client, since="2026-02-01 09:30", until="2026-02-02 00:10") == [r["order15x"], r["order150"]]
    assert ids(client, since="2026-02-02", until="2026-02-02") == [r["order15x"]]
    assert ids(client, since="2026-02-04T08:00", action="identity.") == [r["user"]]
    page = client.get("/admin/audit", query_string={"actor": "user:90012"}).text
    assert "广州某某科技有限公司" in page and "2026-02-04 08:00:00" in page


def test_wrong_filters_are_named_and_search_nothing(client, db_session, trail):
    sign_in_staff(client, make_staff("shenji2", "admin"))
    for params, message in [({"since": "yesterday"}, "时间格式应为"),
                            ({"since": "2026-02-05", "until": "2026-02-01"}, "结束时间不能早于开始时间"),
                            ({"before": "abc"}, "分页位置无效"), ({"actor": "x" * 65}, "操作者最多64个字符")]:
        page = client.get("/admin/audit", query_string=params)
        assert page.status_code == 200 and message in page.text, params
        assert "<tr data-id=" not in page.text
    assert client.get("/admin/audit.csv?since=yesterday", buffered=True).status_code == 400
    assert audit_rows("audit.export") == []


def test_paging_by_id_returns_every_row_exactly_once(client, db_session):
    made = [seed("system:paging", "demo.tick", f"tick:{n}").id for n in range(120)]
    db.session.commit()
    sign_in_staff(client, make_staff("shenji3", "auditor"))
    seen, sizes, path = [], [], "/admin/audit?actor=system:paging"
    while path:
        page = client.get(path).text
        numbers = [int(n) for n in re.findall(r'<tr data-id="(\d+)"', page)]
        seen += numbers
        sizes.append(len(numbers))
        link = re.search(r'id="next-page" href="([^"]+)"', page)
        path = html.unescape(link[1]) if link else None
    assert seen == sorted(made, reverse=True) and sizes == [50, 50, 20]


def read_csv(response) -> list[list[str]]:
    assert response.data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def test_the_csv_export_has_the_filtered_rows_with_chinese_intact_and_is_audited(client, db_session, trail):
    seed("user:90012", "=HYPERLINK(\"http://evil\")", "user:90012")  # a cell a spreadsheet would run
    db.session.commit()
    auditor = make_staff("shenji4", "auditor")
    sign_in_staff(client, auditor)
    page = client.get("/admin/audit?actor=user:90012").text
    assert 'href="/admin/audit.csv?actor=user:90012"' in html.unescape(page)
    response = client.get("/admin/audit.csv?actor=user:90012", buffered=True)  # read inside the request's context
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=\"audit-")
    header, *rows = read_csv(response)
    assert tuple(header) == EXPORT_COLUMNS
    assert [row[3] for row in rows] == ["'=HYPERLINK(\"http://evil\")", "identity.check"]
    identity = rows[1]
    assert identity[0] == str(trail["user"].id) and identity[1] == "2026-02-04 08:00:00"
    assert identity[2] == "user:90012" and identity[4] == "user:90012" and identity[5] == "ok"
    assert identity[6] == "10.0.0.8" and "广州某某科技有限公司" in identity[7]
    [export] = audit_rows("audit.export")
    assert export.actor == f"staff:{auditor.id}" and export.detail["filters"] == {"actor": "user:90012"}
    assert export.detail["max_rows"] == 100000


def test_the_export_stops_at_its_limit_with_a_note(app, client, db_session, monkeypatch):
    for n in range(7):
        seed("system:many", "demo.tick", f"tick:{n}")
    db.session.commit()
    monkeypatch.setitem(app.config, "AUDIT_EXPORT_MAX_ROWS", 5)
    monkeypatch.setattr("wxbackend.audit.service.EXPORT_BATCH", 2)  # several batches
    sign_in_staff(client, make_staff("shenji5", "admin"))
    _header, *rows = read_csv(client.get("/admin/audit.csv?actor=system:many", buffered=True))
    assert [row[4] for row in rows[:5]] == [f"tick:{n}" for n in range(6, 1, -1)]
    assert len(rows) == 6 and "导出已达上限5行" in rows[5][0]
    chunks = list(audit_csv(AuditQuery(actor="system:many"), 5))
    assert len(chunks) == 5  # the header, batches of 2, 2 and 1, the note: produced piece by piece, not in memory
    monkeypatch.setitem(app.config, "AUDIT_EXPORT_MAX_ROWS", 7)  # exactly all of them: no note
    _header, *rows = read_csv(client.get("/admin/audit.csv?actor=system:many", buffered=True))
    assert len(rows) == 7


def test_only_admins_and_auditors_read_the_trail(app, db_session, trail):
    for username, role, allowed in (("adm9", "admin", True), ("aud9", "auditor", True), ("sup9", "support", False),
                                    ("fin9", "finance", False), ("mak9", "maker", False)):
        client = app.test_client()
        sign_in_staff(client, make_staff(username, role))
        assert (client.get("/admin/audit").status_code == 200) is allowed, role
        assert (client.get("/admin/audit.csv", buffered=True).status_code == 200) is allowed, role
        assert ('data-queue="audit_admin.audit"' in client.get("/admin/").text) is allowed, role
    assert len(audit_rows("audit.export")) == 2  # the refused ones exported nothing
    assert len([r for r in audit_rows("staff.forbidden") if r.target.startswith("path:/admin/audit")]) == 6


def test_no_route_changes_or_deletes_an_audit_row(app, client, db_session, trail):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin/audit")]
    assert {rule.rule for rule in rules} == {"/admin/audit", "/admin/audit.csv"}
    for rule in rules:
        assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
    csrf = sign_in_staff(client, make_staff("shenji6", "admin"))
    row_id = trail["order15"].id
    for method in ("put", "delete", "patch", "post"):
        for path in ("/admin/audit", f"/admin/audit/{row_id}", "/admin/audit.csv"):
            answer = getattr(client, method)(path, data={"csrf_token": csrf})
            assert answer.status_code in (404, 405), (method, path)
    db.session.expire_all()
    assert db.session.get(AuditLog, row_id).action == "order.refund_requested"


def test_the_database_refuses_update_and_delete_but_truncate_stays_the_owners(db_session, trail):
    row = trail["order15"]
    for statement in ("UPDATE audit_logs SET result = 'ok' WHERE id = :id", "DELETE FROM audit_logs WHERE id = :id"):
        with pytest.raises(DBAPIError, match="audit_logs is append-only"), db_session.begin_nested():
            db_session.execute(sa.text(statement), {"id": row.id})
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        row.result = "tampered"  # through the ORM as well
        db_session.flush()
    db_session.expire_all()
    assert db_session.get(AuditLog, row.id).result == "ok"
    # TRUNCATE (the browser tests empty every table between tests) is a privilege of the owner only
    with db_session.begin_nested() as savepoint:
        db_session.execute(sa.text("TRUNCATE audit_logs"))
        assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0
        savepoint.rollback()
    assert db_session.get(AuditLog, row.id) is not None


def test_the_application_role_may_only_insert_and_select_audit_rows(app, pg_database):
    """deploy/audit_role.sql applied by psql to the test database for a throwaway role (roles are cluster-wide:
    a name of this run), then each privilege tried as that role; the role is dropped again."""
    psql = shutil.which("psql")
    assert psql, "psql (postgresql-client) is needed to apply deploy/audit_role.sql"
    role = f"cagj_app_test_{os.getpid()}"
    url = make_url(pg_database)
    libpq_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    engine = sa.create_engine(pg_database)
    try:
        for _ in range(2):  # the script may be run again
            applied = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"app_role={role}", "-f",
                                      str(ROOT / "deploy" / "audit_role.sql"), libpq_url], capture_output=True,
                                     text=True, timeout=60)
            assert applied.returncode == 0, applied.stderr

        def as_role(statement: str, **params):
            with engine.connect() as connection, connection.begin() as transaction:
                connection.execute(sa.text(f'SET LOCAL ROLE "{role}"'))
                try:
                    return connection.execute(sa.text(statement), params).all()
                finally:
                    transaction.rollback()

        inserted = as_role("INSERT INTO audit_logs (actor, action, target, result, ip, detail, created_at) VALUES "
                           "('staff:1', 'demo.insert', '', 'ok', '', '{}', now()) RETURNING id")
        assert len(inserted) == 1
        assert as_role("SELECT count(*) FROM audit_logs")[0][0] >= 0
        for statement in ("UPDATE audit_logs SET result = 'x'", "DELETE FROM audit_logs", "TRUNCATE audit_logs"):
            with pytest.raises(ProgrammingError, match="permission denied"):
                as_role(statement)
        assert as_role("UPDATE users SET nickname = nickname WHERE false RETURNING id") == []  # ordinary tables
        assert as_role("SELECT count(*) FROM orders")[0][0] >= 0
    finally:
        with engine.connect() as connection:
            if connection.scalar(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": role}):
                connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
                connection.execute(sa.text(f'DROP ROLE "{role}"'))
                connection.commit()
        engine.dispose()
    with sa.create_engine(pg_database).connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": role}) == 0
