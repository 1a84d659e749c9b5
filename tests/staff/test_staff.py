"""The console's door (DESIGN §15): two factors, lockout, replay refusal, sessions apart from customers', roles
and CSRF checked at the edge of every route, disabled accounts out at their next request; every refusal audited."""

from __future__ import annotations

import pyotp
import sqlalchemy as sa

from tests.support.flows import sign_in as customer_sign_in
from tests.support.staff import PASSWORD, csrf_of, make_staff, sign_in_staff
from wxbackend.audit.models import AuditLog
from wxbackend.staff.models import StaffMember
from wxbackend.web.auth import issue_api_token


def audit_rows(db_session, action: str) -> list[AuditLog]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_bootstrap_command_then_first_sign_in_enrols_totp_and_asks_for_a_new_password(app, client, db_session):
    created = app.test_cli_runner().invoke(args=["staff", "create", "root", "--name", "王管理"])
    assert "已创建员工账户 root（管理员）" in created.output
    one_time = created.output.split("临时密码：")[1].split("（")[0]
    first = client.post("/admin/login", data={"username": "root", "password": one_time})
    assert first.headers["Location"].endswith("/admin/enrol")
    page = client.get("/admin/enrol").text
    assert "<svg" in page and "绑定动态口令" in page
    secret = page.split('id="totp-secret">')[1].split("<")[0]
    assert client.get("/admin/").status_code == 302  # no console before the second factor
    done = client.post("/admin/enrol", data={"csrf_token": csrf_of(page), "code": pyotp.TOTP(secret).now()})
    assert done.headers["Location"].endswith("/admin/password")
    csrf = csrf_of(client.get("/admin/password").text)
    changed = client.post("/admin/password", data={"csrf_token": csrf, "current_password": one_time,
                                                   "new_password": "a much better pass", "new_password_again":
                                                   "a much better pass"})
    assert changed.status_code == 302
    assert "待办工作" in client.get("/admin/").text
    staff = db_session.scalar(sa.select(StaffMember).where(StaffMember.username == "root"))
    assert staff.password_hash.startswith("$argon2id$") and "a much better pass" not in staff.password_hash
    assert staff.totp_secret and secret.encode() not in staff.totp_secret  # kept encrypted


def test_wrong_totp_until_lockout_then_even_the_right_one_is_refused(app, client, db_session):
    staff = make_staff("lin", "finance")
    client.post("/admin/login", data={"username": "lin", "password": PASSWORD})
    csrf = csrf_of(client.get("/admin/login/totp").text)
    for _ in range(app.config["STAFF_LOCKOUT_FAILURES"]):
        refused = client.post("/admin/login/totp", data={"csrf_token": csrf, "code": "000000"}, follow_redirects=True)
        assert "动态口令错误或已使用" in refused.text or "账户已锁定" in refused.text
    right = client.post("/admin/login/totp", data={"csrf_token": csrf, "code": staff.next_code()},
                        follow_redirects=True)
    assert "账户已锁定" in right.text
    again = app.test_client().post("/admin/login", data={"username": "lin", "password": PASSWORD},
                                   follow_redirects=True)
    assert "账户已锁定" in again.text  # the password alone does not get past a lock either
    db_session.expire_all()
    assert db_session.get(StaffMember, staff.id).locked_until is not None
    results = [row.result for row in audit_rows(db_session, "staff.sign_in")]
    assert results.count("wrong_totp") == app.config["STAFF_LOCKOUT_FAILURES"] - 1 and "locked" in results
    assert "while_locked" in results


def test_a_replayed_totp_code_is_refused(app, client, db_session):
    staff = make_staff("zhou", "auditor")
    client.post("/admin/login", data={"username": "zhou", "password": PASSWORD})
    csrf = csrf_of(client.get("/admin/login/totp").text)
    code = staff.next_code()
    assert client.post("/admin/login/totp", data={"csrf_token": csrf, "code": code}).status_code == 302
    other = app.test_client()  # someone who saw the code over the shoulder
    other.post("/admin/login", data={"username": "zhou", "password": PASSWORD})
    csrf2 = csrf_of(other.get("/admin/login/totp").text)
    replayed = other.post("/admin/login/totp", data={"csrf_token": csrf2, "code": code}, follow_redirects=True)
    assert "动态口令错误或已使用" in replayed.text
    assert other.get("/admin/").status_code == 302
    assert "replayed_totp" in [row.result for row in audit_rows(db_session, "staff.sign_in")]


def test_a_customer_cookie_or_bearer_token_never_opens_the_console(app, client, db_session):
    customer_sign_in(client, "张三")  # a signed-in customer session in this browser
    for path in ("/admin/", "/admin/staff"):
        assert client.get(path).headers["Location"].endswith("/admin/login")
    user_id = db_session.scalar(sa.text("SELECT id FROM users WHERE openid = 'dev-张三'"))
    token, _ = issue_api_token(user_id)
    bearer = app.test_client().get("/admin/", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 302 and bearer.headers["Location"].endswith("/admin/login")
    assert len(audit_rows(db_session, "staff.no_session")) >= 3


def test_a_staff_member_without_the_role_gets_403_and_it_is_audited(app, client, db_session):
    make_staff("wuyi", "support")
    sign_in_staff(client, make_staff("wu2", "support"))
    assert client.get("/admin/staff").status_code == 403
    assert client.get("/admin/staff/new").status_code == 403
    assert [r.result for r in audit_rows(db_session, "staff.forbidden")] == ["refused", "refused"]


def test_a_post_without_the_console_csrf_token_is_refused(app, client, db_session):
    admin = make_staff("boss", "admin")
    csrf = sign_in_staff(client, admin)
    refused = client.post("/admin/staff/new", data={"username": "mallory", "display_name": "M", "roles": "admin"})
    assert refused.status_code == 400
    assert db_session.scalar(sa.select(StaffMember).where(StaffMember.username == "mallory")) is None
    made = client.post("/admin/staff/new", data={"csrf_token": csrf, "username": "xuqing", "display_name": "许",
                                                 "roles": ["auditor", "finance"]})
    assert made.status_code == 200 and "临时密码" in made.text
    assert len(audit_rows(db_session, "staff.csrf_refused")) == 1
    [created] = audit_rows(db_session, "staff.create")[-1:]
    assert created.actor == f"staff:{admin.id}" and created.detail["after"]["roles"] == "auditor,finance"


def test_a_disabled_accounts_live_session_ends_at_its_next_request(app, client, db_session):
    admin, clerk = make_staff("chief", "admin"), make_staff("clerk", "finance", "admin")
    admin_client = app.test_client()
    csrf = sign_in_staff(admin_client, admin)
    sign_in_staff(client, clerk)
    assert client.get("/admin/").status_code == 200
    disabled = admin_client.post(f"/admin/staff/{clerk.id}/active", data={"csrf_token": csrf, "active": "0"})
    assert disabled.status_code == 302
    assert client.get("/admin/").headers["Location"].endswith("/admin/login")
    refused = client.post("/admin/login", data={"username": "clerk", "password": PASSWORD}, follow_redirects=True)
    assert "该账户已停用" in refused.text
    assert len(audit_rows(db_session, "staff.disabled_session")) == 1
    assert audit_rows(db_session, "staff.disable")[0].detail == {"before": {"active": True}, "after": {"active": False}}


def test_a_wrong_password_is_refused_with_one_message_for_unknown_names_too(app, client, db_session):
    make_staff("han", "auditor")
    for name in ("han", "nobody"):
        page = client.post("/admin/login", data={"username": name, "password": "wrong password!"},
                           follow_redirects=True)
        assert "用户名、密码或动态口令错误" in page.text
    assert [r.result for r in audit_rows(db_session, "staff.sign_in")] == ["wrong_password", "unknown_user"]


def test_each_hostile_attempt_appears_in_the_audit_viewer(app, client, db_session):
    make_staff("target", "finance")
    client.post("/admin/login", data={"username": "target", "password": "not the password"})  # wrong password
    app.test_client().get("/admin/staff")  # no session
    support = app.test_client()
    sign_in_staff(support, make_staff("helpdesk", "support"))
    support.get("/admin/staff")  # no role
    support.post("/admin/logout", data={})  # no CSRF token
    admin = app.test_client()
    sign_in_staff(admin, make_staff("auditchief", "admin"))
    viewer = admin.get("/admin/audit?action=staff.").text
    for action, result in (("staff.sign_in", "wrong_password"), ("staff.no_session", "refused"),
                           ("staff.forbidden", "refused"), ("staff.csrf_refused", "refused")):
        assert action in viewer and result in viewer, action


def test_console_routes_are_in_no_customer_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    assert spec["paths"] and not [path for path in spec["paths"] if path.startswith("/admin")]


OPEN_TO_EVERY_STAFF = {"staff_admin.sign_in", "staff_admin.totp", "staff_admin.enrol", "staff_admin.sign_out",
                       "staff_admin.home", "staff_admin.reauth", "staff_admin.password"}


def test_every_console_route_refuses_a_role_it_is_not_for(app, client, db_session):
    """制证 works only the fulfilment and counter rooms: every other console route, found in the URL map, answers
    403 (and a page that is not theirs is never shown), whatever its method."""
    csrf = sign_in_staff(client, make_staff("maker1", "maker"))
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint in OPEN_TO_EVERY_STAFF:
            continue
        if rule.endpoint.startswith(("orders_fulfilment_admin.", "shipping_admin.", "counter_admin.")):
            continue  # the maker's own rooms
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = client.open(path, method=method, data={"csrf_token": csrf})
            assert answer.status_code == 403, (method, path, answer.status_code)
            checked.append((method, path))
    assert len(checked) >= 30, checked  # every part of the console was reached
    page = client.get("/admin/fulfilment")
    assert page.status_code == 200
