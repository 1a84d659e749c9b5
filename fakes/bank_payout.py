"""A fake bank payout gateway on 127.0.0.1 (the `http` payout adapter's other end), signed both ways.

`POST /payouts` pays once per idempotency key — the same key answers the same payout, never a second one (a
different body under a used key is 409 idempotency_conflict); `GET /payouts/<key>` answers it or 404.
Control (unsigned, tests only): `GET /_fake/payouts` (every payout, remark included), `POST /_fake/mode`
{mode: normal|timeout|error|bad_signature, delay, outcome: succeeded|processing|failed, reason},
`POST /_fake/settle` {idempotency_key, status, reason}, `POST /_fake/reset`, `GET /_fake/calls`.
In `timeout` mode the payout IS made and then the answer comes `delay` seconds late, as when a bank takes the
order and the line drops; `error` answers 500 before paying anything.
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

FIELDS = ("account_name", "account_number", "bank_name", "amount_fen", "remark")


def create_fake_bank_payout(client_id: str, key: str) -> Flask:
    app = Flask("fake_bank_payout")
    gateway = SignedGateway(client_id, key)
    lock = threading.Lock()
    payouts: dict[str, dict] = {}
    calls: Counter = Counter()
    settings = {"mode": "normal", "delay": 3.0, "outcome": "succeeded", "reason": "户名与账号不符"}

    def public(payout: dict) -> dict:
        return {k: payout[k] for k in ("idempotency_key", "status", "bank_reference", "reason")}

    @app.post("/payouts")
    def pay():
        refusal = gateway.refusal(request)
        if refusal:
            return gateway.answer({"code": "unauthorized", "message": refusal}, 401)
        calls["pay"] += 1
        if settings["mode"] == "error":
            return jsonify(code="internal", message="系统繁忙"), 500
        body = request.get_json(silent=True) or {}
        key_ = body.get("idempotency_key")
        if not isinstance(key_, str) or not 0 < len(key_) <= 64:
            return gateway.answer({"code": "invalid_request", "message": "缺少幂等键"}, 400)
        if not isinstance(body.get("amount_fen"), int) or body["amount_fen"] <= 0:
            return gateway.answer({"code": "invalid_amount", "message": "金额不正确"}, 400)
        if not isinstance(body.get("remark"), str) or len(body["remark"]) > 32:
            return gateway.answer({"code": "invalid_remark", "message": "附言不能超过32个字符"}, 400)
        if not re.fullmatch(r"\d{6,32}", str(body.get("account_number", ""))):
            return gateway.answer({"code": "invalid_account", "message": "收款账号格式不正确"}, 400)
        with lock:
            existing = payouts.get(key_)
            if existing is not None and any(existing[f] != body.get(f) for f in FIELDS):
                return gateway.answer({"code": "idempotency_conflict", "message": "幂等键已用于另一笔打款"}, 409)
            if existing is None:
                status = settings["outcome"]
                existing = payouts[key_] = {
                    "idempotency_key": key_, **{f: body.get(f) for f in FIELDS}, "status": status,
                    "bank_reference": "FB" + secrets.token_hex(8).upper(),
                    "reason": settings["reason"] if status == "failed" else "", "created": time.time()}
                calls["paid"] += 1
        if settings["mode"] == "timeout":
            time.sleep(settings["delay"])
        return gateway.answer(public(existing), forged=settings["mode"] == "bad_signature")

    @app.get("/payouts/<key_>")
    def query(key_: str):
        refusal = gateway.refusal(request)
        if refusal:
            return gateway.answer({"code": "unauthorized", "message": refusal}, 401)
        calls["query"] += 1
        if settings["mode"] == "error":
            return jsonify(code="internal", message="系统繁忙"), 500
        if settings["mode"] == "timeout":
            time.sleep(settings["delay"])
        with lock:
            payout = payouts.get(key_)
        if payout is None:
            return gateway.answer({"code": "not_found", "message": "无此打款"}, 404)
        return gateway.answer(public(payout))

    @app.get("/_fake/payouts")
    def list_payouts():
        with lock:
            return jsonify(sorted(payouts.values(), key=lambda p: p["created"]))

    @app.post("/_fake/mode")
    def mode():
        settings.update(request.get_json())
        return jsonify(settings)

    @app.post("/_fake/settle")
    def settle():
        body = request.get_json()
        with lock:
            payout = payouts[body["idempotency_key"]]
            payout["status"], payout["reason"] = body["status"], body.get("reason", "")
        return jsonify(payout)

    @app.post("/_fake/reset")
    def reset():
        with lock:
            payouts.clear()
            calls.clear()
        settings.update(mode="normal", delay=3.0, outcome="succeeded", reason="户名与账号不符")
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def count():
        return jsonify(calls)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake bank payout gateway for development")
    parser.add_argument("--port", type=int, default=5105)
    parser.add_argument("--client-id", default="dev-merchant")
    parser.add_argument("--key", default="dev-payout-key")
    args = parser.parse_args()
    from werkzeug.serving import run_simple

    print(f"fake bank payout gateway on http://127.0.0.1:{args.port}/", flush=True)
    run_simple("127.0.0.1", args.port, create_fake_bank_payout(args.client_id, args.key), threaded=True)


if __name__ == "__main__":
    main()
