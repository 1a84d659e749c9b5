"""A fake 快递100 real-time query API on 127.0.0.1: `POST /poll/query.do` (form customer, sign, param) checks
sign = MD5(param + key + customer) upper-case with its own code and answers as 快递100 does — success {message
"ok", status "200", state, ischeck, com, nu, data [{time, ftime, context}] newest first}, failure {result false,
returnCode, message}: 503 bad sign, 500 no record yet, 408 顺丰 phone tail wrong, 400 bad parameters.

Control (tests only): `POST /_fake/waybills` {com, num, phone} (a waybill the carrier knows, state 1 揽收 with one
event), `POST /_fake/advance` {com, num, state, context} (a new event and state), `POST /_fake/mode`
{mode: normal|timeout|error, delay}, `GET /_fake/calls` (queries per com:num), `POST /_fake/reset`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, jsonify, request

SHANGHAI = ZoneInfo("Asia/Shanghai")


def create_fake_kuaidi100(customer: str, key: str) -> Flask:
    app = Flask("fake_kuaidi100")
    lock = threading.Lock()
    waybills: dict[tuple[str, str], dict] = {}
    calls: Counter = Counter()
    settings = {"mode": "normal", "delay": 3.0}

    def failure(code: str, message: str):
        return jsonify(result=False, returnCode=code, message=message)

    @app.post("/poll/query.do")
    @app.post("/")
    def query():
        if settings["mode"] == "error":
            return "server error", 500
        if settings["mode"] == "timeout":
            time.sleep(settings["delay"])
        param = request.form.get("param", "")
        expected = hashlib.md5((param + key + customer).encode(), usedforsecurity=False).hexdigest().upper()
        if request.form.get("customer") != customer or not hmac.compare_digest(request.form.get("sign", ""),
                                                                                expected):
            return failure("503", "验证签名失败")
        try:
            wanted = json.loads(param)
            com, num, phone = str(wanted["com"]), str(wanted["num"]), str(wanted.get("phone", ""))
        except (ValueError, KeyError, TypeError):
            return failure("400", "参数错误")
        calls[f"{com}:{num}"] += 1
        with lock:
            waybill = waybills.get((com, num))
            if waybill is None:
                return failure("500", "查询无结果，请隔段时间再查")
            if com.startswith("shunfeng") and phone[-4:] != waybill["phone"][-4:]:
                return failure("408", "您提交的手机号码后四位与快递单不一致")
            events = [{"time": e["time"], "ftime": e["time"], "context": e["context"]}
                      for e in reversed(waybill["events"])]
            state = waybill["state"]
        return jsonify(message="ok", nu=num, ischeck="1" if state == 3 else "0", com=com, status="200",
                       condition="F00", state=str(state), data=events)

    @app.post("/_fake/waybills")
    def add_waybill():
        body = request.get_json()
        at = datetime.now(SHANGHAI) - timedelta(hours=1)
        with lock:
            waybills[(body["com"], body["num"])] = {
                "phone": body.get("phone", ""), "state": 1,
                "events": [{"time": f"{at:%Y-%m-%d %H:%M:%S}", "context": "【广州市】快递员已揽收"}]}
        return jsonify(ok=True)

    @app.post("/_fake/advance")
    def advance():
        body = request.get_json()
        with lock:
            waybill = waybills[(body["com"], body["num"])]
            last = datetime.strptime(waybill["events"][-1]["time"], "%Y-%m-%d %H:%M:%S")
            at = max(last + timedelta(minutes=1), datetime.now(SHANGHAI).replace(tzinfo=None))
            waybill["state"] = int(body["state"])
            waybill["events"].append({"time": f"{at:%Y-%m-%d %H:%M:%S}", "context": body["context"]})
        return jsonify(ok=True)

    @app.post("/_fake/mode")
    def mode():
        settings.update(request.get_json())
        return jsonify(settings)

    @app.post("/_fake/reset")
    def reset():
        with lock:
            waybills.clear()
            calls.clear()
        settings.update(mode="normal", delay=3.0)
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def count():
        return jsonify(calls)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake 快递100 query API for development")
    parser.add_argument("--port", type=int, default=5107)
    parser.add_argument("--customer", default="DEVCUSTOMER")
    parser.add_argument("--key", default="dev-kuaidi100-key")
    args = parser.parse_args()
    from werkzeug.serving import run_simple

    print(f"fake 快递100 on http://127.0.0.1:{args.port}/poll/query.do", flush=True)
    run_simple("127.0.0.1", args.port, create_fake_kuaidi100(args.customer, args.key), threaded=True)


if __name__ == "__main__":
    main()
