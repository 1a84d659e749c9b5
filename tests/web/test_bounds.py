"""Integers a client can send, past 2⁶³, zero or negative: a clear 404 (path) or 400 (body, query), never a 500."""

import pytest

from tests.support.factories import contacts_json, make_user
from wxbackend.web.auth import issue_api_token
from wxbackend.web.bounds import MAX_ID, IdConverter

HOSTILE_IDS = [2**31, 2**63, 2**64, 10**40, 0]


def int_routes(app):
    """Every rule with an `<int:…>` part, and the methods it answers."""
    found = []
    for rule in app.url_map.iter_rules():
        names = [name for name, converter in rule._converters.items() if isinstance(converter, IdConverter)]
        if names:
            found.append((rule, names, sorted(rule.methods - {"HEAD", "OPTIONS"})))
    return found


@pytest.fixture
def bearer(app, db_session):
    user = make_user()
    db_session.commit()
    token, _ = issue_api_token(user.id)
    return {"Authorization": f"Bearer {token}"}


def test_every_int_route_uses_the_bounded_converter(app):
    plain = [rule.rule for rule in app.url_map.iter_rules() if "<int:" in rule.rule
             and not all(isinstance(converter, IdConverter) for converter in rule._converters.values()
                         if "Integer" in type(converter).__name__)]
    assert plain == []
    assert len(int_routes(app)) >= 40


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_ids_past_bigint_or_zero_in_any_path_are_404(app, client, bearer, value):
    for rule, names, methods in int_routes(app):
        path = rule.rule
        for name in names:
            path = path.replace(f"<int:{name}>", str(value))
        for method in methods:
            response = client.open(path, method=method, headers=bearer)
            # 405: another route (a text part, e.g. a 受理单号) has this path for other methods
            assert response.status_code in (404, 405), (method, path, response.status_code)
            if response.status_code == 405:
                continue
            if path.startswith(("/api/", "/pc/api/")):
                assert response.json == {"code": "not_found", "message": "页面不存在"}
            else:
                assert "页面不存在" in response.text


def test_the_largest_id_is_simply_not_found(client, bearer):
    response = client.get(f"/api/orders/{MAX_ID}", headers=bearer)
    assert response.status_code == 404 and response.json["code"] == "not_found"
    negative = client.get("/api/orders/-1", headers=bearer)
    assert negative.status_code == 404


@pytest.mark.parametrize("body", [
    {"certificate_id": 2**64, "years": 1},
    {"certificate_id": 2**31, "years": 1},
    {"certificate_id": 1, "years": 1, "app_id": 2**63},
    {"certificate_id": 1, "years": 1, "shown_amount_fen": -(2**70)},
    {"certificate_id": 0, "years": 1},
    {"certificate_id": -5, "years": 1},
    {"certificate_id": 1, "years": 10**30},
])
def test_out_of_range_integers_in_an_order_body_are_400(client, bearer, body):
    response = client.post("/api/orders", json={**body, "contacts": contacts_json()}, headers=bearer)
    assert response.status_code == 400, response.json
    assert response.json["code"] == "invalid_request" and response.json["message"] == "提交的内容有误"


@pytest.mark.parametrize("body", [{"order_ids": [2**64]}, {"order_ids": [1], "profile_id": 2**63},
                                  {"order_ids": [0]}])
def test_out_of_range_ids_in_an_invoice_request_are_400(client, bearer, body):
    response = client.post("/api/invoices", json=body, headers=bearer)
    assert response.status_code == 400, response.json
    assert response.json["code"] == "invalid_request"


def test_out_of_range_app_id_in_a_quote_query_is_400(client, bearer):
    response = client.get(f"/api/certificates/1/quote?app_id={2**64}", headers=bearer)
    assert response.status_code == 400 and response.json["code"] == "invalid_request"


def test_h5_renew_page_with_a_huge_app_id_is_not_a_server_error(app, db_session):
    from tests.support.flows import sign_in

    client = app.test_client()
    sign_in(client, "张三")
    response = client.get(f"/h5/certificates/1/renew?app={2**64}")
    assert response.status_code < 500
