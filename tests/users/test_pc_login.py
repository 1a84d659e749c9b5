"""扫码登录 on the PC: the PC asks for a QR code, the first phone to open it confirms (or refuses), the PC takes the
customer session once. Hostile cases: reuse, expiry, a second scanner, a poll without or with another PC token, a
phone that never confirms, CSRF, the console, the rate limit, redirect targets."""

from __future__ import annotations

import time

import pytest
import redis
import sqlalchemy as sa

from tests.conftest import TEST_REDIS_URL
from tests.support.flows import sign_in
from wxbackend.audit.models import AuditLog
from wxbackend.users.models import User


def pc_csrf(pc, path: str = "/pc/login") -> str:
    page = pc.get(path)
    assert page.status_code == 200
    return page.text.split('data-csrf="')[1].split('"')[0]


def open_login(pc, next_path: str | None = None) -> dict:
    csrf = pc_csrf(pc)
    response = pc.post("/pc/api/login", json={"next": next_path}, headers={"X-CSRFToken": csrf,
                                                                            "User-Agent": UA})
    assert response.status_code == 201, response.text
    body = response.json
    body["csrf"] = csrf
    return body


UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def qr_path(login: dict) -> str:
    return login["qr_link"].split("127.0.0.1", 1)[-1].split(":", 1)[-1].lstrip("0123456789")


def poll(pc, login: dict, token: str | None = "same"):
    headers = {} if token is None else {"X-PC-Token": login["pc_token"] if token == "same" else token}
    return pc.get(f"/pc/api/login/{login['login_id']}", headers=headers)


def take(pc, login: dict):
    return pc.post(f"/pc/api/login/{login['login_id']}/session",
                   headers={"X-PC-Token": login["pc_token"], "X-CSRFToken": login["csrf"]})


def phone_scan(phone, login: dict):
    return phone.get(qr_path(login))


def phone_answer(phone, login: dict, csrf: str, answer: str = "confirm"):
    return phone.post(f"/h5/pc-login/{login['login_id']}", data={"answer": answer, "csrf_token": csrf})


@pytest.fixture
def phone(app, db_session):
    client = app.test_client()
    client.csrf = sign_in(client, "张三")
    return client


def test_scan_confirm_and_the_pc_is_signed_in_as_the_phone_user(app, pc, phone, db_session):
    login = open_login(pc, "/h5/certificates")
    assert login["qr_link"].startswith(app.config["PUBLIC_BASE_URL"] + "/h5/pc-login?t=")
    assert "<svg" in login["qr_svg"] and login["expires_in"] == 300
    assert poll(pc, login).json["state"] == "waiting"
    scanned = phone_scan(phone, login)
    assert scanned.status_code == 302 and "t=" not in scanned.location
    question = phone.get(scanned.location)
    assert "在电脑上登录数安CA管家？" in question.text
    assert "Chrome（Windows）" in question.text and "内网 IP 127.0.0.*" in question.text
    assert poll(pc, login).json["state"] == "scanned"
    assert take(pc, login).status_code == 409  # not confirmed yet
    answered = phone_answer(phone, login, phone.csrf)
    assert answered.status_code == 200 and "已确认" in answered.text
    assert poll(pc, login).json["state"] == "confirmed"
    taken = take(pc, login)
    assert taken.status_code == 200 and taken.json == {"next": "/h5/certificates"}
    home = pc.get("/pc/home")
    assert home.status_code == 200 and "您好，<span id=\"pc-user\">张三</span>" in home.text
    assert "我的数字证书" in home.text and "我的业务单" in home.text and "退出登录" in home.text
    assert pc.get("/h5/certificates").status_code == 200  # the same customer session as H5
    user = db_session.scalar(sa.select(User).where(User.nickname == "张三"))
    actions = set(db_session.scalars(sa.select(AuditLog.action).where(AuditLog.actor == f"user:{user.id}")))
    assert {"users.pc_login.confirmed", "users.pc_login.signed_in"} <= actions


def test_tokens_are_stored_only_as_hashes(pc):
    login = open_login(pc)
    store = redis.Redis.from_url(TEST_REDIS_URL)
    dump = b"".join(k + b"".join(store.hgetall(k).values()) if store.type(k) == b"hash" else k + (store.get(k) or b"")
                    for k in store.keys("pclogin:*"))
    assert login["pc_token"].encode() not in dump
    assert qr_path(login).split("t=")[1].encode() not in dump
    assert 0 < store.ttl(f"pclogin:s:{login['login_id']}") <= 300


def test_a_login_is_taken_once(app, pc, phone):
    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    assert take(pc, login).status_code == 200
    other = app.test_client()
    other_login = dict(login, csrf=pc_csrf(other))
    again = take(other, other_login)
    assert again.status_code == 410 and again.json["code"] == "login_expired"
    assert other.get("/pc/home").status_code == 302
    # the QR link is dead too
    assert phone_scan(phone, login).status_code == 410
    assert poll(pc, login).status_code == 410


def test_an_expired_login_is_gone_everywhere(pc, phone):
    login = open_login(pc)
    redis.Redis.from_url(TEST_REDIS_URL).delete(f"pclogin:s:{login['login_id']}")  # what the 300 s TTL does
    assert poll(pc, login).status_code == 410
    assert phone_scan(phone, login).status_code == 410
    assert phone_answer(phone, login, phone.csrf).status_code == 410
    assert take(pc, login).status_code == 410


def test_the_first_scanner_claims_it_and_another_user_cannot_confirm(app, pc, phone):
    login = open_login(pc)
    assert phone_scan(phone, login).status_code == 302
    intruder = app.test_client()
    intruder_csrf = sign_in(intruder, "李四")
    refused = phone_scan(intruder, login)
    assert refused.status_code == 409 and "已被其他微信扫描" in refused.text
    assert intruder.get(f"/h5/pc-login/{login['login_id']}").status_code == 410
    assert phone_answer(intruder, login, intruder_csrf).status_code == 410
    assert poll(pc, login).json["state"] == "scanned"
    assert take(pc, login).status_code == 409
    # the first scanner is still asked, and opening the link again is the same claim
    assert phone_scan(phone, login).status_code == 302
    assert phone_answer(phone, login, phone.csrf).status_code == 200
    assert take(pc, login).status_code == 200
    assert "张三" in pc.get("/pc/home").text


def test_polling_needs_its_own_pc_token(pc, phone, app):
    login = open_login(pc)
    other = open_login(app.test_client())
    assert poll(pc, login, token=None).status_code == 410
    assert poll(pc, login, token=other["pc_token"]).status_code == 410
    assert poll(pc, login, token="x" * 32).status_code == 410
    # nor in the query string
    assert pc.get(f"/pc/api/login/{login['login_id']}?pc_token={login['pc_token']}").status_code == 410
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    stolen = pc.post(f"/pc/api/login/{login['login_id']}/session",
                     headers={"X-PC-Token": other["pc_token"], "X-CSRFToken": login["csrf"]})
    assert stolen.status_code == 410
    assert take(pc, login).status_code == 200


def test_a_phone_that_never_confirms_or_refuses_signs_nobody_in(pc, phone):
    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    for _ in range(3):
        assert poll(pc, login).json["state"] == "scanned"
        assert take(pc, login).status_code == 409
    assert pc.get("/pc/home").status_code == 302
    refused = phone_answer(phone, login, phone.csrf, "refuse")
    assert "已取消本次登录" in refused.text
    assert poll(pc, login).json["state"] == "refused"
    assert take(pc, login).status_code == 410
    # a late confirm after the refusal changes nothing
    assert phone_answer(phone, login, phone.csrf).status_code == 409
    assert take(pc, login).status_code == 410


def test_confirm_without_csrf_is_refused(pc, phone):
    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    forged = phone.post(f"/h5/pc-login/{login['login_id']}", data={"answer": "confirm"})
    assert forged.status_code == 400
    assert poll(pc, login).json["state"] == "scanned"
    bad = phone.post(f"/h5/pc-login/{login['login_id']}", data={"answer": "confirm", "csrf_token": "forged"})
    assert bad.status_code == 400
    assert poll(pc, login).json["state"] == "scanned"


def test_taking_the_session_needs_the_pc_pages_csrf_token(pc, phone):
    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    forged = pc.post(f"/pc/api/login/{login['login_id']}/session", headers={"X-PC-Token": login["pc_token"]})
    assert forged.status_code == 400 and set(forged.json) == {"code", "message"}
    assert poll(pc, login).json["state"] == "confirmed"


def test_the_pc_session_opens_no_staff_console(pc, phone):
    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    assert take(pc, login).status_code == 200
    for path in ("/admin/", "/admin/applications/1", "/admin/totp"):
        response = pc.get(path)
        assert response.status_code in (302, 401, 403, 404), path
        if response.status_code == 302:
            assert "/admin/login" in response.location
    assert "待办工作" not in pc.get("/admin/", follow_redirects=True).text


def test_the_pc_session_ends_after_its_idle_timeout_and_on_logout(app, pc, phone, monkeypatch):
    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    take(pc, login)
    assert pc.get("/pc/home").status_code == 200
    with pc.session_transaction() as session:
        session["pc_seen"] = int(time.time()) - 31 * 60
    gone = pc.get("/pc/home")
    assert gone.status_code == 302 and gone.location.startswith("/pc/login")
    assert pc.get("/h5/certificates").status_code == 302
    # the phone's own session has no such timeout
    assert phone.get("/h5/certificates").status_code == 200

    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    take(pc, login)
    home = pc.get("/pc/home")
    csrf = home.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert pc.post("/pc/logout", data={}).status_code == 400  # CSRF on 退出登录 too
    out = pc.post("/pc/logout", data={"csrf_token": csrf})
    assert out.status_code == 302 and out.location == "/pc/login"
    assert pc.get("/pc/home").status_code == 302


def test_creating_qr_codes_is_rate_limited(app, pc, monkeypatch):
    monkeypatch.setitem(app.config, "PC_LOGIN_LIMIT", "3 per 15 minutes")
    csrf = pc_csrf(pc)
    statuses = [pc.post("/pc/api/login", json={}, headers={"X-CSRFToken": csrf}).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = pc.post("/pc/api/login", json={}, headers={"X-CSRFToken": csrf})
    assert refused.json == {"code": "too_many_requests", "message": "操作过于频繁，请稍后再试"}
    assert len(redis.Redis.from_url(TEST_REDIS_URL).keys("pclogin:s:*")) == 3


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/admin/",
                                    "/pc/login?next=/h5/", "javascript:alert(1)", "/h5/\r\nLocation: x", None, 7])
def test_only_our_own_paths_are_places_to_land(pc, phone, target):
    login = open_login(pc, target)
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    assert take(pc, login).json == {"next": "/pc/home"}


def test_login_page_keeps_a_safe_next_and_skips_when_signed_in(pc, phone):
    assert 'data-next="/h5/applications/3"' in pc.get("/pc/login?next=/h5/applications/3").text
    assert 'data-next="/pc/home"' in pc.get("/pc/login?next=https://evil.example/").text
    login = open_login(pc)
    phone.get(phone_scan(phone, login).location)
    phone_answer(phone, login, phone.csrf)
    take(pc, login)
    assert pc.get("/pc/login?next=/h5/orders").location == "/h5/orders"


def test_odd_requests_get_json_errors_never_a_500(pc):
    csrf = pc_csrf(pc)
    assert pc.post("/pc/api/login", data="not json", headers={"X-CSRFToken": csrf}).status_code == 201
    assert pc.post("/pc/api/login", json=[1, 2], headers={"X-CSRFToken": csrf}).status_code == 201
    for login_id in ("x", "a" * 200, "%00" * 20):
        response = pc.get(f"/pc/api/login/{login_id}", headers={"X-PC-Token": "y"})
        assert response.status_code in (404, 410) and set(response.json) == {"code", "message"}


CHROME_ON_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/131.0.0.0 Safari/537.36")
WECHAT_ON_WINDOWS = CHROME_ON_WINDOWS + " NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat"
WECHAT_ON_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.50"


@pytest.mark.parametrize(("user_agent", "lands"), [
    (CHROME_ON_WINDOWS, "/pc/login?next=%2Fh5%2Fapplications%3Fstatus%3Dpending_review"),
    (WECHAT_ON_WINDOWS, "/connect/oauth2/authorize?"),
    (WECHAT_ON_IPHONE, "/connect/oauth2/authorize?"),
])
def test_an_h5_page_opened_in_a_desktop_browser_offers_the_qr_login(app, user_agent, lands):
    answer = app.test_client().get("/h5/applications?status=pending_review", headers={"User-Agent": user_agent})
    assert answer.status_code == 302 and lands in answer.headers["Location"]


def test_the_mini_program_scans_and_confirms_a_pc_login(app, pc, db_session):
    from tests.support.factories import make_user
    from wxbackend.web.auth import issue_api_token

    user, other = make_user("小程序用户"), make_user("李四")
    db_session.commit()
    me = {"Authorization": f"Bearer {issue_api_token(user.id)[0]}"}
    stranger = {"Authorization": f"Bearer {issue_api_token(other.id)[0]}"}
    login = open_login(pc, "/pc/home")
    token = login["qr_link"].split("t=", 1)[1]
    api = app.test_client()
    scanned = api.post("/api/pc-login/scans", json={"token": token}, headers=me)
    assert scanned.status_code == 200, scanned.json
    assert scanned.json["login_id"] == login["login_id"] and scanned.json["state"] == "scanned"
    assert scanned.json["device"] == "Chrome（Windows）" and scanned.json["ip"].startswith("内网 IP")
    assert poll(pc, login).json["state"] == "scanned"
    taken = api.post("/api/pc-login/scans", json={"token": token}, headers=stranger)
    assert taken.status_code == 409 and taken.json["code"] == "login_taken"
    for method, path, body in (("get", "", None), ("post", "/answer", {"accept": True})):
        refused = getattr(api, method)(f"/api/pc-login/{login['login_id']}{path}", json=body, headers=stranger)
        assert refused.status_code == 410 and refused.json["code"] == "login_expired" and "二维码" in \
            refused.json["message"]
    assert api.get(f"/api/pc-login/{login['login_id']}", headers=me).json["state"] == "scanned"
    answered = api.post(f"/api/pc-login/{login['login_id']}/answer", json={"accept": True}, headers=me)
    assert answered.status_code == 200 and answered.json["state"] == "confirmed"
    again = api.post(f"/api/pc-login/{login['login_id']}/answer", json={"accept": False}, headers=me)
    assert again.status_code == 409 and again.json["code"] == "login_answered"
    assert take(pc, login).json == {"next": "/pc/home"}
    assert "小程序用户" in pc.get("/pc/home").text
    gone = api.post("/api/pc-login/scans", json={"token": "x" * 30}, headers=me)
    assert gone.status_code == 410 and gone.json["code"] == "login_expired"
    missing = api.post("/api/pc-login/scans", json={}, headers=me)
    assert missing.status_code == 400 and missing.json["errors"] == {"token": "必填"}
