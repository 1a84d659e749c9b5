"""受理单 in the console: every search criterion finds the right orders and only them, keyset paging returns each
order once, the order page shows personal data masked, and 显示完整信息 shows it in full only to 审核员 and 管理员,
once, audited; other roles get 403, a POST without the console CSRF token is refused."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.support.factories import bind, make_certificate, make_user, pending_order
from tests.support.staff import make_staff, sign_in_staff
from wxbackend.audit.models import AuditLog
from wxbackend.core.db import db
from wxbackend.core.times import SHANGHAI
from wxbackend.identity.service import CHECK_CHARACTERS, WEIGHTS, verify_identity
from wxbackend.invoices.models import Invoice, InvoiceItem, InvoiceStatus
from wxbackend.orders.models import Order, OrderStatus
from wxbackend.orders.search import Cursor, OrderQuery, search_orders
from wxbackend.orders.service import mark_paid
from wxbackend.payments.models import Payment, PaymentStatus, Refund, RefundStatus


def id_number(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return first17 + CHECK_CHARACTERS[total % 11]


ID_A, ID_B = id_number("11010519491231002"), id_number("44010619850315123")
MOBILE_A, MOBILE_B = "13800000001", "13900000002"


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def found(client, **params) -> list[str]:
    page = client.get("/admin/orders", query_string=params)
    assert page.status_code == 200, page.text
    return re.findall(r'data-order-no="([^"]+)"', page.text)


def audit_rows(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def three_orders():
    """A (广州, 张三, 23:30 on 1 March in Shanghai: still 1 March in UTC), B (深圳, 李四, 00:30 on 2 March in
    Shanghai: 1 March in UTC, paid) and C (北京, 张三 again, 5 March, renewed into a new certificate)."""
    zhang, li = make_user("张三"), make_user("李四")
    verify_identity(zhang.id, "张三", ID_A, MOBILE_A, consent=True)
    verify_identity(li.id, "李四", ID_B, MOBILE_B, consent=True)
    a = pending_order(organisation="广州某某科技有限公司", user=zhang)
    b = pending_order(organisation="深圳蓝天有限公司", user=li)
    c = pending_order(organisation="北京某某科技有限公司", user=zhang)
    mark_paid(b.id, "wechat", "system")
    renewed = make_certificate("北京某某科技有限公司", expires_in_days=400)
    c.new_certificate_id = renewed.id
    a.created_at, b.created_at, c.created_at = shanghai(2026, 3, 1, 23, 30), shanghai(2026, 3, 2, 0, 30), \
        shanghai(2026, 3, 5, 12, 0)
    db.session.commit()
    return a, b, c, renewed


def test_each_criterion_finds_the_right_orders_and_only_them(client, db_session):
    a, b, c, renewed = three_orders()
    sign_in_staff(client, make_staff("kefu", "support"))
    assert found(client) == [c.order_no, b.order_no, a.order_no]  # newest first
    assert found(client, order_no=a.order_no) == [a.order_no]
    assert found(client, order_no=a.order_no[:-1]) == []  # exact, not a prefix
    serial = b.certificate.serial
    assert found(client, serial=serial) == [b.order_no]
    assert found(client, serial=serial.lower()) == []  # case-sensitive
    assert found(client, serial=serial[:-2]) == []
    assert found(client, serial=renewed.serial) == [c.order_no]  # the certificate an order renewed into
    assert found(client, organisation="某某科技") == [c.order_no, a.order_no]
    assert found(client, organisation="蓝天") == [b.order_no]
    assert found(client, organisation="%") == [] and found(client, organisation="_") == []  # no wildcards
    assert found(client, mobile="138 0000 0001") == [c.order_no, a.order_no]
    assert found(client, mobile=MOBILE_B) == [b.order_no]
    assert found(client, mobile="13700000003") == []
    assert found(client, status="ready_to_write") == [b.order_no]
    assert found(client, status="pending_payment") == [c.order_no, a.order_no]
    assert found(client, status="cancelled") == []
    # days in Asia/Shanghai, both ends included: B is 2 March there (1 March in UTC)
    assert found(client, created_from="2026-03-02", created_to="2026-03-02") == [b.order_no]
    assert found(client, created_to="2026-03-01") == [a.order_no]
    assert found(client, created_from="2026-03-02") == [c.order_no, b.order_no]
    assert found(client, created_from="2026-03-06") == []
    # together: every criterion must hold
    assert found(client, mobile=MOBILE_A, organisation="北京") == [c.order_no]
    assert found(client, mobile=MOBILE_A, status="ready_to_write") == []


def test_the_mobile_is_found_by_its_lookup_hash_not_by_decrypting(db_session, monkeypatch):
    a, _b, c, _ = three_orders()

    def no_decrypting(*_args):
        raise AssertionError("the search decrypted a stored mobile")

    monkeypatch.setattr("wxbackend.orders.search.decrypt", no_decrypting)
    monkeypatch.setattr("wxbackend.core.crypto.decrypt", no_decrypting)
    assert [o.order_no for o in search_orders(OrderQuery(mobile=MOBILE_A)).orders] == [c.order_no, a.order_no]


def test_wrong_criteria_are_named_in_chinese_and_search_nothing(client, db_session):
    three_orders()
    sign_in_staff(client, make_staff("kefu2", "support"))
    for params, message in [({"serial": "XYZ"}, "证书序列号应为十六进制字符"),
                            ({"mobile": "1380000"}, "请填写完整的11位手机号码"),
                            ({"created_from": "2026/03/01"}, "日期格式应为"),
                            ({"created_from": "2026-03-05", "created_to": "2026-03-01"}, "结束日期不能早于开始日期"),
                            ({"status": "bogus"}, "请选择列表中的状态"),
                            ({"after": "x'--"}, "分页位置无效")]:
        page = client.get("/admin/orders", query_string=params)
        assert page.status_code == 200 and message in page.text, params
        assert "data-order-no" not in page.text


def test_paging_returns_every_order_exactly_once_newest_first(client, db_session):
    user = make_user("王五")
    x, y = make_certificate("甲公司"), make_certificate("乙公司")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(120):  # 40 moments, three orders at each: ties broken by id
        db.session.add(Order(order_no=f"SA20260101{n:08d}", user_id=user.id, certificate_id=(x if n % 2 else y).id,
                             kind="renewal", path="online", years=1, amount_fen=30000, fee_detail="-",
                             status=OrderStatus.COMPLETED, old_not_after=start, new_not_after=start,
                             created_at=start + timedelta(minutes=n // 3)))
    db.session.commit()
    sign_in_staff(client, make_staff("caiwu", "finance"))
    expected = list(db.session.scalars(sa.select(Order.order_no).order_by(Order.created_at.desc(), Order.id.desc())))

    def every_page(path: str) -> tuple[list[str], list[int]]:
        seen, sizes = [], []
        while path:
            page = client.get(path)
            numbers = re.findall(r'data-order-no="([^"]+)"', page.text)
            seen += numbers
            sizes.append(len(numbers))
            link = re.search(r'id="next-page" href="([^"]+)"', page.text)
            path = html.unescape(link[1]) if link else None
        return seen, sizes

    seen, sizes = every_page("/admin/orders")
    assert seen == expected and sizes == [50, 50, 20]
    seen, sizes = every_page("/admin/orders?organisation=%E7%94%B2")  # 甲: the criterion rides along
    assert seen == [n for n in expected if int(n[-8:]) % 2] and sizes == [50, 10]
    # the service alone: a cursor in the middle of a tie
    middle = db.session.scalar(sa.select(Order).where(Order.order_no == expected[49]))
    rest = search_orders(OrderQuery(), Cursor(middle.created_at, middle.id), limit=200).orders
    assert [o.order_no for o in rest] == expected[50:]
    assert Cursor.decode(Cursor(middle.created_at, middle.id).encode()) == Cursor(middle.created_at, middle.id)


def order_with_everything():
    """B of `three_orders`, paid by WeChat Pay, partly refunded, invoiced, its certificate bound to two users."""
    _a, b, _c, _ = three_orders()
    finance = make_staff("tuikuan", "finance", name="孙财务")
    other = make_user("赵六")
    bind(other, b.certificate)
    payment = Payment(order_id=b.id, channel="wechat", out_trade_no="WXPAY000000000001", transaction_id="42000001",
                      amount_fen=b.amount_fen, status=PaymentStatus.PAID, paid_at=b.created_at)
    db.session.add(payment)
    db.session.flush()
    db.session.add(Refund(order_id=b.id, payment_id=payment.id, channel="wechat", out_refund_no="RF0000000001",
                          amount_fen=100, status=RefundStatus.PROCESSING, reason="测试退款",
                          actor=f"staff:{finance.id}"))
    invoice = Invoice(request_no="INV2026000001", user_id=b.user_id, status=InvoiceStatus.PENDING,
                      amount_fen=b.amount_fen, title="深圳蓝天有限公司", title_type="enterprise", email="a@example.cn")
    invoice.items.append(InvoiceItem(order_id=b.id, order_no=b.order_no, name="证书续期", fee_detail="-",
                                     amount_fen=b.amount_fen))
    db.session.add(invoice)
    db.session.commit()
    return b


def test_the_order_page_shows_everything_with_personal_data_masked(client, db_session):
    order = order_with_everything()
    sign_in_staff(client, make_staff("shenhe", "auditor"))
    page = client.get(f"/admin/orders/{order.id}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.text
    for shown in (order.order_no, "证书续期", "已支付/待制证", "300.00", "用户申请", "用户缴费", "WXPAY000000000001",
                  "42000001", "RF0000000001", "退款处理中", "INV2026000001", "开具中", order.certificate.serial,
                  "深圳蓝天有限公司", "李**", "赵**", "已绑定", "发起退款", "孙财务（员工", "系统", "用户（"):
        assert shown in text, shown
    assert f'href="/admin/orders/{order.id}/refund"' in text
    assert "440***********" + ID_B[-4:] in text and "139****0002" in text and ">李*<" in text
    assert ID_B not in text and MOBILE_B not in text and ">李四<" not in text
    assert 'id="reveal"' in text  # 审核员 may ask


def test_reveal_shows_the_full_values_once_for_an_auditor_and_audits_it(client, db_session):
    order = order_with_everything()
    auditor = make_staff("shenhe2", "auditor")
    csrf = sign_in_staff(client, auditor)
    shown = client.post(f"/admin/orders/{order.id}/reveal", data={"csrf_token": csrf})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert ID_B in shown.text and MOBILE_B in shown.text and ">李四<" in shown.text and "已记入审计日志" in shown.text
    [row] = audit_rows("order.personal_data_viewed")
    assert row.actor == f"staff:{auditor.id}" and row.target == f"order:{order.id}" and row.result == "ok"
    assert row.detail["fields"] == ["name", "id_number", "mobile"] and row.detail["user"] == order.user_id
    assert ID_B not in str(row.detail) and MOBILE_B not in str(row.detail)
    again = client.get(f"/admin/orders/{order.id}")  # once: the page is masked again
    assert ID_B not in again.text and MOBILE_B not in again.text


def test_an_admin_may_reveal_and_other_roles_get_403(app, client, db_session):
    order = order_with_everything()
    admin_client = app.test_client()
    admin_csrf = sign_in_staff(admin_client, make_staff("guanli", "admin"))
    assert ID_B in admin_client.post(f"/admin/orders/{order.id}/reveal", data={"csrf_token": admin_csrf}).text
    for username, role in (("kefu3", "support"), ("caiwu3", "finance")):
        other = app.test_client()
        csrf = sign_in_staff(other, make_staff(username, role))
        page = other.get(f"/admin/orders/{order.id}")
        assert page.status_code == 200 and 'id="reveal"' not in page.text and ID_B not in page.text
        refused = other.post(f"/admin/orders/{order.id}/reveal", data={"csrf_token": csrf})
        assert refused.status_code == 403 and ID_B not in refused.text
    assert len(audit_rows("order.personal_data_viewed")) == 1  # the admin's only
    assert len(audit_rows("staff.forbidden")) == 2


def test_a_maker_gets_403_on_every_order_route(client, db_session):
    order = order_with_everything()
    csrf = sign_in_staff(client, make_staff("zhizheng", "maker"))
    assert client.get("/admin/orders").status_code == 403
    assert client.get(f"/admin/orders/{order.id}").status_code == 403
    assert client.post(f"/admin/orders/{order.id}/reveal", data={"csrf_token": csrf}).status_code == 403
    assert "受理单查询" not in client.get("/admin/").text
    assert audit_rows("order.personal_data_viewed") == []


def test_reveal_without_the_console_csrf_token_is_refused(client, db_session):
    order = order_with_everything()
    sign_in_staff(client, make_staff("shenhe3", "auditor"))
    refused = client.post(f"/admin/orders/{order.id}/reveal")
    assert refused.status_code == 400 and ID_B not in refused.text
    assert audit_rows("order.personal_data_viewed") == [] and len(audit_rows("staff.csrf_refused")) == 1


def test_reveal_asks_for_a_fresh_totp_code_when_the_last_one_is_old(app, client, db_session, monkeypatch):
    order = order_with_everything()
    auditor = make_staff("shenhe4", "auditor")
    csrf = sign_in_staff(client, auditor)
    monkeypatch.setitem(app.config, "STAFF_FRESH_TOTP_MINUTES", 0)
    assert 'name="totp_code"' in client.get(f"/admin/orders/{order.id}").text
    assert client.post(f"/admin/orders/{order.id}/reveal", data={"csrf_token": csrf}).status_code == 428
    assert audit_rows("order.personal_data_viewed") == []
    shown = client.post(f"/admin/orders/{order.id}/reveal", data={"csrf_token": csrf,
                                                                  "totp_code": auditor.next_code()})
    assert shown.status_code == 200 and ID_B in shown.text


def test_nothing_to_reveal_without_an_identity_check_and_no_such_order(client, db_session):
    order = pending_order(user=make_user("钱七"))  # verified flag set by the factory, no identity check row
    db.session.commit()
    csrf = sign_in_staff(client, make_staff("shenhe5", "auditor"))
    page = client.get(f"/admin/orders/{order.id}")
    assert "没有通过的身份鉴别记录" in page.text and 'id="reveal"' not in page.text
    assert 'id="refund"' not in page.text  # 待支付: nothing to refund
    refused = client.post(f"/admin/orders/{order.id}/reveal", data={"csrf_token": csrf}, follow_redirects=True)
    assert "没有可显示的个人信息" in refused.text
    assert audit_rows("order.personal_data_viewed") == []
    assert client.get("/admin/orders/999999").status_code == 404
    assert client.post("/admin/orders/999999/reveal", data={"csrf_token": csrf}).status_code == 404


def test_the_console_lists_the_search_for_its_roles(app, db_session):
    for username, role, listed in (("aud1", "auditor", True), ("fin1", "finance", True), ("sup1", "support", True),
                                   ("adm1", "admin", True), ("mak1", "maker", False)):
        client = app.test_client()
        sign_in_staff(client, make_staff(username, role))
        home = client.get("/admin/").text
        assert ('data-queue="orders_admin.orders"' in home) is listed, role
