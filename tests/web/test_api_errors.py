"""One error shape with Chinese messages everywhere (issue 15 item 5): marshmallow's own messages in every 400 of the
JSON API, flat `errors` (field → message), the floor's 401/404/405/413 as `{code, message}`, the sign-in checked
before the input; and WTForms' built-in messages on every H5 form in Chinese."""

from __future__ import annotations

import importlib
import pkgutil
import re

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

import wxbackend
from tests.support.factories import make_user
from wxbackend.web.auth import issue_api_token
from wxbackend.web.forms import Form

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?: [A-Za-z]{2,}){2,}")  # three English words: an untranslated message


def signed_in(db_session) -> dict:
    user = make_user()
    db_session.commit()
    return {"Authorization": f"Bearer {issue_api_token(user.id)[0]}"}


def chinese_only(body: dict) -> None:
    texts = [body["message"], *body.get("errors", {}).values()]
    for text in texts:
        assert isinstance(text, str) and CJK.search(text) and not ENGLISH.search(text), body


def test_missing_unknown_and_mistyped_fields_are_named_in_chinese(client, db_session):
    me = signed_in(db_session)
    missing = client.post("/api/orders", json={}, headers=me)
    assert missing.status_code == 400
    assert missing.json == {"code": "invalid_request", "message": "提交的内容有误",
                            "errors": {"certificate_id": "必填", "years": "必填", "contacts": "必填"}}
    wrong = client.post("/api/orders", json={"certificate_id": "abc", "years": 9, "colour": "red"}, headers=me)
    assert wrong.status_code == 400 and wrong.json["errors"] == {
        "certificate_id": "应为整数", "years": "应在1至5之间", "colour": "不支持的字段", "contacts": "必填"}
    chinese_only(wrong.json)


def test_nested_errors_come_out_flat_and_query_errors_alike(client, db_session):
    me = signed_in(db_session)
    nested = client.post("/api/invoices", json={"order_ids": ["x", 1], "profile_id": None}, headers=me)
    assert nested.status_code == 400 and nested.json["errors"]["order_ids.0"] == "应为整数"
    chinese_only(nested.json)
    query = client.get("/api/certificates/1/quote?years=abc", headers=me)
    assert query.status_code == 400 and query.json["errors"] == {"years": "应为整数"}
    not_an_object = client.post("/api/orders", json=[1, 2], headers=me)
    assert not_an_object.status_code == 400 and set(not_an_object.json) == {"code", "message", "errors"}
    chinese_only(not_an_object.json)


def test_the_floor_answers_in_the_one_shape(app, client, db_session):
    me = signed_in(db_session)
    answers = [
        (client.get("/api/orders"), 401, "not_signed_in"),
        (client.get("/api/orders", headers={"Authorization": "Bearer nope"}), 401, "token_invalid"),
        (client.get("/api/orders/999999", headers=me), 404, "not_found"),
        (client.get("/api/no-such-thing", headers=me), 404, "not_found"),
        (client.delete("/api/orders", headers=me), 405, "method_not_allowed"),
        (client.post("/api/orders", data="{" * 10, content_type="application/json", headers=me), 400, None),
        (client.post("/api/addresses", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                     content_type="application/json", headers=me), 413, "request_entity_too_large"),
    ]
    for response, status, code in answers:
        assert response.status_code == status, (status, response.json)
        assert set(response.json) <= {"code", "message", "errors"} and isinstance(response.json["code"], str)
        assert code is None or response.json["code"] == code
        chinese_only(response.json)


def test_without_a_token_the_answer_is_401_whatever_else_is_wrong(client, db_session):
    for response in (client.get("/api/applications?status=%C2%AF"), client.post("/api/orders", json={"x": 1}),
                     client.post("/api/orders/1/refund"), client.put("/api/addresses/1", json=[])):
        assert response.status_code == 401 and response.json["code"] == "not_signed_in", response.json
    assert client.post("/api/auth/mini-program", json={}).status_code == 400  # signing in needs no token
    assert client.get("/api/openapi.json").status_code == 200


def h5_forms() -> list[type]:
    """Every WTForms form class of the application's packages."""
    for module in pkgutil.walk_packages(wxbackend.__path__, "wxbackend."):
        if module.name.endswith((".forms", ".h5", ".admin", ".pc")):
            importlib.import_module(module.name)
    found, pending = [], [FlaskForm]
    while pending:
        for subclass in pending.pop().__subclasses__():
            pending.append(subclass)
            if subclass.__module__.startswith("wxbackend."):
                found.append(subclass)
    return found


def test_every_form_shows_wtforms_messages_in_chinese(app):
    forms = h5_forms()
    assert len(forms) >= 10
    checked = 0
    for form_class in forms:
        assert issubclass(form_class, Form), f"{form_class.__module__}.{form_class.__name__} must extend web.forms.Form"
        with app.test_request_context("/h5/", method="POST"):
            names = [field.name for field in form_class(meta={"csrf": False})]
            for data in ({}, {name: "x" * 300 for name in names}):  # nothing, then too long and of the wrong kind
                form = form_class(formdata=MultiDict(data), meta={"csrf": False})
                form.validate()
                for messages in form.errors.values():
                    for message in messages if isinstance(messages, list) else [messages]:
                        assert CJK.search(str(message)) and not ENGLISH.search(str(message)), (form_class, message)
                        checked += 1
    assert checked >= 20
