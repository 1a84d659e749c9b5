"""Signing in from WeChat: OAuth for the H5 pages, code_to_session for the mini-program, API tokens."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import requests
import sqlalchemy as sa

from wxbackend.core.redis import get_redis
from wxbackend.users.models import User


def authorize_as(location: str, openid: str, unionid: str | None = None, snapshot: bool = False) -> str:
    """Play WeChat's authorize page for `openid`: returns where it sends the browser back to (path + query)."""
    identity = base64.urlsafe_b64encode(json.dumps({"openid": openid, "unionid": unionid,
                                                    "snapshot": snapshot}).encode()).decode()
    answer = requests.get(location.split("#")[0], cookies={"fakewx_user": identity}, allow_redirects=False,
                          timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def test_oauth_round_trip_signs_in_and_lands_on_a_clean_url(client, wechat, db_session):
    start = client.get("/h5/certificates?tab=1")
    assert start.status_code == 302
    location = start.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["scope"] == ["snsapi_base"] and len(query["state"][0]) >= 32
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/wechat/oauth/callback"]
    landed = client.get(authorize_as(location, "oAlice", unionid="uAlice"))
    assert landed.status_code == 302 and landed.headers["Location"] == "/h5/certificates?tab=1"
    assert client.get("/h5/certificates").status_code == 200
    user = db_session.scalar(sa.select(User).where(User.openid == "oAlice"))
    assert user.unionid == "uAlice"
    assert wechat.calls()["/sns/oauth2/access_token"] == 1


def test_state_mismatch_is_400(client, wechat):
    location = client.get("/h5/").headers["Location"]
    callback = authorize_as(location, "oBob")
    forged = callback.replace("state=", "state=x")
    refused = client.get(forged)
    assert refused.status_code == 400 and "授权已失效" in refused.text
    # the state was used up by the refused attempt: the genuine callback cannot be replayed after it
    assert client.get(callback).status_code == 400
    # and a callback with no authorisation started in this browser at all
    assert client.application.test_client().get(callback).status_code == 400


def test_a_reused_code_starts_authorisation_again(client, wechat, db_session):
    location = client.get("/h5/").headers["Location"]
    callback = authorize_as(location, "oCarol")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    requests.get(wechat.base_url + "sns/oauth2/access_token", timeout=5, params={
        "appid": client.application.config["WECHAT_APP_ID"], "secret": client.application.config["WECHAT_APP_SECRET"],
        "code": code, "grant_type": "authorization_code"})  # someone used the code first (a retried request)
    again = client.get(callback)
    assert again.status_code == 302 and "/connect/oauth2/authorize?" in again.headers["Location"]
    landed = client.get(authorize_as(again.headers["Location"], "oCarol"))
    assert landed.status_code == 302 and landed.headers["Location"] == "/h5/"
    assert db_session.scalar(sa.select(User).where(User.openid == "oCarol")) is not None


def test_snapshot_user_gets_no_account(client, wechat, db_session):
    location = client.get("/h5/").headers["Location"]
    page = client.get(authorize_as(location, "oSnapshot", snapshot=True))
    assert page.status_code == 200 and "请使用完整服务" in page.text
    assert db_session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    assert client.get("/h5/").status_code == 302  # still not signed in


def test_mini_program_login_gives_a_token_and_keeps_the_session_key(client, wechat, db_session):
    code = wechat.code("mpDave", unionid="uDave")
    login = client.post("/api/auth/mini-program", json={"code": code})
    assert login.status_code == 200, login.json
    body = login.json
    assert set(body) == {"token", "expires_in", "user"} and body["expires_in"] == 24 * 3600
    assert "session_key" not in login.text
    user = db_session.scalar(sa.select(User).where(User.mp_openid == "mpDave"))
    assert get_redis().get(f"wechat:mp_session_key:{user.id}")  # kept here only

    fresh = client.application.test_client()  # no cookie at all: the token alone
    me = fresh.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json["id"] == user.id
    # a bearer request needs no CSRF token (no cookie authenticates it)
    unbind = fresh.delete("/api/certificates/999999/binding", headers={"Authorization": f"Bearer {body['token']}"})
    assert unbind.status_code == 404


def test_the_same_person_via_unionid_is_one_user(client, wechat, db_session):
    login = client.post("/api/auth/mini-program", json={"code": wechat.code("mpErin", unionid="uErin")})
    location = client.get("/h5/").headers["Location"]
    client.get(authorize_as(location, "oErin", unionid="uErin"))
    users = db_session.scalars(sa.select(User).where(User.unionid == "uErin")).all()
    assert len(users) == 1 and (users[0].openid, users[0].mp_openid) == ("oErin", "mpErin")
    assert client.get("/api/me").json["id"] == login.json["user"]["id"]


def test_bad_codes_and_tokens_are_clear_errors(client, wechat):
    assert client.post("/api/auth/mini-program", json={"code": "never-issued"}).json["code"] == "login_code_invalid"
    code = wechat.code("mpFrank")
    assert client.post("/api/auth/mini-program", json={"code": code}).status_code == 200
    reused = client.post("/api/auth/mini-program", json={"code": code})
    assert reused.status_code == 400 and reused.json["message"] == "登录凭证无效或已使用，请重新登录"
    empty = client.post("/api/auth/mini-program", json={})
    assert empty.status_code == 400 and empty.json["code"] == "invalid_request"
    tampered = client.get("/api/me", headers={"Authorization": "Bearer eyJ1IjoxfQ.xxxx.yyyy"})
    assert tampered.status_code == 401 and tampered.json["code"] == "token_invalid"


def test_cookie_requests_still_need_csrf(client, wechat):
    location = client.get("/h5/").headers["Location"]
    client.get(authorize_as(location, "oGrace"))
    refused = client.delete("/api/certificates/1/binding")
    assert refused.status_code == 400 and refused.json["code"] == "csrf_failed"
