"""A fake of `api.weixin.qq.com` (and the OAuth authorize page of `open.weixin.qq.com`) on 127.0.0.1.

It answers what the backend calls with WeChat's own shapes and error codes (40001 invalid token, 40029 invalid
code, 40163 code used, 43004 not subscribed, 43101 no consent, 45009 quota) and counts every call. Tests and
`make run` drive it through `/_fake/…` control endpoints:

- `POST /_fake/reset`, `GET /_fake/calls` (path → count), `GET /_fake/messages` (template, subscribe and
  customer-service messages sent, each with its `kind`)
- `POST /_fake/expire-tokens` (every issued access_token becomes invalid → 40001)
- `POST /_fake/fail {path, errcode, times}` and `POST /_fake/delay {path, seconds}`
- `POST /_fake/users {openid, unionid?, subscribed?, consents?: [template_id]}` (an openid never registered
  here counts as a follower of the official account who gave no mini-program consents)
- `POST /_fake/silent {openid, silent?: true}`: the follower last wrote more than 48 hours ago, so a
  customer-service message to them is refused with 45015 (WeChat's window)
- `POST /_fake/codes {openid, unionid?, snapshot?}` → `{code}` for jscode2session or OAuth
- `GET /_fake/as?openid=&unionid=&snapshot=&next=` sets who "this browser's WeChat user" is for the authorize page

Run alone: `python -m fakes.wechat --port 5101 --app wxappid:secret --app wxminiid:secret`.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, jsonify, make_response, redirect, request

ERRORS = {
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    40003: "invalid openid",
    40008: "invalid message type",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit",
    47001: "data format error",
    46003: "menu no exist",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40023: "invalid sub button size",
}
BUTTON_TYPES = {"click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "article_id",
                "article_view_limited"}
IDENTITY_COOKIE = "fakewx_user"
CUSTOM_TEXT_MAX_BYTES = 2048


@dataclass
class FakeUser:
    openid: str
    unionid: str | None = None
    subscribed: bool = True
    consents: set[str] = field(default_factory=set)  # mini-program subscribe-message template ids


@dataclass
class FakeState:
    apps: dict[str, str]
    template_ids: set[str] | None = None  # None: any template id is known
    calls: Counter = field(default_factory=Counter)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (appid, expires_at)
    stable: dict[str, str] = field(default_factory=dict)  # appid -> current stable token
    codes: dict[str, dict] = field(default_factory=dict)  # code -> identity (+ "used")
    users: dict[str, FakeUser] = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)
    silent: set[str] = field(default_factory=set)  # openids outside the 48-hour customer-service window
    menus: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, list] = field(default_factory=dict)  # path -> [errcode, times left]
    delays: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def error(errcode: int):
    return jsonify(errcode=errcode, errmsg=f"{ERRORS.get(errcode, 'error')} rid: {secrets.token_hex(6)}")


def create_fake_wechat(apps: dict[str, str], template_ids: set[str] | None = None) -> Flask:
    """The fake for the given `{appid: secret}` apps (the official account and the mini-program)."""
    app = Flask("fake_wechat")
    state = FakeState(apps=dict(apps), template_ids=template_ids)
    app.extensions["fake_wechat"] = state

    def new_token(appid: str, expires_in: int = 7200) -> str:
        token = secrets.token_urlsafe(48)
        state.tokens[token] = (appid, time.time() + expires_in)
        return token

    def token_app(required: bool = True):
        """The appid owning the request's access_token, or an error response."""
        token = request.args.get("access_token")
        if not token:
            return None, error(41001)
        with state.lock:
            entry = state.tokens.get(token)
        if entry is None:
            return None, error(40001)
        if entry[1] < time.time():
            return None, error(42001)
        return entry[0], None

    def new_code(identity: dict) -> str:
        code = secrets.token_urlsafe(24)
        with state.lock:
            state.codes[code] = dict(identity, used=False)
        return code

    def take_code(code: str):
        with state.lock:
            entry = state.codes.get(code)
            if entry is None:
                return None, error(40029)
            if entry["used"]:
                return None, error(40163)
            entry["used"] = True
            return entry, None

    def app_credentials(appid: str, secret: str):
        if appid not in state.apps:
            return error(40013)
        if state.apps[appid] != secret:
            return error(40125)
        return None

    @app.before_request
    def count_fail_delay():
        if request.path.startswith("/_fake/"):
            return None
        with state.lock:
            state.calls[request.path] += 1
            failure = state.failures.get(request.path)
            if failure and failure[1] > 0:
                failure[1] -= 1
                return error(failure[0])
            delay = state.delays.get(request.path, 0)
        if delay:
            time.sleep(delay)
        return None

    # --- access tokens -----------------------------------------------------------------------------------
    @app.get("/cgi-bin/token")
    def token():
        if request.args.get("grant_type") != "client_credential":
            return error(40002)
        refused = app_credentials(request.args.get("appid", ""), request.args.get("secret", ""))
        if refused:
            return refused
        with state.lock:
            return jsonify(access_token=new_token(request.args["appid"]), expires_in=7200)

    @app.post("/cgi-bin/stable_token")
    def stable_token():
        body = request.get_json(silent=True) or {}
        appid = body.get("appid", "")
        refused = app_credentials(appid, body.get("secret", ""))
        if refused:
            return refused
        with state.lock:
            current = state.stable.get(appid)
            entry = state.tokens.get(current) if current else None
            if body.get("force_refresh") or entry is None or entry[1] < time.time():
                current = state.stable[appid] = new_token(appid)
            return jsonify(access_token=current, expires_in=int(state.tokens[current][1] - time.time()))

    # --- menus -----------------------------------------------------------------------------------------------
    @app.post("/cgi-bin/menu/create")
    def menu_create():
        appid, refused = token_app()
        if refused:
            return refused
        menu = json.loads(request.get_data() or b"{}")
        buttons = menu.get("button") or []
        if not 1 <= len(buttons) <= 3:
            return error(40016)
        for button in buttons:
            subs = button.get("sub_button")
            if len(button.get("name", "").encode()) > 16 or not button.get("name"):
                return error(40018)
            if subs is not None:
                if not 1 <= len(subs) <= 5:
                    return error(40023)
                for sub in subs:
                    if not sub.get("name") or len(sub["name"].encode()) > 60:
                        return error(40018)
                    if sub.get("type") not in BUTTON_TYPES:
                        return error(40017)
                    if len(sub.get("key", "").encode()) > 128:
                        return error(40019)
            elif button.get("type") not in BUTTON_TYPES:
                return error(40017)
        with state.lock:
            state.menus[appid] = menu
        return jsonify(errcode=0, errmsg="ok")

    @app.get("/cgi-bin/menu/get")
    def menu_get():
        appid, refused = token_app()
        if refused:
            return refused
        with state.lock:
            menu = state.menus.get(appid)
        if menu is None:
            return error(46003)
        return jsonify(menu=menu)

    # --- messages --------------------------------------------------------------------------------------------
    def known_template(template_id: str) -> bool:
        return state.template_ids is None or template_id in state.template_ids

    @app.post("/cgi-bin/message/template/send")
    def template_send():
        appid, refused = token_app()
        if refused:
            return refused
        body = json.loads(request.get_data() or b"{}")
        if not known_template(body.get("template_id", "")):
            return error(40037)
        with state.lock:
            user = state.users.get(body.get("touser", ""))
            if user is not None and not user.subscribed:  # an openid never registered is a follower
                return error(43004)
            msgid = len(state.messages) + 1
            state.messages.append(dict(body, kind="template", appid=appid, msgid=msgid))
        return jsonify(errcode=0, errmsg="ok", msgid=msgid)

    @app.post("/cgi-bin/message/subscribe/send")
    def subscribe_send():
        appid, refused = token_app()
        if refused:
            return refused
        body = json.loads(request.get_data() or b"{}")
        if not known_template(body.get("template_id", "")):
            return error(40037)
        with state.lock:
            user = state.users.get(body.get("touser", ""))
            if user is None or body["template_id"] not in user.consents:
                return error(43101)
            user.consents.discard(body["template_id"])  # one consent, one message
            state.messages.append(dict(body, kind="subscribe", appid=appid))
        return jsonify(errcode=0, errmsg="ok")

    @app.post("/cgi-bin/message/custom/send")
    def custom_send():
        """客服消息: text only here; the follower must have written within 48 hours (else 45015)."""
        appid, refused = token_app()
        if refused:
            return refused
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return error(47001)
        touser = body.get("touser") if isinstance(body, dict) else None
        if not isinstance(touser, str) or not touser:
            return error(40003)
        if body.get("msgtype") != "text":
            return error(40008)
        text = body.get("text")
        content = text.get("content") if isinstance(text, dict) else None
        if not isinstance(content, str) or not content.strip():
            return error(44004)
        if len(content.encode()) > CUSTOM_TEXT_MAX_BYTES:
            return error(45002)
        with state.lock:
            user = state.users.get(touser)
            if user is not None and not user.subscribed:
                return error(43004)
            if touser in state.silent:
                return error(45015)
            state.messages.append(dict(body, kind="custom", appid=appid))
        return jsonify(errcode=0, errmsg="ok")

    @app.get("/cgi-bin/user/info")
    def user_info():
        _, refused = token_app()
        if refused:
            return refused
        openid = request.args.get("openid", "")
        with state.lock:
            user = state.users.get(openid) or FakeUser(openid)
        if not user.subscribed:
            return jsonify(subscribe=0, openid=openid)
        info = {"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": int(time.time())}
        if user.unionid:
            info["unionid"] = user.unionid
        return jsonify(info)

    @app.get("/cgi-bin/ticket/getticket")
    def jsapi_ticket():
        _, refused = token_app()
        if refused:
            return refused
        return jsonify(errcode=0, errmsg="ok", ticket=secrets.token_urlsafe(64), expires_in=7200)

    # --- OAuth and mini-program login ------------------------------------------------------------------------
    @app.get("/connect/oauth2/authorize")
    def authorize():
        """WeChat's snsapi_base authorisation is silent: straight back to redirect_uri with a code."""
        if request.args.get("appid") not in state.apps:
            return "appid 参数错误", 400
        if request.args.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
            return "scope 参数错误", 400
        redirect_uri = request.args.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return "redirect_uri 参数错误", 400
        identity = read_identity()
        if identity is None:
            here = request.full_path
            return (f'<!doctype html><meta charset="utf-8"><title>模拟微信授权</title>'
                    f'<form method="get" action="/_fake/as"><p>模拟微信：这台设备上的微信用户</p>'
                    f'<input name="openid" placeholder="openid" value="dev-{secrets.token_hex(4)}">'
                    f'<input type="hidden" name="next" value="{here}"><button>以此身份进入</button></form>')
        parts = urlsplit(redirect_uri)
        query = (parts.query + "&" if parts.query else "") + urlencode(
            {"code": new_code(identity), "state": request.args.get("state", "")})
        return redirect(urlunsplit(parts._replace(query=query)))

    def read_identity() -> dict | None:
        raw = request.cookies.get(IDENTITY_COOKIE)
        if not raw:
            return None
        try:
            return json.loads(base64.urlsafe_b64decode(raw.encode()))
        except ValueError:
            return None

    @app.get("/sns/oauth2/access_token")
    def oauth_access_token():
        refused = app_credentials(request.args.get("appid", ""), request.args.get("secret", ""))
        if refused:
            return refused
        entry, refused = take_code(request.args.get("code", ""))
        if refused:
            return refused
        answer = {"access_token": secrets.token_urlsafe(32), "expires_in": 7200,
                  "refresh_token": secrets.token_urlsafe(32), "openid": entry["openid"], "scope": "snsapi_base"}
        if entry.get("snapshot"):
            answer["is_snapshotuser"] = 1
        if entry.get("unionid"):
            answer["unionid"] = entry["unionid"]
        return jsonify(answer)

    @app.get("/sns/userinfo")
    def oauth_userinfo():
        return jsonify(openid=request.args.get("openid", ""), nickname="微信用户", headimgurl="")

    @app.get("/sns/jscode2session")
    def jscode2session():
        refused = app_credentials(request.args.get("appid", ""), request.args.get("secret", ""))
        if refused:
            return refused
        entry, refused = take_code(request.args.get("js_code", ""))
        if refused:
            return refused
        answer = {"openid": entry["openid"], "session_key": base64.b64encode(secrets.token_bytes(16)).decode()}
        if entry.get("unionid"):
            answer["unionid"] = entry["unionid"]
        return jsonify(answer)

    # --- control -------------------------------------------------------------------------------------------
    @app.post("/_fake/reset")
    def reset():
        with state.lock:
            for name in ("calls", "tokens", "stable", "codes", "users", "messages", "silent", "menus", "failures",
                         "delays"):
                getattr(state, name).clear()
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def calls():
        with state.lock:
            return jsonify(dict(state.calls))

    @app.get("/_fake/messages")
    def messages():
        with state.lock:
            return jsonify(list(state.messages))

    @app.get("/_fake/menu")
    def menu():
        with state.lock:
            return jsonify(state.menus)

    @app.post("/_fake/expire-tokens")
    def expire_tokens():
        with state.lock:
            state.tokens.clear()
        return jsonify(ok=True)

    @app.post("/_fake/fail")
    def fail():
        body = request.get_json()
        with state.lock:
            state.failures[body["path"]] = [int(body["errcode"]), int(body.get("times", 1))]
        return jsonify(ok=True)

    @app.post("/_fake/delay")
    def delay():
        body = request.get_json()
        with state.lock:
            state.delays[body["path"]] = float(body["seconds"])
        return jsonify(ok=True)

    @app.post("/_fake/users")
    def users():
        body = request.get_json()
        with state.lock:
            state.users[body["openid"]] = FakeUser(body["openid"], body.get("unionid"), body.get("subscribed", True),
                                                  set(body.get("consents", [])))
        return jsonify(ok=True)

    @app.post("/_fake/silent")
    def silent():
        body = request.get_json()
        with state.lock:
            if body.get("silent", True):
                state.silent.add(body["openid"])
            else:
                state.silent.discard(body["openid"])
        return jsonify(ok=True)

    @app.post("/_fake/codes")
    def codes():
        body = request.get_json()
        return jsonify(code=new_code({k: body.get(k) for k in ("openid", "unionid", "snapshot")}))

    @app.get("/_fake/as")
    def act_as():
        identity = {k: request.args.get(k) or None for k in ("openid", "unionid")}
        identity["snapshot"] = request.args.get("snapshot") == "1"
        if not identity["openid"]:
            return "openid 必填", 400
        target = request.args.get("next") or "/_fake/calls"
        response = make_response(redirect(target if target.startswith("/") else "/_fake/calls"))
        response.set_cookie(IDENTITY_COOKIE, base64.urlsafe_b64encode(json.dumps(identity).encode()).decode())
        return response

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake WeChat API server for development")
    parser.add_argument("--port", type=int, default=5101)
    parser.add_argument("--app", action="append", default=[], help="appid:secret (repeat)")
    args = parser.parse_args()
    apps = dict(item.split(":", 1) for item in args.app)
    fake = create_fake_wechat(apps)
    print(f"fake WeChat on http://127.0.0.1:{args.port}/ for {', '.join(apps)}", flush=True)
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", args.port, fake, threaded=True)


if __name__ == "__main__":
    main()
