"""Binding a key to a phone over HTTP: the PC API with the real helper and a SoftHSM2 key, the phone API."""

import base64
import itertools
import json
import re

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.flows import (
    helper_sign,
    pc_confirm,
    pc_get_code,
    pc_start,
    pc_state,
    phone_claim,
    run_jobs,
    sign_in,
)
from wxbackend.audit.models import AuditLog
from wxbackend.certificates.models import Binding
from wxbackend.core.redis import get_redis
from wxbackend.users.models import User

PIN = "12345678"


@pytest.fixture
def phone(app, db_session):
    client = app.test_client()
    client.csrf = sign_in(client, "张三")
    return client


_phone_addresses = itertools.count(1)


def other_phone(app, name):
    """Another WeChat user, on a phone of their own (its own client address, never shared)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"192.0.2.{next(_phone_addresses) % 250 + 1}"
    client.csrf = sign_in(client, name)
    return client


def active_bindings(db_session):
    return db_session.scalars(sa.select(Binding).where(Binding.status == "active")).all()


def test_the_whole_binding(pc, phone, helper, demo_key, db_session, wechat):
    session = pc_get_code(pc, helper)
    assert len(session.code) == 8 and session.code.isdigit()
    assert session.last4 == demo_key.serial[-4:]
    assert pc_state(pc, session)["state"] == "waiting"

    claimed = phone_claim(phone, phone.csrf, session.code, session.last4)
    assert claimed.status_code == 201, claimed.json
    claimed_state = pc_state(pc, session)
    assert claimed_state["state"] == "claimed"
    assert re.fullmatch(r"微信用户 张\*\*（\d\d:\d\d）", claimed_state["claimant"])
    waiting = phone.get(f"/api/binding/claims/{claimed.json['session_id']}").json
    assert waiting["state"] == "claimed" and waiting["organisation"] == ""  # not told before the PC confirms
    assert active_bindings(db_session) == []  # nothing until the PC confirms

    assert pc_confirm(pc, session).json == {"state": "bound"}
    [binding] = active_bindings(db_session)
    assert binding.certificate_id == demo_key.certificate.id
    claim_state = phone.get(f"/api/binding/claims/{claimed.json['session_id']}").json
    assert claim_state["state"] == "bound" and claim_state["certificate_id"] == demo_key.certificate.id

    listed = phone.get("/api/certificates").json
    assert [(c["organisation"], c["serial"]) for c in listed] == [("广州某某科技有限公司", demo_key.certificate.serial)]
    detail = phone.get(f"/api/certificates/{demo_key.certificate.id}").json
    assert detail["legal_representative"] == "张三" and [a["name"] for a in detail["apps"]] == [
        "广东省政府采购网", "广州公共资源交易中心"]

    run_jobs()
    [notice] = wechat.messages()  # the template message as WeChat received it
    assert notice["kind"] == "template" and notice["template_id"] == "TPL-binding_success"
    assert notice["touser"] == db_session.get(User, binding.user_id).openid
    assert notice["data"]["keyword1"]["value"] == "广州某某科技有限公司"
    assert notice["url"].endswith("/h5/certificates")

    # the code works once
    again = phone_claim(phone, phone.csrf, session.code, session.last4)
    assert again.status_code == 400 and again.json["code"] == "code_invalid"


def test_code_is_stored_only_as_an_hmac_with_a_300s_ttl(pc, helper):
    session = pc_get_code(pc, helper)
    keys = [k.decode() for k in get_redis().keys("bind:*")]
    assert not any(session.code in k for k in keys)
    assert all(session.code.encode() not in (get_redis().dump(k) or b"") for k in keys)
    code_keys = [k for k in keys if k.startswith("bind:code:")]
    assert len(code_keys) == 1 and 295 <= get_redis().ttl(code_keys[0]) <= 300
    assert 295 <= get_redis().ttl(f"bind:s:{session.session_id}") <= 300


def test_code_after_300s_is_expired(pc, phone, helper):
    session = pc_get_code(pc, helper)
    for key in get_redis().keys("bind:*"):
        get_redis().pexpire(key, 1)  # what 300 s do
    import time

    time.sleep(0.05)
    refused = phone_claim(phone, phone.csrf, session.code, session.last4)
    assert refused.status_code == 400 and refused.json["message"].startswith("绑定码错误或已过期")
    gone = pc.get(f"/pc/api/bind/sessions/{session.session_id}", headers={"X-PC-Token": session.pc_token})
    assert gone.status_code == 410 and gone.json["code"] == "session_expired"


def test_wrong_last4_counts_and_the_sixth_try_is_429_with_the_code_dead(app, pc, helper, db_session):
    session = pc_get_code(pc, helper)
    wrong = "0000" if session.last4 != "0000" else "1111"
    messages = []
    for attempt in range(5):
        # a fresh account each time, so the per-user delays do not hide the per-code limit
        guesser = other_phone(app, f"猜{attempt}")
        response = phone_claim(guesser, guesser.csrf, session.code, wrong)
        assert response.status_code == 400
        messages.append(response.json["message"])
    assert messages[0] == "介质号后四位不正确，还可尝试4次"
    assert "已失效" in messages[4]
    late = other_phone(app, "迟到")
    sixth = phone_claim(late, late.csrf, session.code, session.last4)  # even the right last 4
    assert sixth.status_code == 429 and "已失效" in sixth.json["message"]
    assert pc_state(pc, session)["state"] == "dead"
    assert active_bindings(db_session) == []


def test_each_attempt_is_audited_without_the_code(pc, phone, helper, db_session):
    session = pc_get_code(pc, helper)
    phone_claim(phone, phone.csrf, "12345678" if session.code != "12345678" else "87654321", session.last4)
    phone_claim(phone, phone.csrf, session.code, session.last4)
    rows = db_session.scalars(sa.select(AuditLog).where(AuditLog.action.like("binding.%"))).all()
    assert [(r.action, r.result) for r in rows if r.action == "binding.claim"] == [
        ("binding.claim", "unknown"), ("binding.claim", "ok")]
    dumped = json.dumps([[r.actor, r.action, r.target, r.result, r.detail] for r in rows], ensure_ascii=False)
    assert session.code not in dumped


def test_many_accounts_guessing_cannot_bind_without_the_pc(app, pc, helper, db_session):
    session = pc_get_code(pc, helper)
    statuses = []
    for i in range(6):
        guesser = other_phone(app, f"攻击者{i}")
        for guess in ("00000000", "11111111", "22222222"):
            if guess != session.code:
                statuses.append(phone_claim(guesser, guesser.csrf, guess, session.last4).status_code)
    assert set(statuses) <= {400, 429}
    # Even an account that happens on the right code gets only a claim, which the PC refuses.
    lucky = other_phone(app, "攻击者")
    assert phone_claim(lucky, lucky.csrf, session.code, session.last4).status_code == 201
    assert pc_state(pc, session)["claimant"].startswith("微信用户 攻**（")
    assert active_bindings(db_session) == []
    assert pc_confirm(pc, session, accept=False).json == {"state": "rejected"}
    assert active_bindings(db_session) == []
    assert lucky.get("/api/certificates").json == []


def test_per_user_budget_grows_delays_then_429(app, pc, phone, helper):
    pc_get_code(pc, helper)
    codes = []
    for guess in range(4):
        codes.append(phone_claim(phone, phone.csrf, f"{guess:08d}", "abcd").status_code)
    assert codes[:3] == [400, 400, 400]
    assert codes[3] == 429  # after 3 failures the next try must wait
    assert "秒后再试" in phone_claim(phone, phone.csrf, "99999999", "abcd").json["message"]


def test_service_wide_budget_slows_down_those_who_failed_not_newcomers(app, pc, helper, monkeypatch):
    monkeypatch.setitem(app.config, "BIND_FAILURES_GLOBAL", 3)
    guessers = []
    for i in range(3):
        guesser = other_phone(app, f"路人{i}")
        assert phone_claim(guesser, guesser.csrf, "00000000", "abcd").status_code == 400
        guessers.append(guesser)
    assert phone_claim(guessers[0], guessers[0].csrf, "11111111", "abcd").status_code == 429
    newcomer = other_phone(app, "新用户")
    assert phone_claim(newcomer, newcomer.csrf, "00000000", "abcd").status_code == 400


def test_signature_by_another_key_is_refused(pc, helper):
    started = pc_start(pc, helper)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = base64.b64encode(stranger.sign(b"anything", padding.PKCS1v15(), hashes.SHA256())).decode()
    response = pc.post("/pc/api/bind/code", json={"ticket_id": started["ticket_id"], "signature": forged})
    assert response.status_code == 400 and response.json["code"] == "signature_invalid"
    # the ticket was used up by the failed attempt
    signed = helper_sign(helper, started["ticket"]).json()["signature"]
    again = pc.post("/pc/api/bind/code", json={"ticket_id": started["ticket_id"], "signature": signed})
    assert again.status_code == 400 and again.json["code"] == "ticket_invalid"


def test_foreign_or_unknown_certificates_cannot_start(pc, db_session):
    from datetime import datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "广州某某科技有限公司")])
    now = datetime.now().astimezone()
    self_signed = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=30))
                   .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    response = pc.post("/pc/api/bind/start", json={"certificate": self_signed})
    assert response.status_code == 400 and response.json["message"] == "该证书不是本CA签发的证书"
    for bad in ({"certificate": "garbage"}, {"certificate": 5}, {}, []):
        response = pc.post("/pc/api/bind/start", json=bad)
        assert response.status_code == 400 and set(response.json) >= {"code", "message"}


def test_revoked_certificate_cannot_bind(pc, helper, demo_key, db_session):
    from wxbackend.certificates.revocation import revoke

    revoke(demo_key.certificate.serial, "key_compromise", "test")
    cert_pem = helper.get("/v1/token").json()["certificates"][0]["pem"]
    response = pc.post("/pc/api/bind/start", json={"certificate": cert_pem})
    assert response.status_code == 409 and response.json["message"] == "该证书已吊销，不能绑定，请办理补办"


def test_the_pc_token_guards_the_session(pc, phone, helper):
    session = pc_get_code(pc, helper)
    phone_claim(phone, phone.csrf, session.code, session.last4)
    stolen = pc.post(f"/pc/api/bind/sessions/{session.session_id}/confirm", json={"pc_token": "x" * 32,
                                                                                  "accept": True})
    assert stolen.status_code == 410
    assert pc_state(pc, session)["state"] == "claimed"


def test_the_pc_polls_with_its_token_in_a_header_never_in_the_url(app, pc, phone, helper):
    """A URL lands in access logs and browser history: the PC token is read from `X-PC-Token` only."""
    session = pc_get_code(pc, helper)
    phone_claim(phone, phone.csrf, session.code, session.last4)
    url = f"/pc/api/bind/sessions/{session.session_id}"
    polled = pc.get(url, headers={"X-PC-Token": session.pc_token})
    assert polled.status_code == 200 and polled.json["state"] == "claimed"
    in_query = pc.get(f"{url}?pc_token={session.pc_token}")
    assert in_query.status_code == 400 and in_query.json["code"] == "invalid_request"
    assert "claimant" not in in_query.json
    script = (app.root_path + "/binding/static/binding/bind.js")
    with open(script, encoding="utf-8") as source:
        assert "?pc_token=" not in source.read()


def test_user_b_cannot_see_or_unbind_user_a_certificate(app, pc, phone, helper, demo_key, db_session):
    session = pc_get_code(pc, helper)
    phone_claim(phone, phone.csrf, session.code, session.last4)
    pc_confirm(pc, session)
    cert_id = demo_key.certificate.id
    b = other_phone(app, "李四")
    assert b.get("/api/certificates").json == []
    assert b.get(f"/api/certificates/{cert_id}").status_code == 404
    assert b.delete(f"/api/certificates/{cert_id}/binding", headers={"X-CSRFToken": b.csrf}).status_code == 404
    assert b.get(f"/h5/certificates/{cert_id}").status_code == 404
    assert b.post(f"/h5/certificates/{cert_id}/unbind", data={"csrf_token": b.csrf}).status_code == 404
    assert len(active_bindings(db_session)) == 1
    # and A still can, with CSRF
    assert phone.delete(f"/api/certificates/{cert_id}/binding").status_code == 400  # no CSRF token
    assert phone.delete(f"/api/certificates/{cert_id}/binding", headers={"X-CSRFToken": phone.csrf}).status_code == 204
    assert active_bindings(db_session) == []


def binding_traces(db_session) -> tuple:
    """What a binding attempt leaves behind: bindings, binding audit rows, binding sessions and codes in Redis."""
    audits = db_session.scalars(sa.select(AuditLog.action).where(AuditLog.action.like("binding.%"))).all()
    keys = sorted(k.decode() for k in get_redis().keys("bind:*") if not k.startswith((b"bind:fail:", b"bind:last:")))
    return db_session.scalars(sa.select(Binding)).all(), audits, keys


@pytest.mark.parametrize("body,code,message", [
    ({"code": "1234", "last4": "abcd"}, "invalid_input", "请输入8位数字绑定码"),
    ({"code": "abcdefgh", "last4": "abcd"}, "invalid_input", "请输入8位数字绑定码"),
    ({"code": "12345678", "last4": "!"}, "invalid_input", "请输入介质号后四位"),
    ({"code": 12345678}, "invalid_request", "提交的内容有误"),
    ({"qr_token": "short"}, "code_invalid", "二维码无效或已过期，请在电脑上重新获取"),
])
def test_claim_needs_valid_input(phone, db_session, body, code, message):
    response = phone.post("/api/binding/claims", json=body, headers={"X-CSRFToken": phone.csrf})
    assert (response.status_code, response.json["code"], response.json["message"]) == (400, code, message)
    assert binding_traces(db_session) == ([], [], [])
    assert get_redis().keys("bind:fail:*") == []  # malformed input is not a guess


def test_claim_needs_a_signed_in_user(app, pc, helper, db_session):
    session = pc_get_code(pc, helper)
    before = binding_traces(db_session)
    anonymous = app.test_client()
    assert anonymous.get("/api/certificates").status_code == 401
    assert anonymous.get("/api/certificates").json["code"] == "not_signed_in"
    response = anonymous.post("/api/binding/claims", json={"code": session.code, "last4": session.last4})
    assert response.status_code == 401 and response.json["code"] == "not_signed_in"  # no session, no token
    assert binding_traces(db_session) == before
    assert pc_state(pc, session)["state"] == "waiting"


def test_scanning_the_qr_claims_without_typing_the_code(pc, phone, helper, db_session):
    from wxbackend.binding.service import open_binding_session

    started = pc_start(pc, helper)
    signature = helper_sign(helper, started["ticket"]).json()["signature"]
    opened = open_binding_session(started["ticket_id"], signature, "127.0.0.1")
    assert len(opened.qr_token) >= 22  # ≥ 128 bits
    page = phone.get(f"/h5/bind?qr={opened.qr_token}")
    assert "申请绑定该证书" in page.text
    csrf = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    claimed = phone.post("/h5/bind", data={"csrf_token": csrf, "qr": opened.qr_token})
    assert claimed.status_code == 302 and "/h5/bind/wait/" in claimed.headers["Location"]
    session = type("S", (), {"session_id": opened.session_id, "pc_token": opened.pc_token})
    assert pc_state(pc, session)["claimant"].startswith("微信用户 张**（")
    assert pc_confirm(pc, session).json == {"state": "bound"}
    assert len(active_bindings(db_session)) == 1
    # a used QR does nothing more
    again = phone.post("/api/binding/claims", json={"qr_token": opened.qr_token}, headers={"X-CSRFToken": phone.csrf})
    assert again.status_code == 400


@pytest.mark.parametrize("method,path,kwargs,status,code", [
    ("post", "/pc/api/bind/start", {"data": "not json", "content_type": "application/json"}, 400, "bad_request"),
    ("post", "/pc/api/bind/start", {"data": "x=1", "content_type": "application/x-www-form-urlencoded"}, 400,
     "invalid_request"),
    ("post", "/pc/api/bind/code", {"json": {"ticket_id": "x" * 30, "signature": "%%%"}}, 400, "ticket_invalid"),
    ("post", "/pc/api/bind/code", {"json": {"ticket_id": 5, "signature": None}}, 400, "invalid_request"),
    ("get", "/pc/api/bind/sessions/nope", {}, 400, "invalid_request"),
    ("get", "/pc/api/bind/sessions/nope", {"headers": {"X-PC-Token": "abc"}}, 410, "session_expired"),
    ("get", "/pc/api/bind/sessions/nope", {"headers": {"X-PC-Token": "x" * 500}}, 400, "invalid_request"),
    ("post", "/pc/api/bind/sessions/nope/confirm", {"json": {"pc_token": "abc", "accept": "maybe"}}, 400,
     "invalid_request"),
    ("post", "/pc/api/bind/sessions/" + "x" * 500 + "/confirm", {"json": {"pc_token": "abc", "accept": True}}, 410,
     "session_expired"),
])
def test_hostile_pc_requests_get_clear_json_errors(pc, db_session, method, path, kwargs, status, code):
    response = getattr(pc, method)(path, **kwargs)
    assert (response.status_code, response.json["code"]) == (status, code), response.json
    assert response.json["message"]
    assert binding_traces(db_session) == ([], [], [])


# --- the per-IP budget (BIND_FAILURES_PER_IP) and which address counts (TRUSTED_PROXY_HOPS) ---------------------

def guess_once(client, name: str, headers: dict | None = None):
    """A new account on `client`'s address guesses one unknown code (one failure: far under its own budget)."""
    client.csrf = sign_in(client, name)
    return client.post("/api/binding/claims", json={"code": "00000000", "last4": "abcd"},
                       headers={"X-CSRFToken": client.csrf, **(headers or {})})


def user_failures(db_session, name: str) -> int:
    user = db_session.scalar(sa.select(User).where(User.nickname == name))
    return int(get_redis().get(f"bind:fail:user:{user.id}") or 0)


def assert_ip_budget_spent(response):
    assert response.status_code == 429 and response.json["code"] == "too_many_attempts"
    # the budget's 15-minute window, not a growing delay of a few seconds
    seconds = int(re.search(r"请(\d+)秒后再试", response.json["message"]).group(1))
    assert seconds > 60, response.json["message"]


def test_many_accounts_from_one_address_spend_the_per_ip_budget(app, monkeypatch, db_session):
    monkeypatch.setitem(app.config, "BIND_FAILURES_PER_IP", 3)
    same_address = "198.51.100.7"
    for i in range(3):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = same_address
        response = guess_once(client, f"同址{i}")
        assert response.status_code == 400 and response.json["code"] == "code_invalid"
    fourth = app.test_client()
    fourth.environ_base["REMOTE_ADDR"] = same_address
    assert_ip_budget_spent(guess_once(fourth, "同址3"))
    # each account is far under its own budget: only the address is refused
    assert [user_failures(db_session, f"同址{i}") for i in range(4)] == [1, 1, 1, 0]
    assert int(get_redis().get(f"bind:fail:ip:{same_address}")) == 3
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    assert guess_once(elsewhere, "别处").status_code == 400


def test_x_forwarded_for_is_ignored_without_trusted_proxies(app, monkeypatch, db_session):
    assert app.config["TRUSTED_PROXY_HOPS"] == 0
    monkeypatch.setitem(app.config, "BIND_FAILURES_PER_IP", 3)
    statuses = [guess_once(app.test_client(), f"伪造{i}", {"X-Forwarded-For": f"203.0.113.{i + 1}"}).status_code
                for i in range(3)]
    assert statuses == [400, 400, 400]
    assert_ip_budget_spent(guess_once(app.test_client(), "伪造3", {"X-Forwarded-For": "203.0.113.99"}))
    assert int(get_redis().get("bind:fail:ip:127.0.0.1")) == 3
    assert not get_redis().keys("bind:fail:ip:203.0.113.*")


@pytest.fixture
def proxied_app(app_config, db_session):
    """A fresh app behind one trusted proxy, on the test's connection (its writes roll back with the test's)."""
    from tests.conftest import IsolatedClient
    from wxbackend import create_app
    from wxbackend.core.db import db

    proxied = create_app({**app_config, "TRUSTED_PROXY_HOPS": 1, "BIND_FAILURES_PER_IP": 3})
    proxied.test_client_class = IsolatedClient
    connection = db.engines[None]
    with proxied.app_context():
        engine = db.engines[None]
        db.engines[None] = connection
    yield proxied
    with proxied.app_context():
        db.engines[None] = engine
        engine.dispose()


def test_x_forwarded_for_is_honoured_behind_one_trusted_proxy(proxied_app, db_session):
    for i in range(3):
        response = guess_once(proxied_app.test_client(), f"代理{i}", {"X-Forwarded-For": "203.0.113.5"})
        assert response.status_code == 400, response.json
    assert_ip_budget_spent(guess_once(proxied_app.test_client(), "代理3", {"X-Forwarded-For": "203.0.113.5"}))
    # another client behind the same proxy (same REMOTE_ADDR) is its own address
    other = guess_once(proxied_app.test_client(), "代理4", {"X-Forwarded-For": "203.0.113.6"})
    assert other.status_code == 400 and other.json["code"] == "code_invalid"
    assert int(get_redis().get("bind:fail:ip:203.0.113.5")) == 3
    assert int(get_redis().get("bind:fail:ip:203.0.113.6")) == 1
    assert get_redis().get("bind:fail:ip:127.0.0.1") is None
