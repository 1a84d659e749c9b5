"""A fake SMS gateway on 127.0.0.1 (the `http` SMS adapter's other end), signed both ways.

`POST /messages` {mobile, template, params, idempotency_key} → {message_id}; the same idempotency key sends
nothing more and answers the first id. Control (unsigned, tests only): `GET /_fake/messages` (every message with
its params), `POST /_fake/mode` {mode: normal|timeout|error|bad_signature|refuse, delay}, `POST /_fake/reset`,
`GET /_fake/calls`. `refuse` answers 400 invalid_mobile; `timeout` sends, then answers `delay` seconds late.
"""

from __future__ import annotations

import argparse
import re
import secrets
import threading
import time
from collections import Counter

from flask import Flask, jsonify, request

from fakes.signed_gateway import SignedGateway


def create_fake_sms(client_id: str, key: str) -> Flask:
    app = Flask("fake_sms")
    gateway = SignedGateway(client_id, key)
    lock = threading.Lock()
    messages: dict[str, dict] = {}
    calls: Counter = Counter()
    settings = {"mode": "normal", "delay": 3.0}

    @app.post("/messages")
    def send():
        refusal = gateway.refusal(request)
        if refusal:
            return gateway.answer({"code": "unauthorized", "message": refusal}, 401)
        calls["send"] += 1
        if settings["mode"] == "error":
            return jsonify(code="internal", message="系统繁忙"), 500
        body = request.get_json(silent=True) or {}
        if settings["mode"] == "refuse" or not re.fullmatch(r"1[3-9]\d{9}", str(body.get("mobile", ""))):
            return gateway.answer({"code": "invalid_mobile", "message": "手机号码无法接收短信"}, 400)
        key_ = str(body.get("idempotency_key") or "")
        if not key_ or not body.get("template") or not isinstance(body.get("params"), dict):
            return gateway.answer({"code": "invalid_request", "message": "请求参数不完整"}, 400)
        with lock:
            message = messages.get(key_)
            if message is None:
                message = messages[key_] = {
                    "message_id": "SM" + secrets.token_hex(8).upper(), "idempotency_key": key_,
                    "mobile": body["mobile"], "template": body["template"], "params": body["params"],
                    "created": time.time()}
                calls["sent"] += 1
        if settings["mode"] == "timeout":
            time.sleep(settings["delay"])
        return gateway.answer({"message_id": message["message_id"]}, forged=settings["mode"] == "bad_signature")

    @app.get("/_fake/messages")
    def list_messages():
        with lock:
            return jsonify(sorted(messages.values(), key=lambda m: m["created"]))

    @app.post("/_fake/mode")
    def mode():
        settings.update(request.get_json())
        return jsonify(settings)

    @app.post("/_fake/reset")
    def reset():
        with lock:
            messages.clear()
            calls.clear()
        settings.update(mode="normal", delay=3.0)
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def count():
        return jsonify(calls)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake SMS gateway for development")
    parser.add_argument("--port", type=int, default=5106)
    parser.add_argument("--client-id", default="dev-sms-app")
    parser.add_argument("--key", default="dev-sms-key")
    args = parser.parse_args()
    from werkzeug.serving import run_simple

    print(f"fake SMS gateway on http://127.0.0.1:{args.port}/", flush=True)
    run_simple("127.0.0.1", args.port, create_fake_sms(args.client_id, args.key), threaded=True)


if __name__ == "__main__":
    main()
