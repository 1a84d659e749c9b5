"""Phone pages rendered by the backend (the browser test drives them for real; these check content and rules)."""

import re
from pathlib import Path

import sqlalchemy as sa

from tests.support.flows import sign_in
from wxbackend.certificates.models import Binding


def bind_directly(db_session, user_name, certificate):
    from wxbackend.users.service import dev_user

    user = dev_user(user_name)
    db_session.add(Binding(user_id=user.id, certificate_id=certificate.id))
    db_session.flush()
    return user


def test_pages_need_sign_in_and_dev_sign_in_is_development_only(app, client, monkeypatch):
    response = client.get("/h5/certificates")  # an official account is configured: WeChat OAuth
    assert response.status_code == 302 and "/connect/oauth2/authorize?" in response.headers["Location"]
    monkeypatch.setitem(app.config, "WECHAT_APP_ID", "")  # none: the development sign-in stands in
    response = client.get("/h5/certificates")
    assert response.status_code == 302 and "/h5/dev/sign-in" in response.headers["Location"]
    monkeypatch.setitem(app.config, "DEV_SIGN_IN", False)
    assert client.get("/h5/dev/sign-in").status_code == 404
    refused = client.get("/h5/certificates")
    assert refused.status_code == 401 and "请在微信中打开" in refused.text


def test_home_has_the_tiles_and_each_opens_a_page(client, db_session):
    sign_in(client, "张三")
    home = client.get("/h5/").text
    for title in ("待办事项", "我的受理单", "我的数字证书", "我的发票", "我的地址", "证书绑定", "发票信息管理",
                  "我的业务单", "介质遗失补办", "到期提醒"):
        assert title in home
    links = re.findall(r'<a class="grid" href="([^"]+)"', home)
    assert len(links) == 10 and all(client.get(link).status_code == 200 for link in links)
    assert client.get("/h5/soon/invoices").status_code == 404  # no "coming soon" pages


def test_certificate_list_and_detail_show_what_the_operator_needs(client, db_session, demo_key):
    bind_directly(db_session, "张三", demo_key.certificate)
    sign_in(client, "张三")
    listing = client.get("/h5/certificates").text
    assert "广州某某科技有限公司" in listing and "有效期至" in listing and demo_key.serial[-4:] in listing
    detail = client.get(f"/h5/certificates/{demo_key.certificate.id}").text
    for expected in ("机构名称", "广州某某科技有限公司", "法定代表人", "张三", "所在城市", "广州市", "省份", "广东省",
                     "电子邮件", "it@example.cn", "有效期", "有效", "我的应用", "广东省政府采购网", "到期时间",
                     "解除绑定"):
        assert expected in detail, expected


def test_unbind_needs_the_csrf_token_and_removes_only_this_users_binding(app, client, db_session, demo_key):
    bind_directly(db_session, "张三", demo_key.certificate)
    bind_directly(db_session, "王五", demo_key.certificate)
    csrf = sign_in(client, "张三")
    url = f"/h5/certificates/{demo_key.certificate.id}/unbind"
    assert client.post(url).status_code == 400
    done = client.post(url, data={"csrf_token": csrf}, follow_redirects=True)
    assert "已解除绑定" in done.text and "您还没有绑定数字证书" in done.text
    remaining = db_session.scalars(sa.select(Binding).where(Binding.status == "active")).all()
    assert len(remaining) == 1


def test_bind_form_errors_are_chinese_and_the_form_keeps_working(client, db_session):
    csrf = sign_in(client, "张三")
    page = client.post("/h5/bind", data={"csrf_token": csrf, "code": "12ab", "last4": ""})
    assert "请输入电脑上显示的8位数字绑定码" in page.text and "请输入介质号后四位" in page.text
    refused = client.post("/h5/bind", data={"csrf_token": csrf, "code": "12345678", "last4": "abcd"})
    assert refused.status_code == 302 and refused.headers["Location"] == "/h5/bind"  # post, redirect, get
    page = client.get(refused.headers["Location"])
    assert "绑定码错误或已过期" in page.text and 'name="code"' in page.text


def test_openapi_document_is_generated_from_the_schemas(client):
    spec = client.get("/api/openapi.json").json
    assert spec["info"]["title"] == "数安CA管家 API"
    for path in ("/api/certificates", "/api/certificates/{certificate_id}", "/api/binding/claims",
                 "/pc/api/bind/start", "/pc/api/bind/code", "/pc/api/bind/sessions/{session_id}/confirm"):
        assert path in spec["paths"], path
    detail = spec["components"]["schemas"]["CertificateDetail"]["properties"]
    assert {"organisation", "legal_representative", "apps", "not_after"} <= set(detail)
    assert spec["components"]["schemas"]["ApiError"]["required"] == ["code", "message"]


def test_unknown_api_paths_and_methods_are_json(client):
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.json["message"] == "页面不存在"
    wrong = client.put("/pc/api/bind/start", json={})
    assert wrong.status_code == 405 and set(wrong.json) == {"code", "message"}


def test_an_expired_certificate_starts_the_reviewed_renewal_from_its_renew_page(client, db_session, app):
    from tests.support.factories import bind, make_certificate
    from wxbackend.users.models import User

    sign_in(client, "过期")
    user = db_session.scalar(sa.select(User).where(User.openid == "dev-过期"))
    user.identity_verified = True
    certificate = make_certificate(expires_in_days=-30)
    bind(user, certificate)
    page = client.get(f"/h5/certificates/{certificate.id}/renew").text
    assert 'id="reviewed-path"' in page and "需在线提交续期申请资料" in page and "即将" not in page
    assert "开始办理过期证书续期" in page and "¥300.00" in page
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    from tests.support.factories import contacts_json
    from wxbackend.agreements.service import SERVICE_AGREEMENT

    created = client.post(f"/h5/certificates/{certificate.id}/renew?years=1", data={
        "csrf_token": csrf.group(1), "years": "1", "shown_amount_fen": "30000", "agreement": "y",
        "agreement_version": SERVICE_AGREEMENT.version, **contacts_json()})
    assert created.status_code == 302
    order_page = client.get(created.location).text
    assert "编辑中" in order_page and 'id="open-application"' in order_page


def test_every_order_status_has_a_badge_colour_of_its_own_meaning():
    from wxbackend.orders.models import OrderStatus

    css = (Path(__file__).resolve().parents[2] / "wxbackend/web/static/h5.css").read_text()
    missing = [status.value for status in OrderStatus if f".badge-order-{status.value}" not in css]
    assert missing == []
