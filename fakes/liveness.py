"""A fake Tencent Cloud FaceID on 127.0.0.1: the API (`POST /`, X-TC-Action DetectAuth | GetDetectInfoEnhanced,
TC3-HMAC-SHA256 checked with its own code) and the hosted page (`GET /h5/<BizToken>`: a Chinese page with 通过 and
不通过 that records the outcome and redirects to RedirectUrl?BizToken=…).

Errors come back as FaceID's do: HTTP 200, {"Response": {"Error": {"Code", "Message"}, "RequestId"}}.
Control (tests only): `POST /_fake/mode` {mode: normal|timeout|error, delay} (timeout: the API answers `delay`
seconds late; error: 500), `POST /_fake/finish` {biz_token, outcome: passed|failed} (what the page's buttons do),
`POST /_fake/expire` {biz_token}, `GET /_fake/forged-redirect/<BizToken>` (302 to the return URL with the token,
the outcome untouched: what someone typing the return URL does), `GET /_fake/sessions`, `POST /_fake/reset`,
`GET /_fake/calls`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, Response, abort, jsonify, redirect, request

CLOCK_SKEW_SECONDS = 300
AUTHORIZATION = re.compile(r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<day>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)"
                           r"/tc3_request, SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})")

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>人脸核身（测试）</title></head>
<body>
<h1>人脸核身</h1>
<p>这是测试用的人脸核身页面，不会采集任何影像。</p>
<p>核身人：<span id="name">{name}</span>（身份证 {id_number}）</p>
<form method="post" action="/h5/{token}/finish">
  <button type="submit" name="outcome" value="passed" id="pass">通过</button>
  <button type="submit" name="outcome" value="failed" id="fail">不通过</button>
</form>
</body></html>
"""


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = (parts.query + "&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _signature_problem(secret_id: str, secret_key: str) -> str | None:
    match = AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
    if not match:
        return "Authorization header malformed"
    if match["id"] != secret_id:
        return "SecretId not found"
    timestamp = request.headers.get("X-TC-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > CLOCK_SKEW_SECONDS:
        return "timestamp expired"
    if datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") != match["day"]:
        return "credential date does not match the timestamp"
    names = match["headers"].split(";")
    canonical_headers = "".join(f"{name}:{request.headers.get(name, '').strip().lower()}\n" for name in names)
    canonical = "\n".join([request.method, "/", "", canonical_headers, match["headers"],
                           hashlib.sha256(request.get_data()).hexdigest()])
    scope = f"{match['day']}/{match['service']}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("TC3" + secret_key).encode()
    for part in (match["day"], match["service"], "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["sig"]):
        return "signature does not match"
    return None


def create_fake_liveness(secret_id: str, secret_key: str) -> Flask:
    app = Flask("fake_liveness")
    lock = threading.Lock()
    sessions: dict[str, dict] = {}
    calls: Counter = Counter()
    settings = {"mode": "normal", "delay": 3.0}

    def error(code: str, message: str):
        return jsonify(Response={"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())})

    @app.post("/")
    def api():
        action = request.headers.get("X-TC-Action", "")
        calls[action] += 1
        if settings["mode"] == "error":
            return "internal error", 500
        if settings["mode"] == "timeout":
            time.sleep(settings["delay"])
        problem = _signature_problem(secret_id, secret_key)
        if problem:
            return error("AuthFailure.SignatureFailure", problem)
        if request.headers.get("X-TC-Version") != "2018-03-01":
            return error("InvalidParameter", "unsupported version")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error("InvalidParameter", "body is not JSON")
        if action == "DetectAuth":
            return detect_auth(body)
        if action == "GetDetectInfoEnhanced":
            return detect_info(body)
        return error("InvalidAction", f"unknown action {action}")

    def detect_auth(body: dict):
        if not body.get("RuleId"):
            return error("InvalidParameter.RuleId", "RuleId is required")
        token = str(uuid.uuid4()).upper()
        with lock:
            sessions[token] = {"biz_token": token, "rule_id": body["RuleId"], "name": body.get("Name", ""),
                               "id_number": body.get("IdCard", ""), "redirect_url": body.get("RedirectUrl", ""),
                               "extra": body.get("Extra", ""), "had_photo": bool(body.get("ImageBase64")),
                               "outcome": None, "expired": False}
        return jsonify(Response={"BizToken": token, "Url": request.host_url + f"h5/{token}",
                                 "RequestId": str(uuid.uuid4())})

    def detect_info(body: dict):
        with lock:
            session = sessions.get(str(body.get("BizToken", "")))
        if session is None:
            return error("InvalidParameterValue.BizTokenIllegal", "BizToken 不存在")
        if session["expired"]:
            return error("InvalidParameterValue.BizTokenExpired", "BizToken 已过期")
        outcome = session["outcome"]
        text = {"ErrCode": None, "ErrMsg": None, "IdCard": session["id_number"], "Name": session["name"],
                "LiveStatus": None, "LiveMsg": None, "Comparestatus": None, "Comparemsg": None, "Sim": None,
                "Extra": session["extra"]}
        if outcome == "passed":
            text.update(ErrCode=0, ErrMsg="成功", LiveStatus=0, LiveMsg="成功", Comparestatus=0, Comparemsg="成功",
                        Sim="92.35")
        elif outcome == "failed":
            text.update(ErrCode=1008, ErrMsg="比对相似度未达到通过标准", LiveStatus=0, LiveMsg="成功",
                        Comparestatus=1008, Comparemsg="比对相似度未达到通过标准", Sim="31.20")
        return jsonify(Response={"Text": text, "IdCardData": None, "BestFrame": None,
                                 "RequestId": str(uuid.uuid4())})

    @app.get("/h5/<token>")
    def page(token: str):
        with lock:
            session = sessions.get(token)
        if session is None:
            abort(404)
        name = session["name"]
        masked_id = session["id_number"][:3] + "***********" + session["id_number"][-4:]
        return Response(PAGE.format(name=escape(name), id_number=escape(masked_id), token=escape(token)),
                        mimetype="text/html")

    @app.post("/h5/<token>/finish")
    def finish_page(token: str):
        outcome = request.form.get("outcome")
        with lock:
            session = sessions.get(token)
            if session is None or outcome not in ("passed", "failed"):
                abort(404)
            session["outcome"] = outcome
        return redirect(with_query(session["redirect_url"], BizToken=token))

    @app.post("/_fake/finish")
    def finish():
        body = request.get_json()
        with lock:
            sessions[body["biz_token"]]["outcome"] = body["outcome"]
        return jsonify(ok=True)

    @app.post("/_fake/expire")
    def expire():
        with lock:
            sessions[request.get_json()["biz_token"]]["expired"] = True
        return jsonify(ok=True)

    @app.get("/_fake/forged-redirect/<token>")
    def forged_redirect(token: str):
        with lock:
            session = sessions.get(token)
        if session is None:
            abort(404)
        return redirect(with_query(session["redirect_url"], BizToken=token))

    @app.get("/_fake/sessions")
    def list_sessions():
        with lock:
            return jsonify(list(sessions.values()))

    @app.post("/_fake/mode")
    def mode():
        settings.update(request.get_json())
        return jsonify(settings)

    @app.post("/_fake/reset")
    def reset():
        with lock:
            sessions.clear()
            calls.clear()
        settings.update(mode="normal", delay=3.0)
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def count():
        return jsonify(calls)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Tencent Cloud FaceID (API and hosted page) for development")
    parser.add_argument("--port", type=int, default=5104)
    parser.add_argument("--secret-id", default="dev-faceid-id")
    parser.add_argument("--secret-key", default="dev-faceid-key")
    args = parser.parse_args()
    from werkzeug.serving import run_simple

    print(f"fake FaceID on http://127.0.0.1:{args.port}/", flush=True)
    print(json.dumps({"LIVENESS_API_BASE": f"http://127.0.0.1:{args.port}/"}), flush=True)
    run_simple("127.0.0.1", args.port, create_fake_liveness(args.secret_id, args.secret_key), threaded=True)


if __name__ == "__main__":
    main()
