"""介质遗失补办 (issue 14 items 2–4) through the real services and routes: the serial lookup (what a user not bound to
the certificate may see), the fee with its 介质费, the replacement order and its application, the review, and what
approval does — the lost certificate revoked as keyCompromise with the time it was reported lost, the order 制证中,
the phones told. Hostile cases included."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography import x509

from tests.certificates.test_holds import Issued, crl_entry, reason_of
from tests.support.applications import ORGANISATION, materials, paid_for_review, ready_application
from tests.support.factories import bind, make_certificate, make_user
from tests.support.flows import sign_in
from tests.support.staff import make_staff
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.applications import replacement, service
from wxbackend.applications.models import ApplicationKind
from wxbackend.approvals import service as approvals
from wxbackend.ca.service import build_crl
from wxbackend.certificates import revocation
from wxbackend.certificates.models import Certificate, CertificateStatus
from wxbackend.core.errors import Conflict, NotFound
from wxbackend.core.outbox import OutboxEntry
from wxbackend.core.times import utcnow
from wxbackend.core.validation import InvalidFields
from wxbackend.orders.models import Order, OrderKind, OrderStatus
from wxbackend.orders.service import NotReplaceable, PriceChanged, create_order
from wxbackend.users.models import User
from wxbackend.web.auth import issue_api_token


@pytest.fixture
def stores(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "FILE_STORE_DIR", str(tmp_path / "files"))
    monkeypatch.setitem(app.config, "BANK_PAYOUT_LOCAL_FILE", str(tmp_path / "payouts.log"))
    return tmp_path


def lost_key(bound: bool = True):
    """A certificate our CA issued to ORGANISATION, and a verified user (bound to it, or knowing only its serial)."""
    issued = Issued(organisation=ORGANISATION)
    user = make_user()
    if bound:
        bind(user, issued.certificate)
    return issued, user


def approve(application_id: int, *names: str) -> None:
    request = approvals.pending_request(service.REVIEW_KIND, application_id)
    for name in names:
        staff = make_staff(name, "auditor")
        approvals.decide(request.id, staff.id, "approve", approvals.issue_nonce(request.id, staff.id))


def notices(db_session) -> list[tuple[int, str, dict]]:
    """The notices this unit of work recorded for sending (the outbox rows the worker will carry out)."""
    rows = db_session.scalars(sa.select(OutboxEntry).where(OutboxEntry.job == "notices.send_notice")).all()
    return [tuple(row.args) for row in rows]


# --- the lookup -------------------------------------------------------------------------------------------------


def test_a_bound_user_sees_the_certificate_and_the_fee_with_its_medium_part(db_session, stores):
    issued, user = lost_key()
    found = replacement.lookup(user.id, issued.certificate.serial)
    assert found.bound and found.organisation == ORGANISATION and found.refusal == ""
    assert (found.quote.amount_fen, found.quote.medium_fen) == (30000, 8000)
    assert found.quote.fee_detail == "补办介质 300.00元（证书服务费 220.00元 + 介质费 80.00元）"
    assert found.quote.new_not_after == issued.certificate.not_after  # REPLACEMENT_VALIDITY=keep


def test_someone_not_bound_sees_only_what_is_safe_and_serials_are_case_sensitive(db_session, stores):
    issued, stranger = lost_key(bound=False)
    found = replacement.lookup(stranger.id, issued.certificate.serial)
    assert not found.bound and found.organisation == "深圳******公司" and ORGANISATION not in found.organisation
    with pytest.raises(NotFound) as missing:
        replacement.lookup(stranger.id, issued.certificate.serial.lower())
    assert "区分大小写" in missing.value.message
    for odd in ("", " ", "x" * 65, "A" * 65, "\x00", "7A\x00", "7A 1B", None, 42, ["A"]):
        with pytest.raises(NotFound):
            replacement.lookup(stranger.id, odd)


def test_expired_revoked_and_superseded_certificates_are_not_replaced(db_session, stores):
    user = make_user()
    expired = make_certificate(ORGANISATION, expires_in_days=-3)
    assert "请办理过期证书续期" in replacement.lookup(user.id, expired.serial).refusal
    with pytest.raises(NotReplaceable):
        replacement.start(user.id, expired.serial)
    issued, _ = lost_key()
    revocation.revoke(issued.certificate.serial, "key_compromise", "staff:1")
    found = replacement.lookup(user.id, issued.certificate.serial)
    assert found.quote is None and found.refusal == "该证书已吊销，不能办理介质遗失补办"


def test_the_extend_policy_gives_a_year_within_the_issuing_ca(app, db_session, stores, monkeypatch):
    monkeypatch.setitem(app.config, "REPLACEMENT_VALIDITY", "extend")
    issued, user = lost_key()
    quote = replacement.lookup(user.id, issued.certificate.serial).quote
    assert abs(quote.new_not_after - (utcnow() + timedelta(days=365))) < timedelta(days=2)
    order = replacement.start(user.id, issued.certificate.serial, quote.amount_fen).order
    assert order.new_not_after == quote.new_not_after  # what the page showed is what the order gives


# --- the order and the application ----------------------------------------------------------------------------


def test_starting_makes_one_draft_replacement_order_at_the_fee_shown(db_session, stores):
    issued, user = lost_key()
    with pytest.raises(PriceChanged):
        replacement.start(user.id, issued.certificate.serial, 100)
    application = replacement.start(user.id, issued.certificate.serial, 30000)
    order = application.order
    assert application.kind == ApplicationKind.REPLACEMENT
    assert (order.kind, order.path, order.status, order.amount_fen) == (OrderKind.REPLACEMENT, "reviewed",
                                                                        OrderStatus.DRAFT, 30000)
    assert "介质费 80.00元" in order.fee_detail
    assert replacement.start(user.id, issued.certificate.serial, 30000).id == application.id  # the open one again
    other = make_user()
    with pytest.raises(Conflict) as taken:
        replacement.start(other.id, issued.certificate.serial, 30000)
    assert taken.value.code == "open_order_exists"
    with pytest.raises(Conflict):  # nor a renewal beside it
        create_order(user.id, issued.certificate.id, 1)


def test_a_stranger_types_the_organisation_and_nothing_reveals_it_first(db_session, stores):
    issued, stranger = lost_key(bound=False)
    application = replacement.start(stranger.id, issued.certificate.serial, 30000)
    service.agree(stranger.id, application.id, True, True)
    assert application.organisation_shown == "深圳******公司"
    assert application.order.subject == "深圳******公司"
    values = service.prefill(stranger.id, application)
    assert ORGANISATION not in json.dumps(values, ensure_ascii=False)
    with pytest.raises(InvalidFields) as refused:
        service.save_materials(stranger.id, application.id, materials(org_name="深圳另一家有限公司",
                                                                      bank_account_name="深圳另一家有限公司"))
    assert ORGANISATION not in json.dumps(refused.value.errors, ensure_ascii=False)
    assert refused.value.errors["org_name"] == "机构名称与该证书的所有者不一致，请按营业执照填写全称"
    service.save_materials(stranger.id, application.id, materials())
    assert application.organisation_shown == ORGANISATION  # typed in full and matching


# --- review and approval ----------------------------------------------------------------------------------------


def test_approval_revokes_the_held_certificate_as_key_compromise_from_when_it_was_reported(db_session, stores):
    issued, user = lost_key()
    other_phone = make_user()
    bind(other_phone, issued.certificate)
    hold = revocation.report_lost(user.id, issued.certificate.id)
    application = replacement.start(user.id, issued.certificate.serial, 30000)
    paid_for_review(application.order)
    assert application.order.status == OrderStatus.PENDING_REVIEW
    approve(application.id, "bx_a", "bx_b")
    db_session.expire_all()
    order = db_session.get(Order, application.order_id)
    assert order.status == OrderStatus.MAKING
    assert [e.to_status for e in order.events][-2:] == [OrderStatus.APPROVED, OrderStatus.MAKING]
    certificate = db_session.get(Certificate, issued.certificate.id)
    assert certificate.status == CertificateStatus.REVOKED
    entry = crl_entry(build_crl(), issued.x509)
    assert reason_of(entry) == x509.ReasonFlags.key_compromise
    invalidity = entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date
    assert abs(invalidity - hold.reported_at.replace(tzinfo=None)) < timedelta(seconds=1)  # DER keeps seconds
    sent = notices(db_session)
    assert (user.id, "audit_result", {"order_no": order.order_no, "result": "审核通过，新介质制作中"}) in sent
    assert any(n[0] == other_phone.id and n[1] == "certificate_revoked" for n in sent)


def test_a_certificate_nobody_could_hold_is_revoked_from_the_first_submission(db_session, stores):
    issued, stranger = lost_key(bound=False)
    application = replacement.start(stranger.id, issued.certificate.serial, 30000)
    paid_for_review(application.order)
    submitted = application.revisions[0].submitted_at
    assert db_session.get(Certificate, issued.certificate.id).status == CertificateStatus.VALID  # not before review
    approve(application.id, "bx_c", "bx_d")
    entry = crl_entry(build_crl(), issued.x509)
    invalidity = entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date
    assert abs(invalidity - submitted.replace(tzinfo=None)) < timedelta(seconds=1)
    assert reason_of(entry) == x509.ReasonFlags.key_compromise


def test_a_rejection_revokes_nothing_and_the_user_may_ask_for_the_refund(app, client, db_session, stores):
    issued, user = lost_key()
    application = replacement.start(user.id, issued.certificate.serial, 30000)
    paid_for_review(application.order)
    request = approvals.pending_request(service.REVIEW_KIND, application.id)
    staff = make_staff("bx_e", "auditor")
    approvals.decide(request.id, staff.id, "reject", approvals.issue_nonce(request.id, staff.id),
                     reason="营业执照与机构名称不符", fields=["org_name"])
    db_session.expire_all()
    assert db_session.get(Order, application.order_id).status == OrderStatus.REJECTED
    assert db_session.get(Certificate, issued.certificate.id).status == CertificateStatus.VALID
    assert crl_entry(build_crl(), issued.x509) is None


# --- the pages and the API ----------------------------------------------------------------------------------------


def signed_in(client, db_session, name: str) -> tuple[User, str]:
    csrf = sign_in(client, name)
    user = db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))
    user.identity_verified = True
    db_session.flush()
    return user, csrf


def test_the_phone_looks_up_a_serial_sees_the_fee_and_starts(client, db_session, stores):
    user, csrf = signed_in(client, db_session, "补办人")
    issued = Issued(organisation=ORGANISATION)
    bind(user, issued.certificate)
    revocation.report_lost(user.id, issued.certificate.id)
    detail = client.get(f"/h5/certificates/{issued.certificate.id}").text
    assert 'id="apply-replacement"' in detail and issued.certificate.serial in detail
    page = client.get(f"/h5/replacement?serial={issued.certificate.serial}").text
    assert ORGANISATION in page and "¥300.00" in page and "介质费（新U-KEY）" in page and "¥80.00" in page
    assert "已挂失" in page
    missing = client.post("/h5/replacement", data={"csrf_token": csrf, "serial": "712C1B5A584A1BBE"}).text
    assert "没有找到该证书，请核对证书序列号" in missing
    assert 'id="agree-agreement"' in page  # the first order of any kind: the service agreement in full first
    unticked = client.post("/h5/replacement/start", data={"csrf_token": csrf, "serial": issued.certificate.serial,
                                                          "amount_fen": "30000"}, follow_redirects=True)
    assert "请阅读并勾选“我接受电子认证服务协议内容”" in unticked.text
    assert db_session.scalar(sa.select(sa.func.count(replacement.Application.id))) == 0
    started = client.post("/h5/replacement/start", data={"csrf_token": csrf, "serial": issued.certificate.serial,
                                                         "amount_fen": "30000", "agreement": "yes",
                                                         "agreement_version": SERVICE_AGREEMENT.version})
    assert started.status_code == 302 and started.location.endswith("/agreement")
    application = db_session.scalar(sa.select(replacement.Application).where(
        replacement.Application.user_id == user.id))
    assert application.kind == "replacement" and application.order.amount_fen == 30000
    changed = client.post("/h5/replacement/start", data={"csrf_token": csrf, "serial": issued.certificate.serial,
                                                         "amount_fen": "abc"}, follow_redirects=True)
    assert changed.status_code == 200  # the open application again, whatever the amount field says
    listed = client.get("/h5/applications").text
    assert application.application_no in listed and "介质遗失补办" in listed


def test_a_strangers_pages_mask_the_organisation(client, db_session, stores):
    stranger, csrf = signed_in(client, db_session, "陌生补办人")
    issued = Issued(organisation=ORGANISATION)
    page = client.post("/h5/replacement", data={"csrf_token": csrf, "serial": issued.certificate.serial}).text
    assert ORGANISATION not in page and "深圳******公司" in page and 'id="not-bound"' in page
    client.post("/h5/replacement/start", data={"csrf_token": csrf, "serial": issued.certificate.serial,
                                               "amount_fen": "30000", "agreement": "yes",
                                               "agreement_version": SERVICE_AGREEMENT.version})
    assert db_session.scalar(sa.select(sa.func.count(replacement.Application.id))) == 1
    for path in ("/h5/applications", "/h5/orders"):
        assert ORGANISATION not in client.get(path).text, path


def test_the_api_looks_up_and_starts_with_the_same_rules(client, db_session, stores):
    issued, stranger = lost_key(bound=False)
    auth = {"Authorization": f"Bearer {issue_api_token(stranger.id)[0]}"}
    found = client.post("/api/replacements/lookup", json={"serial": issued.certificate.serial}, headers=auth).json
    assert found["organisation"] == "深圳******公司" and found["bound"] is False and found["replaceable"] is True
    assert found["quote"]["amount_fen"] == 30000 and found["quote"]["medium_yuan"] == "80.00"
    missing = client.post("/api/replacements/lookup", json={"serial": "nope"}, headers=auth)
    assert missing.status_code == 404 and missing.json["code"] == "certificate_not_found"
    assert client.post("/api/replacements/lookup", json={}, headers=auth).status_code == 400
    wrong = client.post("/api/replacements", json={"serial": issued.certificate.serial, "amount_fen": 1},
                        headers=auth)
    assert wrong.status_code == 409 and wrong.json["code"] == "price_changed"
    started = client.post("/api/replacements", json={"serial": issued.certificate.serial, "amount_fen": 30000},
                          headers=auth)
    assert started.status_code == 201 and started.json["kind"] == "replacement"
    assert started.json["organisation"] == "深圳******公司"
    assert client.get(f"/api/applications/{started.json['id']}", headers=auth).status_code == 200


def test_ready_application_helper_works_for_a_replacement(db_session, stores):
    issued, user = lost_key()
    application = replacement.start(user.id, issued.certificate.serial, 30000)
    assert ready_application(application.order).id == application.id
    assert service.missing_parts(application) == []


def test_the_new_keys_address_is_chosen_from_my_addresses_on_the_page_and_the_api(client, db_session, stores):
    from tests.shipping.support import make_address

    user, csrf = signed_in(client, db_session, "选地址")
    issued = Issued(organisation=ORGANISATION)
    bind(user, issued.certificate)
    application = replacement.start(user.id, issued.certificate.serial, 30000,
                                    agreement_version=SERVICE_AGREEMENT.version)
    assert "选择新介质的邮寄地址" in service.missing_parts(application)
    page = client.get(f"/h5/applications/{application.id}/address").text
    assert 'id="no-address"' in page
    assert f'href="/h5/addresses/new?next=/h5/applications/{application.id}/address"' in page
    home = make_address(user.id)
    stranger_address = make_address(make_user().id)
    refused = client.post(f"/h5/applications/{application.id}/address",
                          data={"csrf_token": csrf, "address_id": str(stranger_address.id)})
    assert refused.status_code == 404  # someone else's address
    chosen = client.post(f"/h5/applications/{application.id}/address",
                         data={"csrf_token": csrf, "address_id": str(home.id)})
    assert chosen.status_code == 302
    assert "选择新介质的邮寄地址" not in service.missing_parts(application)
    shown = client.get(f"/h5/applications/{application.id}").text
    assert 'id="step-address"' in shown and "已选择" in shown
    auth = {"Authorization": f"Bearer {issue_api_token(user.id)[0]}"}
    detail = client.get(f"/api/applications/{application.id}", headers=auth).json
    assert detail["shipping_address"] == {"recipient": "李四", "mobile": "139****5678",
                                          "address": "广东省深圳市南山区科技园路8号某某大厦3楼"}
    other = make_address(user.id, recipient="王五")
    moved = client.put(f"/api/applications/{application.id}/address", json={"address_id": other.id}, headers=auth)
    assert moved.status_code == 200 and moved.json["shipping_address"]["recipient"] == "王五"
    assert client.put(f"/api/applications/{application.id}/address", json={"address_id": stranger_address.id},
                      headers=auth).status_code == 404


def test_adding_an_address_from_the_application_comes_back_to_it(client, db_session, stores):
    user, csrf = signed_in(client, db_session, "新地址")
    back = "/h5/applications/1/address"
    for target, lands in ((back, back), ("//evil.example/x", "/h5/addresses"),
                          ("https://evil.example", "/h5/addresses")):
        saved = client.post(f"/h5/addresses/new?next={target}", data={
            "csrf_token": csrf, "recipient": "李四", "mobile": "13912345678", "province": "广东省", "city": "深圳市",
            "district": "南山区", "detail": "科技园路8号", "postcode": "518000"})
        assert saved.status_code == 302 and saved.location.endswith(lands), (target, saved.location)


def test_serial_lookups_are_limited_per_user_on_the_page_and_the_api(app, client, db_session, stores, monkeypatch):
    monkeypatch.setitem(app.config, "SERIAL_LOOKUP_LIMIT", "3 per hour")
    user, csrf = signed_in(client, db_session, "查序列号")
    guesses = [client.get(f"/h5/replacement?serial=712C1B5A584A1B{n:02X}") for n in range(2)]
    guesses.append(client.post("/h5/replacement", data={"csrf_token": csrf, "serial": "712C1B5A584A1BFF"}))
    assert [g.status_code for g in guesses] == [200, 200, 200]
    refused = client.get("/h5/replacement?serial=712C1B5A584A1B10")
    assert refused.status_code == 429 and "操作过于频繁" in refused.text
    auth = {"Authorization": f"Bearer {issue_api_token(user.id)[0]}"}
    api = client.post("/api/replacements/lookup", json={"serial": "712C1B5A584A1B11"}, headers=auth)
    assert api.status_code == 429 and api.json["code"] == "too_many_requests"  # one budget for both channels
