"""The status machines (DESIGN §3): the state-machine base, and for every status column's table that an illegal
move raises its own Conflict, naming both states in Chinese, and changes nothing (in memory or in the database),
while a legal move changes the row and is flushed. Also the bulk moves of the expiry sweep and the 应用 renewal."""

from __future__ import annotations

import enum
import secrets
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.support.factories import bind, make_certificate, make_user, pending_order
from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.ca.transitions import ISSUED_STATES, IllegalIssuedTransition
from wxbackend.certificates import transitions as certificate_transitions
from wxbackend.certificates.models import Binding, BindingStatus, CertAppStatus, CertificateStatus
from wxbackend.certificates.service import end_binding, mark_expired_certificates, renew_app
from wxbackend.certificates.transitions import (
    APP_STATES,
    BINDING_STATES,
    CERTIFICATE_STATES,
    IllegalAppTransition,
    IllegalBindingTransition,
    IllegalCertificateTransition,
)
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict
from wxbackend.core.states import IllegalTransition, StateMachine
from wxbackend.core.times import utcnow
from wxbackend.invoices.models import Invoice, InvoiceStatus
from wxbackend.invoices.transitions import INVOICE_STATES, IllegalInvoiceTransition
from wxbackend.orders import transitions as order_transitions
from wxbackend.orders.models import OrderStatus, PayChannel
from wxbackend.payments.bank_models import BankStatementLine, LineStatus
from wxbackend.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from wxbackend.payments.transitions import (
    LINE_STATES,
    PAYMENT_STATES,
    REFUND_STATES,
    IllegalLineTransition,
    IllegalPaymentTransition,
    IllegalRefundTransition,
)

# --- the base ----------------------------------------------------------------------------------------------------


class Light(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    BROKEN = "broken"


class Lamp:
    def __init__(self, status: str):
        self.status = status


LIGHTS = StateMachine({Light.RED: {Light.GREEN}, Light.GREEN: {Light.RED, Light.BROKEN}, Light.BROKEN: set()},
                      noun="信号灯", labels={Light.RED: "红灯", Light.GREEN: "绿灯"})


def test_the_base_checks_assigns_and_names_both_states(db_session):
    lamp = Lamp("red")
    assert LIGHTS.can_move(lamp, Light.GREEN) and not LIGHTS.can_move(lamp, Light.BROKEN)
    with pytest.raises(IllegalTransition) as refused:
        LIGHTS.move(lamp, Light.BROKEN)
    assert isinstance(refused.value, Conflict) and refused.value.code == "illegal_transition"
    assert refused.value.message == "信号灯当前为“红灯”，不能变为“broken”"  # a state without a label: its value
    assert lamp.status == "red"
    assert LIGHTS.move(lamp, Light.GREEN) == "red" and lamp.status == Light.GREEN
    assert LIGHTS.sources(Light.RED) == [Light.GREEN]
    assert not LIGHTS.can_move(Lamp("unknown"), Light.RED)  # a state the table does not know goes nowhere


def test_a_table_cannot_move_to_a_state_it_does_not_list():
    with pytest.raises(ValueError, match="broken"):
        StateMachine({Light.RED: {Light.BROKEN}}, noun="信号灯")


# --- one case per status column -------------------------------------------------------------------------------


def a_payment() -> Payment:
    order = pending_order()
    payment = Payment(order_id=order.id, channel=PayChannel.WECHAT, out_trade_no=f"T{secrets.token_hex(8)}",
                      amount_fen=order.amount_fen, status=PaymentStatus.PENDING)
    db.session.add(payment)
    db.session.flush()
    return payment


def a_refund() -> Refund:
    order = pending_order()
    refund = Refund(order_id=order.id, channel=PayChannel.TRANSFER, out_refund_no=f"{order.order_no}R",
                    amount_fen=order.amount_fen, status=RefundStatus.MANUAL)
    db.session.add(refund)
    db.session.flush()
    return refund


def a_line() -> BankStatementLine:
    line = BankStatementLine(bank_txn_id=secrets.token_hex(8), value_date=date(2025, 3, 4), amount_fen=30000,
                             payer_name="广州某某科技有限公司", payer_account_enc=b"-",
                             payer_account_masked="4405****0123", status=LineStatus.NEW)
    db.session.add(line)
    db.session.flush()
    return line


def an_invoice() -> Invoice:
    invoice = Invoice(request_no=secrets.token_hex(8), user_id=make_user().id, status=InvoiceStatus.PENDING,
                      amount_fen=30000, title="广州某某科技有限公司", title_type="enterprise", email="a@example.cn")
    db.session.add(invoice)
    db.session.flush()
    return invoice


def a_certificate():
    return make_certificate()


def a_binding() -> Binding:
    user, certificate = make_user(), make_certificate()
    bind(user, certificate)
    return db.session.scalar(sa.select(Binding).where(Binding.certificate_id == certificate.id))


def an_app():
    return make_certificate(apps=(("招标平台", 30),)).apps[0]


def an_issued_certificate() -> IssuedCertificate:
    now = utcnow()
    record = IssuedCertificate(serial=secrets.token_hex(16).upper(), subject="CN=test", not_before=now,
                               not_after=now + timedelta(days=365), pem="-")
    db.session.add(record)
    db.session.flush()
    return record


def an_order():
    return pending_order()


class OrderMachine:
    """The order table through its module's own API (`move` also writes the timeline)."""

    @staticmethod
    def move(order, to):
        return order_transitions.move(order, to, "test").from_status


CASES = [
    pytest.param(a_payment, PAYMENT_STATES, PaymentStatus.CLOSED, PaymentStatus.REFUNDED, IllegalPaymentTransition,
                 "支付记录当前为“已关闭”，不能变为“已退款”", id="payment"),
    pytest.param(a_refund, REFUND_STATES, RefundStatus.SUCCESS, RefundStatus.MANUAL, IllegalRefundTransition,
                 "退款当前为“退款成功”，不能变为“待人工退款”", id="refund"),
    pytest.param(a_line, LINE_STATES, LineStatus.MATCHED, LineStatus.MANUAL, IllegalLineTransition,
                 "银行流水当前为“已匹配”，不能变为“待人工处理”", id="bank_line"),
    pytest.param(an_invoice, INVOICE_STATES, InvoiceStatus.FAILED, InvoiceStatus.ISSUED, IllegalInvoiceTransition,
                 "发票当前为“开具失败”，不能变为“已开具”", id="invoice"),
    pytest.param(a_certificate, CERTIFICATE_STATES, CertificateStatus.EXPIRED, CertificateStatus.VALID,
                 IllegalCertificateTransition, "证书当前为“已过期”，不能变为“有效”", id="certificate"),
    pytest.param(a_binding, BINDING_STATES, BindingStatus.UNBOUND, BindingStatus.ACTIVE, IllegalBindingTransition,
                 "证书绑定当前为“已解绑”，不能变为“已绑定”", id="binding"),
    pytest.param(an_app, APP_STATES, CertAppStatus.EXPIRED, CertAppStatus.DISABLED, IllegalAppTransition,
                 "应用当前为“已到期”，不能变为“已停用”", id="app"),
    pytest.param(an_issued_certificate, ISSUED_STATES, IssuedStatus.VOIDED, IssuedStatus.REVOKED,
                 IllegalIssuedTransition, "签发记录当前为“已作废”，不能变为“已吊销”", id="issued_certificate"),
    pytest.param(an_order, OrderMachine, OrderStatus.CANCELLED, OrderStatus.PAID,
                 order_transitions.IllegalTransition, "受理单当前为“已撤销”，不能变为“已支付”", id="order"),
]


def stored_status(row) -> str:
    """The status as the database has it (reading flushes whatever the session holds)."""
    model = type(row)
    return db.session.execute(sa.select(model.status).where(model.id == row.id)).scalar_one()


@pytest.mark.parametrize(("make", "machine", "legal", "illegal", "error", "message"), CASES)
def test_a_legal_move_changes_the_row_an_illegal_one_raises_and_changes_nothing(db_session, make, machine, legal,
                                                                                illegal, error, message):
    row = make()
    before = row.status
    assert machine.move(row, legal) == before
    assert row.status == legal and stored_status(row) == legal
    with pytest.raises(error) as refused:
        machine.move(row, illegal)
    assert isinstance(refused.value, Conflict) and refused.value.status == 409
    assert refused.value.message == message
    assert row.status == legal and stored_status(row) == legal


# --- through the services -------------------------------------------------------------------------------------


def test_a_binding_ends_once(db_session):
    binding = a_binding()
    end_binding(binding)
    assert binding.status == BindingStatus.UNBOUND and binding.unbound_at is not None
    ended_at = binding.unbound_at
    with pytest.raises(IllegalBindingTransition):
        end_binding(binding)
    assert binding.unbound_at == ended_at


def test_a_paid_app_renewal_makes_an_expired_app_active_again(db_session):
    app = an_app()
    APP_STATES.move(app, CertAppStatus.EXPIRED)
    later = utcnow() + timedelta(days=400)
    renew_app(app, later)
    assert (stored_status(app), app.expires_at) == (CertAppStatus.ACTIVE, later)
    renew_app(app, later + timedelta(days=1))  # already active: only the expiry moves
    assert stored_status(app) == CertAppStatus.ACTIVE


def test_the_expiry_sweep_moves_only_rows_whose_table_allows_it(db_session):
    due = make_certificate(expires_in_days=-1, apps=(("招标平台", -1), ("采购平台", -1), ("政务平台", 30)))
    superseded = make_certificate(expires_in_days=-1)
    CERTIFICATE_STATES.move(superseded, CertificateStatus.SUPERSEDED)
    current = make_certificate(expires_in_days=30)
    db.session.execute(sa.text("UPDATE cert_apps SET status = 'disabled' WHERE id = :id"), {"id": due.apps[1].id})
    assert mark_expired_certificates() == 1
    assert [stored_status(c) for c in (due, superseded, current)] == ["expired", "superseded", "valid"]
    assert [stored_status(app) for app in due.apps] == ["expired", "disabled", "active"]
    assert certificate_transitions.expire_certificates(utcnow()) == []  # safe to run twice
