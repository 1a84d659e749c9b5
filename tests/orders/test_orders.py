"""Orders: eligibility, quotes, the identity check, creation, the status machine, scoping, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import bind, contacts_json, make_certificate, make_user, pending_order
from tests.support.flows import csrf_token, sign_in
from wxbackend.agreements.service import SERVICE_AGREEMENT
from wxbackend.certificates.models import CertificateStatus
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, NotFound
from wxbackend.core.times import SHANGHAI, utcnow
from wxbackend.identity.models import IdentityCheck
from wxbackend.identity.service import id_number_problem
from wxbackend.orders import transitions
from wxbackend.orders.eligibility import check_eligibility, new_validity
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.orders.service import create_order, lock_order, lock_orders, mark_paid, timeline, todo_items
from wxbackend.users.models import User

VALID_ID = "11010519491231002X"  # GB 11643's own example: check character X


def dev_user_named(db_session, name: str) -> User:
    return db_session.scalar(sa.select(User).where(User.openid == f"dev-{name}"))


def test_eligibility_codes_and_dates(db_session):
    now = utcnow()
    early = check_eligibility(make_certificate(expires_in_days=120), now=now)
    assert early.code == "not_yet" and not early.renewable
    opens = (now + timedelta(days=30)).astimezone(SHANGHAI).strftime("%Y年%m月%d日")
    assert early.message == f"尚未到续期时间，{opens}起可在线续期"
    assert check_eligibility(make_certificate(expires_in_days=60), now=now).path == "online"
    assert check_eligibility(make_certificate(expires_in_days=-100), now=now).path == "reviewed"
    too_long = check_eligibility(make_certificate(expires_in_days=-400), now=now)
    assert too_long.code == "expired_too_long" and not too_long.renewable
    revoked = make_certificate(expires_in_days=60)
    revoked.status = CertificateStatus.REVOKED
    assert check_eligibility(revoked).code == "revoked"
    superseded = make_certificate(expires_in_days=60)
    superseded.status = CertificateStatus.SUPERSEDED
    assert check_eligibility(superseded).code == "superseded"


def test_new_validity_is_old_not_after_plus_years():
    old = datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)
    assert new_validity(old, 1) == datetime(2027, 12, 31, 15, 59, 59, tzinfo=UTC)
    assert new_validity(old, 5) == datetime(2031, 12, 31, 15, 59, 59, tzinfo=UTC)
    assert new_validity(datetime(2028, 2, 29, tzinfo=UTC), 1) == datetime(2029, 2, 28, tzinfo=UTC)


def test_id_number_check_digit():
    assert id_number_problem(VALID_ID) is None
    assert id_number_problem("110105194912310021") == "身份证号码校验位不正确，请核对"
    assert id_number_problem("110105194913310028") == "身份证号码中的出生日期无效"
    assert id_number_problem("1101051949123100") == "身份证号码应为18位，最后一位可以是X"


def test_identity_then_order_through_the_api(client, db_session):
    csrf = sign_in(client, "李四")
    user = dev_user_named(db_session, "李四")
    cert = make_certificate(expires_in_days=60)
    bind(user, cert)
    headers = {"X-CSRFToken": csrf}
    quote = client.get(f"/api/certificates/{cert.id}/quote?years=2").json
    assert quote["eligibility"]["code"] == "window_open" and quote["amount_fen"] == 60000
    assert quote["new_not_after"].startswith(new_validity(cert.not_after, 2).strftime("%Y-%m-%dT%H:%M"))

    needs = client.post("/api/orders", json={"certificate_id": cert.id, "years": 2, "contacts": contacts_json()},
                        headers=headers)
    assert needs.status_code == 403 and needs.json["code"] == "identity_required"

    bad = client.post("/api/identity", json={"name": "李四", "id_number": "110105194912310021",
                                             "mobile": "13812345678", "consent": True}, headers=headers)
    assert bad.status_code == 400 and bad.json["message"] == "身份证号码校验位不正确，请核对"
    no_consent = client.post("/api/identity", json={"name": "李四", "id_number": VALID_ID, "mobile": "13812345678",
                                                    "consent": False}, headers=headers)
    assert no_consent.status_code == 400 and "同意" in no_consent.json["message"]
    ok = client.post("/api/identity", json={"name": "李四", "id_number": VALID_ID, "mobile": "13812345678",
                                            "consent": True}, headers=headers)
    assert ok.status_code == 201
    assert ok.json == {"name": "李四", "id_number_masked": "110***********002X", "mobile_masked": "138****5678",
                       "result": "passed"}

    no_agreement = client.post("/api/orders", json={"certificate_id": cert.id, "years": 2,
                                                    "contacts": contacts_json()}, headers=headers)
    assert no_agreement.status_code == 400 and no_agreement.json["code"] == "agreement_required"
    assert "电子认证服务协议" in no_agreement.json["errors"]["agreement"]
    version = client.get("/api/agreements/service").json["version"]
    created = client.post("/api/orders", json={"certificate_id": cert.id, "years": 2, "agreement_version": version,
                                               "contacts": contacts_json()}, headers=headers)
    assert created.status_code == 201, created.json
    order = created.json
    assert order["status"] == "pending_payment" and order["amount_fen"] == 60000
    assert [s["done"] for s in order["steps"]] == [True, False, False, False, False]
    again = client.post("/api/orders", json={"certificate_id": cert.id, "years": 1, "contacts": contacts_json()},
                        headers=headers)
    assert again.status_code == 409 and again.json["code"] == "open_order_exists"


def test_database_rows_hold_no_plaintext_id_number_or_mobile(client, db_session):
    csrf = sign_in(client, "王五")
    client.post("/api/identity", json={"name": "王五", "id_number": VALID_ID, "mobile": "13900001111",
                                       "consent": True}, headers={"X-CSRFToken": csrf})
    row = db_session.execute(sa.text("SELECT * FROM identity_checks")).mappings().one()
    dumped = repr(dict(row)).encode() + b"".join(v for v in row.values() if isinstance(v, bytes))
    assert VALID_ID.encode() not in dumped and b"13900001111" not in dumped
    assert row["id_number_masked"] == "110***********002X" and row["consent_version"]
    audit = db_session.execute(sa.text("SELECT detail FROM audit_logs WHERE action = 'identity.check'")).scalar()
    assert VALID_ID not in repr(audit)


def test_not_yet_renewable_says_when(client, db_session):
    sign_in(client, "赵六")
    user = dev_user_named(db_session, "赵六")
    user.identity_verified = True
    cert = make_certificate(expires_in_days=120)
    bind(user, cert)
    page = client.get(f"/h5/certificates/{cert.id}/renew").text
    assert "尚未到续期时间" in page and "起可在线续期" in page and 'id="create-order"' not in page
    with pytest.raises(Exception) as refused:
        create_order(user.id, cert.id, 1)
    assert getattr(refused.value, "code", "") == "not_yet"


def test_expired_certificate_goes_to_the_reviewed_path(db_session):
    user = make_user()
    cert = make_certificate(expires_in_days=-30)
    bind(user, cert)
    order = create_order(user.id, cert.id, 1)
    assert order.status == OrderStatus.DRAFT and order.path == "reviewed"
    assert "审核" in order.events[0].note


def test_users_see_only_their_own_orders(client, db_session):
    order_of_a = pending_order()
    sign_in(client, "乙")
    assert client.get(f"/api/orders/{order_of_a.id}").status_code == 404
    assert client.get("/api/orders").json == []
    assert client.get(f"/h5/orders/{order_of_a.id}").status_code == 404
    csrf = client.get("/h5/").text.split('<meta name="csrf-token" content="')[1].split('"')[0]
    assert client.post(f"/api/orders/{order_of_a.id}/cancel", headers={"X-CSRFToken": csrf}).status_code == 404
    assert db_session.get(Order, order_of_a.id).status == OrderStatus.PENDING_PAYMENT


def test_status_machine_refuses_illegal_moves_and_records_every_change(db_session):
    order = pending_order()
    with pytest.raises(Conflict) as refused:
        transitions.move(order, OrderStatus.COMPLETED, "test")
    assert "不能变为" in refused.value.message and order.status == OrderStatus.PENDING_PAYMENT
    assert mark_paid(order.id, "wechat", "test") is True
    assert mark_paid(order.id, "wechat", "test") is False  # a second notice of the same payment
    assert [(e.from_status, e.to_status) for e in order.events] == [
        (None, "pending_payment"), ("pending_payment", "paid"), ("paid", "ready_to_write")]
    assert [s.done for s in timeline(order)] == [True, True, True, False, False]
    assert order.status_label == "已支付/待制证"


def test_cancel_before_payment_only(client, db_session):
    sign_in(client, "丙")
    user = dev_user_named(db_session, "丙")
    user.identity_verified = True
    order = pending_order(user=user)
    csrf = client.get("/h5/").text.split('<meta name="csrf-token" content="')[1].split('"')[0]
    cancelled = client.post(f"/api/orders/{order.id}/cancel", headers={"X-CSRFToken": csrf})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    paid = pending_order(user=user, organisation="另一家公司")
    mark_paid(paid.id, "wechat", "test")
    refused = client.post(f"/api/orders/{paid.id}/cancel", headers={"X-CSRFToken": csrf})
    assert refused.status_code == 409 and refused.json["code"] == "already_paid"


def test_todo_lists_what_needs_the_user(db_session):
    user = make_user()
    in_window = make_certificate("窗口期公司", expires_in_days=30)
    not_yet = make_certificate("未到期公司", expires_in_days=200)
    for cert in (in_window, not_yet):
        bind(user, cert)
    unpaid = pending_order(user=user, organisation="待支付公司")
    ready = pending_order(user=user, organisation="待写入公司")
    mark_paid(ready.id, "wechat", "test")
    titles = sorted((item.title, item.detail.split("：")[0].split(" ")[0]) for item in todo_items(user.id))
    assert titles == sorted([("证书待续期", "窗口期公司"), ("待支付", unpaid.subject), ("待写入新证书", "待写入公司")])


def test_renew_page_shows_price_and_new_validity_and_creates_the_order(client, db_session):
    sign_in(client, "丁")
    user = dev_user_named(db_session, "丁")
    user.identity_verified = True
    cert = make_certificate(expires_in_days=60, apps=(("广东省政府采购网", 45),))
    bind(user, cert)
    page = client.get(f"/h5/certificates/{cert.id}/renew?years=3").text
    assert "¥900.00" in page and new_validity(cert.not_after, 3).astimezone(SHANGHAI).strftime("%Y-%m-%d") in page
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    shown = page.split('id="shown-amount-fen" name="shown_amount_fen" type="hidden" value="')[1].split('"')[0]
    assert shown == "90000"
    assert 'id="agreement-text"' in page and 'id="fee-breakdown"' in page
    made = client.post(f"/h5/certificates/{cert.id}/renew", data={"years": "3", "csrf_token": token,
                                                                  "shown_amount_fen": shown, "agreement": "y",
                                                                  "agreement_version": SERVICE_AGREEMENT.version,
                                                                  **contacts_json()})
    assert made.status_code == 302
    order = db_session.scalar(sa.select(Order).where(Order.certificate_id == cert.id))
    assert made.headers["Location"].endswith(f"/h5/orders/{order.id}") and order.amount_fen == 90000
    detail = client.get(f"/h5/orders/{order.id}").text
    for text in ("待支付", "用户申请", "用户缴费", "管理员审核", "安装新证书", "完成", "微信支付", "对公打款"):
        assert text in detail
    app_page = client.get(f"/h5/certificates/{cert.id}/renew?app={cert.apps[0].id}").text
    assert "应用续期" in app_page and "广东省政府采购网" in app_page


def test_identity_page_shows_the_field_error(client, db_session):
    sign_in(client, "戊")
    page = client.get("/h5/identity").text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    refused = client.post("/h5/identity", data={"csrf_token": token, "name": "戊某", "id_number": "123",
                                                "mobile": "13800000000", "consent": "y"})
    assert refused.status_code == 200 and 'data-field="id_number"' in refused.text
    assert "身份证号码应为18位" in refused.text
    assert db_session.scalar(sa.select(sa.func.count()).select_from(IdentityCheck)) == 0


def test_app_renewal_takes_effect_once_paid(db_session):
    user = make_user()
    cert = make_certificate(expires_in_days=200, apps=(("广东省政府采购网", 30),))
    bind(user, cert)
    app = cert.apps[0]
    order = create_order(user.id, cert.id, 2, app_id=app.id)
    assert order.amount_fen == 20000 and order.kind == "app_renewal"
    expected = new_validity(app.expires_at, 2)
    assert mark_paid(order.id, "wechat", "test")
    assert order.status == OrderStatus.COMPLETED and app.expires_at == expected
    assert cert.not_after < expected  # the certificate itself is untouched


def test_an_order_is_never_made_for_a_price_the_page_did_not_show(client, db_session):
    """The page showed the 1-year price (a page script that failed to requote, say) and 3 years were posted."""
    sign_in(client, "己")
    user = dev_user_named(db_session, "己")
    user.identity_verified = True
    cert = make_certificate(expires_in_days=60)
    bind(user, cert)
    page = client.get(f"/h5/certificates/{cert.id}/renew").text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    for shown in ("30000", "", "abc"):
        refused = client.post(f"/h5/certificates/{cert.id}/renew", follow_redirects=True,
                              data={"years": "3", "csrf_token": token, "shown_amount_fen": shown})
        assert refused.status_code == 200
        assert "3年的收费金额为¥900.00，与页面显示的不一致" in refused.text
        assert 'id="amount" class="amount">¥900.00' in refused.text  # now the page shows what 3 years cost
        assert db_session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0


def test_the_api_refuses_an_order_for_another_amount_than_shown(client, db_session):
    sign_in(client, "庚")
    user = dev_user_named(db_session, "庚")
    user.identity_verified = True
    cert = make_certificate(expires_in_days=60)
    bind(user, cert)
    headers = {"X-CSRFToken": csrf_token(client)}
    refused = client.post("/api/orders", json={"certificate_id": cert.id, "years": 2, "shown_amount_fen": 30000,
                                               "contacts": contacts_json()}, headers=headers)
    assert refused.status_code == 409 and refused.json["code"] == "price_changed"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    made = client.post("/api/orders", json={"certificate_id": cert.id, "years": 2, "shown_amount_fen": 60000,
                                            "agreement_version": SERVICE_AGREEMENT.version,
                                            "contacts": contacts_json()}, headers=headers)
    assert made.status_code == 201 and made.json["amount_fen"] == 60000


def test_lock_order_rereads_the_row_and_refuses_a_missing_order(db_session):
    order = pending_order()
    db_session.execute(sa.text("UPDATE orders SET status = 'cancelled' WHERE id = :id"), {"id": order.id})
    assert order.status == OrderStatus.PENDING_PAYMENT  # what the session still believes
    assert lock_order(order.id) is order and order.status == OrderStatus.CANCELLED
    with pytest.raises(NotFound):
        lock_order(0)
    mine, other = pending_order(user=db_session.get(User, order.user_id)), pending_order()
    assert lock_orders([other.id, mine.id, order.id], user_id=order.user_id) == [order, mine]  # id order
    assert lock_orders([other.id, 0]) == [other]


def test_lock_order_holds_the_row_until_the_transaction_ends(live_db):
    """Over real commits (no rolled-back test transaction, on the live server's database, emptied before and after):
    another connection cannot lock the row meanwhile."""
    nowait = sa.text("SELECT id FROM orders WHERE id = :id FOR UPDATE NOWAIT")
    with live_db.app_context():
        order = pending_order()
        order_id = order.id
        db.session.commit()
        try:
            lock_order(order_id)
            with db.engine.connect() as other, pytest.raises(sa.exc.OperationalError, match="could not obtain lock"):
                other.execute(nowait, {"id": order_id})
            db.session.rollback()
            with db.engine.connect() as other:
                assert other.execute(nowait, {"id": order_id}).scalar() == order_id
        finally:
            db.session.rollback()


@pytest.mark.parametrize("years", [0, 6])
def test_years_outside_one_to_five_are_refused_by_the_api_and_the_form_and_create_nothing(client, db_session, years):
    csrf = sign_in(client, f"年限{years}")
    user = dev_user_named(db_session, f"年限{years}")
    user.identity_verified = True
    cert = make_certificate(expires_in_days=60)
    bind(user, cert)
    db_session.flush()

    def count() -> int:
        return db_session.scalar(sa.select(sa.func.count()).select_from(Order))

    before = count()
    refused = client.post("/api/orders", json={"certificate_id": cert.id, "years": years,
                                               "contacts": contacts_json()}, headers={"X-CSRFToken": csrf})
    assert refused.status_code == 400 and refused.json["errors"]["years"] == "应在1至5之间"
    assert count() == before
    page = client.get(f"/h5/certificates/{cert.id}/renew").text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    form = client.post(f"/h5/certificates/{cert.id}/renew",
                       data={"years": str(years), "csrf_token": token, "shown_amount_fen": str(30000 * years)})
    assert form.status_code == 200  # the form again, not a redirect to a new order
    assert 'name="years"' in form.text and "续期年限为1至5年" in form.text
    assert count() == before
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Order).where(Order.certificate_id == cert.id)) == 0


def test_no_renewal_outlasts_the_issuing_ca(client, db_session, app, tmp_path, monkeypatch):
    """A page never shows a validity the certificate will not get: years past the issuing CA's end are refused,
    and a certificate even one year cannot renew within is not renewable online."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from wxbackend.ca.service import ISSUING_CERT

    def issuing_ca_ending(at: datetime) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "short-lived issuing CA")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(utcnow() - timedelta(days=1)).not_valid_after(at)
                .sign(key, hashes.SHA256()))
        (tmp_path / ISSUING_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    monkeypatch.setitem(app.config, "CA_DIR", str(tmp_path))
    sign_in(client, "庚")
    user = dev_user_named(db_session, "庚")
    user.identity_verified = True
    cert = make_certificate(expires_in_days=60)
    bind(user, cert)
    issuing_ca_ending(new_validity(cert.not_after, 2) + timedelta(days=3))
    assert "¥600.00" in client.get(f"/h5/certificates/{cert.id}/renew?years=2").text
    refused = client.get(f"/api/certificates/{cert.id}/quote?years=3")
    assert refused.status_code == 400 and refused.json["code"] == "beyond_issuer"
    assert "最多可续期2年" in refused.json["message"]
    with pytest.raises(Exception, match="最多可续期2年"):
        create_order(user.id, cert.id, 3)
    page = client.get(f"/h5/certificates/{cert.id}/renew?years=3")  # the page shows 2 years and says why
    assert page.status_code == 200 and "最多可续期2年" in page.text and "¥600.00" in page.text
    posted = client.post(f"/h5/certificates/{cert.id}/renew", data={"years": "3", "csrf_token": csrf_token(client),
                                                                    "shown_amount_fen": "90000"})
    assert posted.status_code == 302 and "最多可续期2年" in client.get(posted.headers["Location"]).text
    assert db_session.scalar(sa.select(sa.func.count(Order.id)).where(Order.certificate_id == cert.id)) == 0

    issuing_ca_ending(cert.not_after + timedelta(days=200))
    verdict = check_eligibility(cert)
    assert verdict.code == "issuer_ending" and not verdict.renewable
