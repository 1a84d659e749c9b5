"""The mini-program's API for the reviewed application (bearer token), and the OpenAPI document describing it."""

from __future__ import annotations

import io
import json

import pytest

from tests.support.applications import expired_order, jpeg, materials, pass_liveness
from tests.support.factories import make_user
from tests.support.staff import make_staff
from wxbackend.applications import finance, service
from wxbackend.approvals import service as approvals
from wxbackend.orders.service import mark_paid
from wxbackend.web.auth import issue_api_token


@pytest.fixture
def stores(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    monkeypatch.setitem(app.config, "BANK_PAYOUT_LOCAL_FILE", str(tmp_path / "payouts.log"))
    return tmp_path


def bearer(user_id: int) -> dict:
    return {"Authorization": f"Bearer {issue_api_token(user_id)[0]}"}


def test_the_api_from_the_order_to_the_financial_verification(client, db_session, stores):
    order = expired_order()
    auth = bearer(order.user_id)
    started = client.post(f"/api/orders/{order.id}/application", headers=auth)
    assert started.status_code == 201, started.json
    a = started.json["id"]
    assert started.json["missing"][0] == "同意服务协议及敏感个人信息授权书"
    assert client.put(f"/api/applications/{a}/materials", json=materials(), headers=auth).json["code"] == \
        "consent_required"
    texts = client.get(f"/api/applications/{a}/agreement", headers=auth).json
    assert texts["consent_version"] == "2026-12-v1" and "敏感个人信息" in texts["consent"]
    assert client.post(f"/api/applications/{a}/agreement", json={"agreement": True, "consent": True},
                       headers=auth).status_code == 200
    bad = client.put(f"/api/applications/{a}/materials", json=materials(bank_account="x"), headers=auth)
    assert bad.status_code == 400 and bad.json["errors"]["bank_account"] == "基本户账号应为8至32位数字"
    saved = client.put(f"/api/applications/{a}/materials", json=materials(), headers=auth)
    assert saved.json["materials"]["bank_account"] == "6222***********0123"
    pdf = client.get(f"/api/applications/{a}/form.pdf", headers=auth)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    for kind in ("form", "licence"):
        up = client.post(f"/api/applications/{a}/uploads", data={"kind": kind, "file": (io.BytesIO(jpeg()), "x.gif")},
                         headers=auth, content_type="multipart/form-data")
        assert up.status_code == 201 and up.json["content_type"] == "image/jpeg"
    assert client.post(f"/api/applications/{a}/submit", headers=auth).json["code"] == "incomplete"
    pass_liveness(order.user_id, a)
    assert client.post(f"/api/applications/{a}/submit", headers=auth).json["status"] == "pending_payment"
    mark_paid(order.id, "wechat", "test")
    request = approvals.pending_request(service.REVIEW_KIND, a)
    for name, role in (("api_a", "auditor"), ("api_b", "auditor")):
        staff = make_staff(name, role)
        approvals.decide(request.id, staff.id, "approve", approvals.issue_nonce(request.id, staff.id))
    finance.pay(finance.latest(a).id)
    detail = client.get(f"/api/applications/{a}", headers=auth).json
    assert detail["status"] == "pending_fin_verification" and detail["verification"]["status"] == "awaiting_code"
    wrong = client.post(f"/api/applications/{a}/verification/code", json={"code": "99999x"}, headers=auth)
    assert wrong.status_code == 400 and wrong.json["tries_left"] == 2
    code = json.loads((stores / "payouts.log").read_text(encoding="utf-8").splitlines()[-1])["remark"][-6:]
    right = client.post(f"/api/applications/{a}/verification/code", json={"code": code}, headers=auth)
    assert right.status_code == 200 and right.json["ok"]
    listed = client.get("/api/applications?status=ready_to_write", headers=auth).json
    assert [x["id"] for x in listed] == [a]
    # someone else's token finds nothing
    other = bearer(make_user("别人").id)
    assert client.get(f"/api/applications/{a}", headers=other).status_code == 404
    assert client.get(f"/api/applications/{a}/form.pdf", headers=other).status_code == 404
    assert client.post(f"/api/applications/{a}/verification/code", json={"code": code},
                       headers=other).status_code == 404


def test_the_openapi_document_describes_the_application_endpoints(client, db_session):
    paths = client.get("/api/openapi.json").json["paths"]
    for path in ("/api/applications", "/api/applications/{application_id}/materials",
                 "/api/applications/{application_id}/verification/code", "/api/orders/{order_id}/application"):
        assert path in paths, path
