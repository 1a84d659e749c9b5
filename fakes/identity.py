"""A fake identity verification service on 127.0.0.1: POST / {name, id_number, mobile} with
`Authorization: Bearer <key>` → {"result": "match"} when the three belong together in its records,
{"result": "mismatch", "reason": …} otherwise. `POST /_fake/people` adds a record; `GET /_fake/calls` counts."""

from __future__ import annotations

import threading

from flask import Flask, jsonify, request


def create_fake_identity(api_key: str) -> Flask:
    app = Flask("fake_identity")
    people: dict[str, tuple[str, str]] = {}
    calls = {"verify": 0}
    lock = threading.Lock()

    @app.post("/")
    def verify():
        if request.headers.get("Authorization") != f"Bearer {api_key}":
            return jsonify(error="unauthorized"), 401
        body = request.get_json(silent=True) or {}
        with lock:
            calls["verify"] += 1
            record = people.get(body.get("id_number", ""))
        if record is None:
            return jsonify(result="mismatch", reason="身份证号码不存在")
        if record[0] != body.get("name"):
            return jsonify(result="mismatch", reason="姓名与身份证号码不一致")
        if record[1] != body.get("mobile"):
            return jsonify(result="mismatch", reason="手机号码非本人实名登记")
        return jsonify(result="match")

    @app.post("/_fake/people")
    def add_person():
        body = request.get_json()
        with lock:
            people[body["id_number"]] = (body["name"], body["mobile"])
        return jsonify(ok=True)

    @app.get("/_fake/calls")
    def count():
        return jsonify(calls)

    return app
