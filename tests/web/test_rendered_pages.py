"""Every H5 and PC page, as a customer with real data sees it, renders without literal template syntax or a
"None" shown as a value (issue 20). The pages are found in the URL map, so a page added later is checked too."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.support.applications import ORGANISATION, paid_for_review
from tests.support.factories import bind, contacts, make_certificate
from tests.support.flows import pc_confirm, pc_get_code, phone_claim, sign_in
from wxbackend.addresses.service import AddressInput, create_address
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.invoices.service import ProfileInput, create_profile
from wxbackend.orders.models import OrderStatus
from wxbackend.orders.service import cancel_order, create_group, create_order, mark_group_paid, mark_paid
from wxbackend.users.models import User
from wxbackend.users.service import open_pc_login, scan_pc_login

NAME = "页面检查"
SKIPPED = {  # GET rules under /h5 and /pc that are not pages
    "users_h5.dev_sign_in": "the development sign-in form, shown before signing in (checked below)",
    "binding_pc_api.BindSession": "JSON for the PC page",
    "helper_releases_pc.download_file": "a helper build, not HTML",
    "applications_h5.form_pdf": "the printable application form, a PDF (read back in tests/applications)",
    "applications_h5.liveness_status": "JSON the PC's liveness page polls",
    "users_h5.pc_login_scan": "the 扫码登录 QR link: claims the login and redirects (tests/users)",
}
TEMPLATE_SYNTAX = ("{{", "}}", "{%", "%}", "{#", "#}")


def page_rules(app) -> list:
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/h5", "/pc")) or "GET" not in rule.methods:
            continue
        if rule.endpoint.endswith(".static") or rule.rule.endswith(".json") or rule.rule.startswith("/pc/api/"):
            continue
        if rule.endpoint in SKIPPED:
            continue
        rules.append(rule)
    return sorted(rules, key=lambda r: r.rule)


def problems_in(html: str) -> list[str]:
    """Literal template syntax anywhere outside <script> blocks, and "None" shown as text or as a field's value."""
    found = []
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    outside = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S)
    found += [f"template syntax {mark!r}" for mark in TEMPLATE_SYNTAX if mark in outside]
    found += [f"template syntax in a script: {s[:80]!r}" for s in scripts if "{{" in s or "{%" in s]
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<style\b[^>]*>.*?</style>", "", outside, flags=re.S))
    found += [f"None in the text: …{m.string[max(0, m.start() - 40):m.end() + 40]!r}…"
              for m in re.finditer(r"\bNone\b", text)]
    found += [f"None as an attribute: {m.group(0)!r}" for m in re.finditer(r'\b[\w-]+="None"', outside)]
    return found


@pytest.fixture
def customer(client, pc, helper, demo_key, db_session, invoice_files):
    """A signed-in customer with everything the pages show: the demo key bound for real (PC and phone, with its
    应用), orders in several statuses, an invoice profile, an address, and a binding session just claimed."""
    csrf = sign_in(client, NAME)
    user = db_session.scalar(sa.select(User).where(User.openid == f"dev-{NAME}"))
    user.identity_verified = True
    db_session.flush()
    bound = pc_get_code(pc, helper)
    claimed = phone_claim(client, csrf, bound.code, bound.last4)
    assert claimed.status_code in (200, 201), claimed.json
    assert pc_confirm(pc, bound).status_code == 200
    pending = create_order(user.id, demo_key.certificate.id, 2, agreement_version=SERVICE_AGREEMENT.version,
                           contacts=contacts(invoice_delivery="paper"))  # 待支付, with 经办人/收件人
    paid_cert, cancelled_cert = make_certificate("广州已缴费有限公司"), make_certificate("广州已撤销有限公司")
    app_cert = make_certificate("广州应用续期有限公司", expires_in_days=200, apps=(("广东省政府采购网", 30),))
    for cert in (paid_cert, cancelled_cert, app_cert):
        bind(user, cert)
    paid = create_order(user.id, paid_cert.id, 1)
    assert mark_paid(paid.id, "wechat", "test")  # 待制证
    cancelled = cancel_order(user.id, create_order(user.id, cancelled_cert.id, 1).id)
    completed = create_order(user.id, app_cert.id, 1, app_id=app_cert.apps[0].id)
    assert mark_paid(completed.id, "wechat", "test")  # 应用续期: 已完成 at once
    statuses = {o.status for o in (pending, paid, cancelled, completed)}
    assert statuses == {OrderStatus.PENDING_PAYMENT, OrderStatus.READY_TO_WRITE, OrderStatus.CANCELLED,
                        OrderStatus.COMPLETED}
    profile = create_profile(user.id, ProfileInput(
        title="广州某某科技有限公司", title_type="enterprise", tax_number="9144030071526726XG",
        email="finance@example.cn", bank_name="", bank_account="", address="", phone="", mobile=""))
    address = create_address(user.id, AddressInput(recipient="张三", province="广东省", city="广州市",
                                                   district="天河区", detail="天河路123号某某大厦10楼",
                                                   postcode="510000", mobile="13812345678"))
    waiting = pc_get_code(pc, helper)  # a second claim, left waiting for the PC: the wait page shows it
    claim = phone_claim(client, csrf, waiting.code, waiting.last4)
    assert claim.status_code in (200, 201), claim.json
    batch = [make_certificate(f"广州批量{n}有限公司") for n in range(4)]  # 批量续期: one group to pay, one paid
    for cert in batch:
        bind(user, cert)
    waiting_group = create_group(user.id, [(batch[0].id, 1), (batch[1].id, 2)])
    paid_group = create_group(user.id, [(batch[2].id, 1), (batch[3].id, 1)])
    assert mark_group_paid(paid_group.id, "wechat", "test")
    expired = make_certificate(ORGANISATION, expires_in_days=-10)  # the reviewed path: an application, 待审核
    bind(user, expired)
    application = paid_for_review(create_order(user.id, expired.id, 1))
    pc_login = open_pc_login("203.0.113.7", "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0")  # 扫码登录, just scanned
    scan_pc_login(user.id, pc_login.qr_token)
    db_session.commit()
    return {"application_id": application.id, "login_id": pc_login.login_id,
            "certificate_id": demo_key.certificate.id, "order_id": [pending.id, paid.id, cancelled.id, completed.id],
            "group_id": [waiting_group.id, paid_group.id],
            "profile_id": profile.id, "address_id": address.id, "session_id": waiting.session_id,
            "app_renew_url": f"/h5/certificates/{app_cert.id}/renew?app={app_cert.apps[0].id}"}


def urls_for(rule, ids: dict) -> list[str]:
    """The rule's URLs for every object of the user it takes (each order, so each status, is rendered)."""
    urls = [rule.rule]
    for argument in sorted(rule.arguments):
        values = ids[argument] if isinstance(ids[argument], list) else [ids[argument]]
        urls = [re.sub(rf"<(?:\w+:)?{argument}>", str(v), url) for url in urls for v in values]
    return urls


def test_every_page_renders_without_template_syntax_or_none(app, client, customer):
    rules = page_rules(app)
    endpoints = {r.endpoint for r in rules}
    assert {"users_h5.home", "certificates_h5.certificate", "orders_h5.order", "orders_h5.renew",
            "payments_h5.transfer", "invoices_h5.edit_profile", "addresses_h5.edit_address", "binding_h5.bind_wait",
            "renewal_pc.renew", "binding_pc.bind", "helper_releases_pc.download", "binding_site.index",
            "users_pc.home", "users_pc.login", "users_h5.pc_login_question"} <= endpoints
    checked, failures = [], {}
    for rule in rules:
        for url in urls_for(rule, customer):
            response = client.get(url)
            checked.append(url)
            if response.status_code in (301, 302, 303):
                continue  # a page that sends the user elsewhere (its target is a page checked here too)
            if response.status_code != 200:
                failures[url] = [f"status {response.status_code}"]
                continue
            assert response.mimetype == "text/html", url
            found = problems_in(response.text)
            if found:
                failures[url] = found
    assert failures == {}
    # the pages showed this user's data, not empty states
    assert "广东省政府采购网" in client.get(f"/h5/certificates/{customer['certificate_id']}").text
    listing = client.get("/h5/orders").text
    for label in ("待支付", "待制证", "已撤销", "已完成"):
        assert label in listing, label
    assert "天河路123号某某大厦10楼" in client.get(f"/h5/addresses/{customer['address_id']}/edit").text
    pending = client.get(f"/h5/orders/{customer['order_id'][0]}").text  # 经办人/收件人 masked, the breakdown
    assert "110***********002X" in pending and "139****1111" in pending and "纸质发票" in pending
    assert "11010519491231002X" not in pending and "体育西路100号" not in pending and 'id="fee-items"' in pending
    assert "9144030071526726XG" in client.get(f"/h5/invoice-profiles/{customer['profile_id']}/edit").text
    assert len(checked) >= len(rules) + 3  # every order of the four was rendered
    app_page = client.get(customer["app_renew_url"])  # 应用续期, and the bind page opened by a QR code
    assert app_page.status_code == 200 and "应用续期" in app_page.text and problems_in(app_page.text) == []
    assert problems_in(client.get("/h5/bind?qr=x").text) == []


def test_the_sign_in_form_renders_without_template_syntax(app):
    page = app.test_client().get("/h5/dev/sign-in")
    assert page.status_code == 200 and problems_in(page.text) == []


def test_the_checker_finds_what_it_looks_for():
    assert problems_in("<p>{{ order.no }}</p>") and problems_in("<p>{% if x %}</p>")
    assert problems_in("<dd>None</dd>") and problems_in('<input value="None">')
    assert problems_in("<p>有效 None 天</p>")
    assert problems_in('<script type="application/json">{"a": 1}</script><p>ok</p>') == []
    assert problems_in("<p>Nonetheless 无</p>") == []
