"""The OpenAPI document (/api/openapi.json) is valid OpenAPI 3, says how to authenticate and where the API is, and
lists every answer an operation gives in the one error shape (issue 15 item 5); the docs page at /api/docs serves
Swagger UI from our own files under our CSP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from wxbackend.web.api import PUBLIC_PATHS

METHODS = ("get", "post", "put", "delete", "patch")
ERROR_STATUSES = {"400", "401", "403", "404", "409", "410", "413", "429", "502", "503"}


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_the_document_passes_openapi_spec_validator(document):
    validate(document)
    assert document["openapi"].startswith("3.")


def test_bearer_security_and_servers(app, document):
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "/api/auth/mini-program" in scheme["description"]
    assert document["security"] == [{"bearer": []}]
    assert document["servers"] == [{"url": app.config["PUBLIC_BASE_URL"].rstrip("/"), "description": "本服务"}]
    for path, method, operation in operations(document):
        if path.startswith(PUBLIC_PATHS):
            assert operation["security"] == [], (method, path)  # signing in, the PC pages: no bearer token
        else:
            assert "security" not in operation and "401" in operation["responses"], (method, path)


def test_one_error_shape_with_a_string_code(document):
    schemas, responses = document["components"]["schemas"], document["components"]["responses"]
    assert schemas["ApiError"]["properties"]["code"]["type"] == "string"
    assert schemas["ApiError"]["required"] == ["code", "message"]
    assert set(schemas["FieldErrors"]["required"]) == {"code", "message"}
    assert schemas["FieldErrors"]["properties"]["errors"]["additionalProperties"]["type"] == "string"
    for name, response in responses.items():
        assert re.fullmatch(r"Error\d{3}", name), name  # flask-smorest's own (a numeric `code`) never appears
        assert re.search(r"[\u4e00-\u9fff]", response["description"])
        schema = response["content"]["application/json"]["schema"]["$ref"]
        assert schema == ("#/components/schemas/FieldErrors" if name == "Error400" else "#/components/schemas/ApiError")


def test_every_operation_lists_the_answers_the_floor_gives(document):
    assert len(list(operations(document))) >= 45
    for path, method, operation in operations(document):
        statuses = set(operation["responses"])
        label = f"{method.upper()} {path}"
        assert "default" not in statuses and "422" not in statuses, label
        assert any(status.startswith("2") for status in statuses), label
        errors = {status for status in statuses if status[0] in "45"}
        assert errors <= ERROR_STATUSES and "503" in errors, label
        for status in errors:
            assert operation["responses"][status] == {"$ref": f"#/components/responses/Error{status}"}, label
        if "{" in path:
            assert "404" in errors, label
        if "requestBody" in operation:
            assert {"400", "413"} <= errors, label
        if operation.get("parameters") or "requestBody" in operation:
            assert "400" in errors, label


def test_rate_limited_operations_document_429(document):
    limited = {f"{method.upper()} {path}" for path, method, operation in operations(document)
               if "429" in operation["responses"]}
    assert {"POST /api/orders/{order_id}/transfer", "POST /api/orders/{order_id}/wechat-pay", "POST /api/identity",
            "POST /api/binding/claims", "POST /api/auth/mini-program", "POST /api/invoices",
            "POST /api/replacements/lookup", "POST /pc/api/bind/start"} <= limited
    assert "GET /api/orders/{order_id}/transfer" not in limited  # the limit is on choosing the code only


def test_the_mini_program_has_transfer_cancel_and_refund(document):
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/api/orders/{order_id}/transfer"])
    assert "post" in paths["/api/orders/{order_id}/cancel"] and "post" in paths["/api/orders/{order_id}/refund"]
    transfer = paths["/api/orders/{order_id}/transfer"]["get"]["responses"]["200"]["content"]["application/json"]
    assert transfer["schema"] == {"$ref": "#/components/schemas/Transfer"}
    properties = document["components"]["schemas"]["Transfer"]["properties"]
    assert {"transfer_code", "payee", "rules", "payer_name", "amount_fen"} <= set(properties)


# --- /api/docs ---------------------------------------------------------------------------------------------------


def test_the_docs_page_loads_swagger_ui_from_our_own_files(app, client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert scripts and all('src="/' in attributes for attributes in scripts)  # no inline script, nothing outside
    assert 'src="/api/docs/assets/swagger-ui-bundle.js"' in page.text and 'src="/static/api-docs.js"' in page.text
    assert 'href="/api/docs/assets/swagger-ui.css"' in page.text and 'data-spec-url="/api/openapi.json"' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for name, mimetype in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        asset = client.get(f"/api/docs/assets/{name}")
        assert asset.status_code == 200 and asset.mimetype == mimetype
        assert asset.data == Path(app.config["SWAGGER_UI_DIR"], name).read_bytes()
    for name in ("LICENSE", "index.html", "../swagger-ui.css", "swagger-ui.js.map"):
        assert client.get(f"/api/docs/assets/{name}").status_code == 404


def test_without_its_files_the_docs_page_says_how_to_install_them(app, client, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "SWAGGER_UI_DIR", str(tmp_path))
    page = client.get("/api/docs")
    assert page.status_code == 503 and "尚未安装" in page.text and "<script" not in page.text
