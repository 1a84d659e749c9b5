"""批量续期 (issue 15 item 4): one group of renewal orders, one price, one payment (WeChat Pay through the fake gateway
or one transfer code), one invoice; cancelling one order refunds that order only. Real PostgreSQL and Redis."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from rq import SimpleWorker

from tests.support.factories import bind, make_certificate, make_user
from tests.support.wechatpay import REFUND_NOTIFY_PATH, deliver
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict
from wxbackend.core.jobs import get_queue
from wxbackend.core.redis import get_redis
from wxbackend.invoices.models import InvoiceItem
from wxbackend.invoices.service import ProfileInput, request_invoice
from wxbackend.orders.models import GroupStatus, Order, OrderGroup
from wxbackend.orders.service import (
    NotBatchable,
    NotRenewable,
    PriceChanged,
    cancel_group,
    cancel_order,
    create_group,
    quote_group,
)
from wxbackend.payments.bank_models import BankStatementLine
from wxbackend.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from wxbackend.payments.service import (
    apply_transaction,
    refund_order,
    start_group_wechat_payment,
    start_wechat_payment,
)
from wxbackend.payments.transfer import choose_group_transfer, choose_transfer, import_statement, queue_matching

ORG = "广州某某科技有限公司"


def three_certificates(user=None, organisation: str = ORG):
    user = user or make_user()
    certificates = [make_certificate(organisation, expires_in_days=days) for days in (30, 50, 70)]
    for certificate in certificates:
        bind(user, certificate)
    return user, certificates


def a_group(years=(1, 2, 1), organisation: str = ORG) -> OrderGroup:
    user, certificates = three_certificates(organisation=organisation)
    return create_group(user.id, [(c.id, y) for c, y in zip(certificates, years, strict=True)])


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def statuses(group: OrderGroup) -> list[str]:
    db.session.expire_all()
    return [order.status for order in fresh(OrderGroup, group.id).orders]


def group_payment(group: OrderGroup) -> Payment:
    db.session.expire_all()
    return db.session.scalar(sa.select(Payment).where(Payment.group_id == group.id).order_by(Payment.id.desc()))


# --- the group and its price -------------------------------------------------------------------------------------


def test_the_group_total_is_the_sum_of_its_items_and_is_what_is_charged(wechatpay, db_session):
    user, certificates = three_certificates()
    items = [(certificates[0].id, 1), (certificates[1].id, 2), (certificates[2].id, 1)]
    offer = quote_group(user.id, items)
    assert [item.amount_fen for item in offer.items] == [30000, 60000, 30000]
    assert offer.amount_fen == 120000 and offer.amount_yuan == "1200.00"
    with pytest.raises(PriceChanged):
        create_group(user.id, items, shown_amount_fen=90000)
    group = create_group(user.id, items, shown_amount_fen=120000)
    assert group.status == GroupStatus.PENDING_PAYMENT and group.amount_fen == 120000
    assert [(o.certificate_id, o.years, o.amount_fen, o.status) for o in group.orders] == [
        (certificates[0].id, 1, 30000, "pending_payment"), (certificates[1].id, 2, 60000, "pending_payment"),
        (certificates[2].id, 1, 30000, "pending_payment")]
    assert sum(o.amount_fen for o in group.orders) == group.amount_fen

    start_group_wechat_payment(user.id, group.id, "jsapi")
    payment = group_payment(group)
    assert (payment.order_id, payment.amount_fen) == (None, 120000)
    assert wechatpay.transaction(payment.out_trade_no)["total"] == 120000  # what WeChat Pay charges
    start_group_wechat_payment(user.id, group.id, "jsapi")  # tapped twice: the same payment
    assert db.session.scalar(sa.select(sa.func.count(Payment.id)).where(Payment.group_id == group.id)) == 1


def test_a_group_needs_two_online_renewable_certificates_each_once(db_session):
    user, certificates = three_certificates()
    with pytest.raises(NotBatchable):
        quote_group(user.id, [(certificates[0].id, 1)])
    with pytest.raises(NotBatchable):
        quote_group(user.id, [(certificates[0].id, 1), (certificates[0].id, 2)])
    expired = make_certificate("深圳过期有限公司", expires_in_days=-10)
    bind(user, expired)
    with pytest.raises(NotRenewable, match="深圳过期有限公司"):
        quote_group(user.id, [(certificates[0].id, 1), (expired.id, 1)])


def test_a_certificate_with_an_open_order_keeps_the_whole_group_from_being_made(db_session):
    from wxbackend.orders.service import create_order

    user, certificates = three_certificates()
    create_order(user.id, certificates[1].id, 1)
    with pytest.raises(Conflict) as refused:
        create_group(user.id, [(c.id, 1) for c in certificates])
    assert refused.value.code == "open_order_exists"


def test_grouped_orders_are_paid_and_cancelled_with_their_group_only(wechatpay, db_session):
    group = a_group()
    first = group.orders[0]
    with pytest.raises(Conflict) as refused:
        start_wechat_payment(group.user_id, first.id, "jsapi")
    assert refused.value.code == "in_group"
    with pytest.raises(Conflict):
        choose_transfer(group.user_id, first.id)
    with pytest.raises(Conflict):
        cancel_order(group.user_id, first.id)
    cancel_group(group.user_id, group.id)
    assert fresh(OrderGroup, group.id).status == GroupStatus.CANCELLED
    assert statuses(group) == ["cancelled"] * 3


# --- one WeChat Pay payment ----------------------------------------------------------------------------------------


def notification_resource(wechatpay, payment: Payment) -> dict:
    """The transaction as a query answers it once paid."""
    found = wechatpay.transaction(payment.out_trade_no)
    return {"out_trade_no": payment.out_trade_no, "trade_state": found["trade_state"],
            "transaction_id": found["transaction_id"], "mchid": found["mchid"], "appid": found["appid"],
            "amount": {"total": found["total"], "currency": "CNY"}}


def pay_group(client, wechatpay, group: OrderGroup):
    start_group_wechat_payment(group.user_id, group.id, "jsapi")
    payment = group_payment(group)
    notification = wechatpay.pay(payment.out_trade_no)
    assert deliver(client, notification).status_code == 204
    return payment, notification


def test_the_notification_pays_every_order_of_the_group_and_twice_marks_once(client, wechatpay, db_session):
    group = a_group()
    payment, notification = pay_group(client, wechatpay, group)
    assert statuses(group) == ["ready_to_write"] * 3
    assert fresh(OrderGroup, group.id).status == GroupStatus.PAID
    assert fresh(Payment, payment.id).status == PaymentStatus.PAID
    events = db.session.scalar(sa.select(sa.func.count()).select_from(Order).join(Order.events)
                               .where(Order.group_id == group.id))
    assert deliver(client, notification).status_code == 204  # the same notification again
    again = {**notification_resource(wechatpay, payment)}
    assert apply_transaction(again, source="query") == "already"
    assert statuses(group) == ["ready_to_write"] * 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Order).join(Order.events)
                             .where(Order.group_id == group.id)) == events


def test_a_notification_for_another_amount_pays_nothing(client, wechatpay, db_session):
    group = a_group()
    start_group_wechat_payment(group.user_id, group.id, "jsapi")
    payment = group_payment(group)
    found = wechatpay.transaction(payment.out_trade_no)
    transaction = {"out_trade_no": payment.out_trade_no, "trade_state": "SUCCESS", "mchid": found["mchid"],
                   "appid": found["appid"], "transaction_id": "4200000000000000000000000000001",
                   "amount": {"total": 30000, "currency": "CNY"}}
    assert apply_transaction(transaction, source="query") == "mismatch"
    assert statuses(group) == ["pending_payment"] * 3
    assert fresh(OrderGroup, group.id).status == GroupStatus.PENDING_PAYMENT


def test_cancelling_one_item_refunds_exactly_its_amount_and_leaves_the_others_paid(client, wechatpay, db_session):
    group = a_group(years=(1, 2, 1))
    payment, _ = pay_group(client, wechatpay, group)
    middle = group.orders[1]
    refund = refund_order(group.user_id, middle.id, f"user:{group.user_id}", "用户撤销")
    assert (refund.amount_fen, refund.payment_id, refund.channel) == (60000, payment.id, "wechat")
    at_gateway = wechatpay.transaction(payment.out_trade_no)  # a partial refund of the group's one transaction
    assert (at_gateway["refunded"], at_gateway["total"]) == (60000, 120000)
    assert statuses(group) == ["ready_to_write", "refunding", "ready_to_write"]
    assert fresh(Payment, payment.id).status == PaymentStatus.PAID  # the others are still paid by it

    assert deliver(client, wechatpay.finish_refund(refund.out_refund_no), REFUND_NOTIFY_PATH).status_code == 204
    assert statuses(group) == ["ready_to_write", "refunded", "ready_to_write"]
    assert fresh(Refund, refund.id).status == RefundStatus.SUCCESS
    assert fresh(Payment, payment.id).status == PaymentStatus.PAID

    rest = [refund_order(group.user_id, o.id, "staff:1", "全部撤销") for o in (group.orders[0], group.orders[2])]
    assert [r.amount_fen for r in rest] == [30000, 30000]
    for r in rest:
        deliver(client, wechatpay.finish_refund(r.out_refund_no), REFUND_NOTIFY_PATH)
    assert statuses(group) == ["refunded"] * 3
    assert fresh(Payment, payment.id).status == PaymentStatus.REFUNDED  # all of it went back
    assert len({r.out_refund_no for r in [refund, *rest]}) == 3


# --- one transfer code -------------------------------------------------------------------------------------------


def test_one_transfer_code_for_the_group_is_matched_once(db_session):
    group = a_group(years=(1, 1, 1))
    group = choose_group_transfer(group.user_id, group.id)
    code = group.transfer_code
    assert len(code) == 6 and choose_group_transfer(group.user_id, group.id).transfer_code == code
    statement = ("流水号,交易日期,金额,付款人户名,付款人账号,附言\n"
                 f"B1,2025-03-04,900.00,{ORG},4405 0101 2345 6789 0123,{code}\n"
                 f"B2,2025-03-05,900.00,{ORG},4405 0101 2345 6789 0123,{code}\n").encode()
    result = import_statement(statement, "statement.csv")
    queue_matching(result.new_line_ids)
    db.session.commit()
    SimpleWorker([get_queue("default")], connection=get_redis()).work(burst=True)
    db.session.expire_all()
    lines = list(db.session.scalars(sa.select(BankStatementLine).order_by(BankStatementLine.id)))
    # the second transfer of the same code goes to staff, naming the group it already paid
    assert [(line.status, line.group_id) for line in lines] == [("matched", group.id), ("manual", group.id)]
    assert "不是待支付状态" in lines[1].manual_reason
    assert statuses(group) == ["ready_to_write"] * 3
    assert fresh(OrderGroup, group.id).pay_channel == "transfer"


def test_a_transfer_of_one_item_amount_does_not_pay_the_group(db_session):
    from wxbackend.payments.transfer import match_line

    group = a_group(years=(1, 1, 1))
    code = choose_group_transfer(group.user_id, group.id).transfer_code
    result = import_statement((f"流水号,交易日期,金额,付款人户名,付款人账号,附言\n"
                               f"B9,2025-03-04,300.00,{ORG},4405 0101 2345 6789 0123,{code}\n").encode(), "s.csv")
    assert match_line(result.new_line_ids[0]) == "manual"
    assert statuses(group) == ["pending_payment"] * 3


# --- one invoice -----------------------------------------------------------------------------------------------


def test_the_group_is_invoiced_on_one_invoice_with_three_items(client, wechatpay, db_session):
    group = a_group(years=(1, 2, 1))
    pay_group(client, wechatpay, group)
    invoice = request_invoice(group.user_id, [o.id for o in group.orders],
                              new_profile=ProfileInput(title=ORG, title_type="enterprise", email="f@example.cn",
                                                       tax_number="9144030071526726XG"))
    assert invoice.amount_fen == 120000 == group.amount_fen
    items = db.session.scalars(sa.select(InvoiceItem.order_id).where(InvoiceItem.invoice_id == invoice.id)).all()
    assert sorted(items) == sorted(o.id for o in group.orders)


def test_a_group_transfer_from_another_payer_waits_for_finance_who_match_it_to_the_group(db_session):
    from tests.support.staff import make_staff
    from wxbackend.payments.transfer import match_candidate, match_line, match_line_by_hand

    group = a_group(years=(1, 1, 1))
    code = choose_group_transfer(group.user_id, group.id).transfer_code
    result = import_statement((f"流水号,交易日期,金额,付款人户名,付款人账号,附言\n"
                               f"B7,2025-03-04,900.00,广州某某科技有限公司（分公司）,4405 0101 2345 6789 0123,{code}\n")
                              .encode(), "s.csv")
    [line_id] = result.new_line_ids
    assert match_line(line_id) == "manual"
    line = fresh(BankStatementLine, line_id)
    assert line.group_id == group.id and "户名" in line.manual_reason
    candidate = match_candidate(line_id, group.group_no)
    assert candidate.group.id == group.id and candidate.problems == [] and not candidate.same_payer
    with pytest.raises(Conflict):  # one order of the group cannot be matched alone
        match_line_by_hand(make_staff("caiwu1", "finance").id, line_id, group.orders[0].order_no, "分公司付款")
    staff = make_staff("caiwu2", "finance")
    match_line_by_hand(staff.id, line_id, group.group_no, "经电话核实为该单位分公司账户付款")
    line = fresh(BankStatementLine, line_id)
    assert (line.status, line.group_id, line.order_id) == ("matched", group.id, None)
    assert statuses(group) == ["ready_to_write"] * 3
