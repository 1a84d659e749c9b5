"""Personalising a replacement key at the counter (issue 14, 介质遗失补办, DESIGN §11) and delivering its PIN.

A 制证 staff member plugs a blank key into the staff PC; the console page carries messages between the backend and
the same helper the customers use, with counter tickets (`aud` = counter):

    start    the replacement order (制证中, no new certificate yet) and a `counter_keygen` ticket for that key
    helper   on the blank key (its initial PIN): a new key pair and its CSR
    issue    subject from the lost certificate, validity by REPLACEMENT_VALIDITY; a fresh X25519 key whose public
             half goes into the `counter_install` ticket (`pk`)
    helper   the certificate written, a random user PIN set and sealed to `pk`, the install challenge signed
    confirm  the new key's signature checked; the sealed PIN opened here and kept only encrypted in a PinDelivery;
             the new certificate put in the lost one's place by `certificates.service.supersede` (lineage, 应用,
             bindings; the old stays revoked); order.new_certificate_id set, an order note; the delivery queued

The PIN exists in clear only inside the helper and inside this process while it is opened or delivered: the page
and the staff member see it sealed, it is never logged, never in an audit row, never in Redis. Delivery
(`deliver_pin`, an outbox job): paid by WeChat Pay → the remark of a 0.01-yuan payout to the basic account; paid
by corporate transfer → an SMS to the 经办人; with the delivery's own idempotency key, so running it twice pays or
sends once; the PIN is erased once delivered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app

from helper_protocol.tickets import AUDIENCE_COUNTER, COUNTER_INSTALL, COUNTER_KEYGEN, unb64url
from wxbackend.applications.models import Application
from wxbackend.applications.service import current_materials
from wxbackend.audit.service import record_audit
from wxbackend.ca.backends import get_backend
from wxbackend.ca.service import CertSubject, check_csr, issuing_not_after
from wxbackend.certificates.models import Certificate, CertificateStatus
from wxbackend.certificates.service import lock_certificate, signed_by_certificate, supersede
from wxbackend.core import keyset
from wxbackend.core.crypto import decrypt, encrypt, mask_bank_account, mask_mobile
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.times import local_day, utcnow
from wxbackend.counter import sealing
from wxbackend.counter.models import (
    CounterPersonalisation,
    DeliveryChannel,
    DeliveryStatus,
    PersonalisationStatus,
    PinDelivery,
)
from wxbackend.counter.transitions import DELIVERY_STATES, PERSONALISATION_STATES
from wxbackend.integrations.bank_payout import PayoutRefused, payout_adapter
from wxbackend.integrations.sms import SmsRefused, sms_sender
from wxbackend.orders.models import Order, OrderEvent, OrderKind, OrderStatus, PayChannel
from wxbackend.orders.service import lock_order
from wxbackend.tickets.service import TicketUnknown, issue_ticket, take_ticket

DELIVERY_JOB = "counter.deliver_pin"
PAYOUT_AMOUNT_FEN = 1
SEAL_KEY_PURPOSE = "counter_seal_key"
PIN_PURPOSE = "counter_pin"
PIN_FORMAT = re.compile(r"\d{8}")
TOKEN_SERIAL = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CounterRefused(DomainError):
    code, message = "counter_refused", "制证请求无效，请刷新页面后重试"


class NotForCounter(Conflict):
    code, message = "not_for_counter", "该受理单不是待制证的补办受理单"


def remark(pin: str) -> str:
    """The payout's remark (附言): what the organisation's finance staff read on the statement."""
    return f"数字证书PIN码{pin}"


def fingerprint(pem: str) -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(pem.encode()).public_bytes(
        serialization.Encoding.DER)).hexdigest()


def chain_pems() -> list[str]:
    return [c.public_bytes(serialization.Encoding.PEM).decode() for c in get_backend().chain()]


def waiting_orders(cursor: str | None = None, size: int = keyset.PAGE_SIZE) -> keyset.Page:
    """Replacement orders 制证中 whose new key is not written yet, oldest first (keyset on the id)."""
    query = sa.select(Order).where(Order.kind == OrderKind.REPLACEMENT, Order.status == OrderStatus.MAKING,
                                   Order.new_certificate_id.is_(None))
    return keyset.page(query, None, Order.id, cursor, lambda order: (None, order.id), size=size)


def waiting_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Order.id)).where(
        Order.kind == OrderKind.REPLACEMENT, Order.status == OrderStatus.MAKING, Order.new_certificate_id.is_(None)))


def replacement_order(order_id: int) -> Order:
    """A replacement order (any status) for the console page. NotFound."""
    order = db.session.get(Order, order_id)
    if order is None or order.kind != OrderKind.REPLACEMENT:
        raise NotFound("没有找到该补办受理单")
    return order


def _lock_waiting(order_id: int) -> Order:
    order = lock_order(order_id)
    if order.kind != OrderKind.REPLACEMENT:
        raise NotFound("没有找到该补办受理单")
    if order.status != OrderStatus.MAKING:
        raise NotForCounter(f"受理单当前为“{order.status_label}”，不能制证")
    if order.new_certificate_id is not None:
        raise NotForCounter("该受理单的新介质已制作完成")
    return order


def replacement_validity(order: Order, now: datetime | None = None) -> datetime:
    """The new certificate's not_after: the one the replacement order showed and charged for before payment
    (`orders.service.replacement_quote` by REPLACEMENT_VALIDITY: keep = the lost certificate's not_after, extend =
    a year, within the issuing CA), never beyond the issuing CA. DomainError when that moment has passed."""
    now = now or utcnow()
    ends = order.new_not_after
    issuer_ends = issuing_not_after(current_app.config)
    if issuer_ends is not None:
        ends = min(ends, issuer_ends)
    if ends <= now:
        raise DomainError("原证书已过有效期，按现行策略（保持原有效期）无法补办，请办理续期", code="validity_ended")
    return ends


@dataclass(frozen=True)
class Recipient:
    channel: str
    masked: str


def pin_recipient(order: Order) -> Recipient:
    """Where the PIN will go, from the order's payment and the application's materials. CounterRefused when the
    materials lack it (nothing is written to a key whose PIN could not be delivered)."""
    application = db.session.scalar(sa.select(Application).where(Application.order_id == order.id))
    data = current_materials(application) if application is not None else None
    if order.pay_channel == PayChannel.WECHAT:
        if not data or not data.get("bank_account") or not data.get("bank_account_name"):
            raise CounterRefused("申请资料中没有单位基本户，无法通过打款附言发送PIN码")
        return Recipient(DeliveryChannel.PAYOUT, mask_bank_account(data["bank_account"]))
    if order.pay_channel == PayChannel.TRANSFER:
        if not data or not data.get("agent_mobile"):
            raise CounterRefused("申请资料中没有经办人手机号码，无法通过短信发送PIN码")
        return Recipient(DeliveryChannel.SMS, mask_mobile(data["agent_mobile"]))
    raise CounterRefused("该受理单没有支付记录，不能制证")


@dataclass(frozen=True)
class Step:
    mode: str  # keygen | install
    order: Order
    ticket: str
    ticket_id: str
    certificate_pem: str | None = None
    chain_pem: list[str] | None = None
    not_after: datetime | None = None


def _actor(staff_id: int) -> str:
    return f"staff:{staff_id}"


def start(staff_id: int, order_id: int, token_serial: object, ip: str = "") -> Step:
    """A `counter_keygen` ticket for the blank key `token_serial` and the replacement order (制证中, nothing written
    yet). An earlier attempt's certificate that was issued but never written is voided first. Raises NotFound,
    NotForCounter, CounterRefused (a key already on record, no way to deliver the PIN, the old certificate not
    revoked)."""
    if not isinstance(token_serial, str) or not TOKEN_SERIAL.fullmatch(token_serial):
        raise CounterRefused("介质序列号无效")
    order = _lock_waiting(order_id)
    if order.certificate.status != CertificateStatus.REVOKED:
        raise CounterRefused("原证书尚未按遗失吊销，不能制作补办介质")
    if db.session.scalar(sa.select(Certificate.id).where(Certificate.medium_number == token_serial)) is not None:
        record_audit(_actor(staff_id), "counter.start", target=f"order:{order.id}", result="medium_in_use", ip=ip,
                     detail={"medium": token_serial})
        raise CounterRefused("该介质已写入过证书，请更换空白介质")
    pin_recipient(order)
    replacement_validity(order)
    for earlier in db.session.scalars(sa.select(CounterPersonalisation).where(
            CounterPersonalisation.order_id == order.id,
            CounterPersonalisation.status == PersonalisationStatus.ISSUED)).all():
        _void(earlier, staff_id, ip)
    ticket = issue_ticket(COUNTER_KEYGEN, token_serial=token_serial, order_id=order.id, audience=AUDIENCE_COUNTER,
                          context={"order_id": order.id, "staff_id": staff_id})
    record_audit(_actor(staff_id), "counter.start", target=f"order:{order.id}", ip=ip,
                 detail={"medium": token_serial})
    return Step("keygen", order, ticket.ticket, ticket.ticket_id)


def _void(attempt: CounterPersonalisation, staff_id: int, ip: str) -> None:
    serial = attempt.issued_certificate.serial
    get_backend().revoke(serial, "superseded", void=True)
    PERSONALISATION_STATES.move(attempt, PersonalisationStatus.VOIDED)
    attempt.seal_key_enc = None
    record_audit(_actor(staff_id), "counter.voided", target=f"order:{attempt.order_id}", ip=ip,
                 detail={"serial": serial, "medium": attempt.token_serial})


def _take(ticket_id: object, op: str, staff_id: int) -> dict:
    ticket = take_ticket(ticket_id, op, audience=AUDIENCE_COUNTER)
    if ticket["context"].get("staff_id") != staff_id:
        raise TicketUnknown()  # another staff member's flow
    return ticket


def issue(staff_id: int, ticket_id: object, csr_pem: object, ip: str = "") -> Step:
    """Issue the replacement certificate for the blank key's new key pair: the CSR's signature and key policy
    checked, the subject from the lost certificate (never the CSR), the validity by REPLACEMENT_VALIDITY. Returns
    the certificate, the chain and a `counter_install` ticket carrying the key the helper seals the PIN to."""
    ticket = _take(ticket_id, COUNTER_KEYGEN, staff_id)
    order = _lock_waiting(ticket["context"]["order_id"])
    old = lock_certificate(order.certificate_id)
    if old.status != CertificateStatus.REVOKED:
        raise CounterRefused("原证书尚未按遗失吊销，不能制作补办介质")
    if not isinstance(csr_pem, str) or len(csr_pem) > 10000:
        raise CounterRefused("证书请求格式无效")
    check_csr(csr_pem)
    subject = CertSubject(organisation=old.subject_o, common_name=old.subject_cn, locality=old.subject_l,
                          province=old.subject_st, email=old.email, credit_code=old.credit_code)
    issued = get_backend().issue(csr_pem, subject, utcnow(), replacement_validity(order),
                                 request_ref=f"counter:{order.id}")
    private_raw, public_b64 = sealing.new_seal_key()
    attempt = CounterPersonalisation(order_id=order.id, staff_id=staff_id, token_serial=ticket["token_serial"],
                                     status=PersonalisationStatus.ISSUED, issued_certificate_id=issued.id,
                                     seal_key_enc=encrypt(private_raw.hex(), SEAL_KEY_PURPOSE))
    db.session.add(attempt)
    db.session.flush()
    install = issue_ticket(COUNTER_INSTALL, token_serial=ticket["token_serial"], cert_serial=issued.serial,
                           order_id=order.id, cert_hash=fingerprint(issued.pem), audience=AUDIENCE_COUNTER,
                           seal_key=public_b64, context={"attempt_id": attempt.id, "staff_id": staff_id})
    record_audit(_actor(staff_id), "counter.issued", target=f"order:{order.id}", ip=ip,
                 detail={"serial": issued.serial, "medium": attempt.token_serial})
    return Step("install", order, install.ticket, install.ticket_id, issued.pem, chain_pems(), issued.not_after)


def confirm(staff_id: int, ticket_id: object, signature: object, sealed_pin: object,
            ip: str = "") -> CounterPersonalisation:
    """The new key signed the install challenge and the helper set the PIN: the new certificate takes the lost
    one's place (lineage, 应用, bindings; the old stays revoked), the order notes it (it stays 制证中, shipping
    comes next), and the PIN's delivery is queued, the PIN kept only encrypted until then. Raises CounterRefused
    (a bad signature or sealed PIN), Conflict when the attempt or the order changed meanwhile."""
    ticket = _take(ticket_id, COUNTER_INSTALL, staff_id)
    attempt = db.session.scalar(sa.select(CounterPersonalisation).where(
        CounterPersonalisation.id == ticket["context"]["attempt_id"]).with_for_update()
        .execution_options(populate_existing=True))
    order = _lock_waiting(attempt.order_id)
    if attempt.status != PersonalisationStatus.ISSUED or attempt.seal_key_enc is None:
        raise Conflict("该次制证已作废，请重新开始", code="attempt_voided")
    issued = attempt.issued_certificate
    if not signed_by_certificate(issued.pem, unb64url(ticket["challenge"]), signature):
        record_audit(_actor(staff_id), "counter.confirm", target=f"order:{order.id}", result="bad_new_signature",
                     ip=ip)
        raise CounterRefused("新证书签名验证失败，请重新写入")
    try:
        pin = sealing.open_sealed(sealed_pin, bytes.fromhex(decrypt(attempt.seal_key_enc, SEAL_KEY_PURPOSE)),
                                  ticket_id)
    except sealing.SealBroken:
        record_audit(_actor(staff_id), "counter.confirm", target=f"order:{order.id}", result="bad_sealed_pin", ip=ip)
        raise CounterRefused("未收到介质设置的PIN码，请重新制证") from None
    if not PIN_FORMAT.fullmatch(pin):
        raise CounterRefused("未收到介质设置的PIN码，请重新制证")
    recipient = pin_recipient(order)
    old = order.certificate
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    new = supersede(old.id, Certificate(
        serial=issued.serial, subject_o=old.subject_o, subject_cn=old.subject_cn, subject_l=old.subject_l,
        subject_st=old.subject_st, email=old.email, legal_representative=old.legal_representative,
        credit_code=old.credit_code, cert_type=old.cert_type, not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc, medium_number=attempt.token_serial, pem=issued.pem),
        replacing_revoked=True)
    PERSONALISATION_STATES.move(attempt, PersonalisationStatus.WRITTEN)
    attempt.new_certificate_id, attempt.written_at, attempt.seal_key_enc = new.id, utcnow(), None
    order.new_certificate_id = new.id
    how = "打款附言发送至单位基本户" if recipient.channel == DeliveryChannel.PAYOUT else "短信发送至经办人手机"
    db.session.add(OrderEvent(order=order, from_status=order.status, to_status=order.status, actor=_actor(staff_id),
                              note=f"新介质已制作（介质号 {attempt.token_serial}，证书序列号 {new.serial}，有效期至"
                                   f"{local_day(new.not_after)}），PIN码将通过{how}"))
    delivery = PinDelivery(personalisation_id=attempt.id, channel=recipient.channel, status=DeliveryStatus.PENDING,
                           idempotency_key=f"PIN{order.order_no}-{attempt.id}"[:64],
                           pin_enc=encrypt(pin, PIN_PURPOSE), recipient_masked=recipient.masked)
    del pin
    db.session.add(delivery)
    db.session.flush()
    enqueue_after_commit(DELIVERY_JOB, delivery.id)
    record_audit(_actor(staff_id), "counter.written", target=f"order:{order.id}", ip=ip,
                 detail={"old": old.serial, "new": new.serial, "medium": attempt.token_serial,
                         "pin_delivery": recipient.channel, "recipient": recipient.masked})
    return attempt


def deliver_pin(delivery_id: int) -> str:
    """The delivery job's work: send the PIN by its channel with the delivery's idempotency key (the bank or the
    SMS gateway answers the first request again), then erase it. Does nothing unless the delivery is still
    待发送. A refusal or a failed payout makes it 发送失败 (the PIN erased too) and is audited."""
    delivery = db.session.scalar(sa.select(PinDelivery).where(PinDelivery.id == delivery_id).with_for_update()
                                 .execution_options(populate_existing=True))
    if delivery is None or delivery.status != DeliveryStatus.PENDING or delivery.pin_enc is None:
        return "nothing to do"
    order = delivery.personalisation.order
    application = db.session.scalar(sa.select(Application).where(Application.order_id == order.id))
    data = current_materials(application) or {}
    pin = decrypt(delivery.pin_enc, PIN_PURPOSE)
    try:
        if delivery.channel == DeliveryChannel.PAYOUT:
            result = payout_adapter().pay(idempotency_key=delivery.idempotency_key,
                                          account_name=data["bank_account_name"], account_number=data["bank_account"],
                                          bank_name=data["bank_name"], amount_fen=PAYOUT_AMOUNT_FEN, remark=remark(pin))
            if result.status == "processing":
                raise RuntimeError("payout still processing; retried")  # the same key never pays twice
            if result.status == "failed":
                return _delivery_failed(delivery, result.reason or "银行打款失败")
            reference = result.bank_reference
        else:
            reference = sms_sender().send(mobile=data["agent_mobile"],
                                          template=current_app.config["COUNTER_PIN_SMS_TEMPLATE"],
                                          params={"organisation": order.certificate.subject_o, "pin": pin},
                                          idempotency_key=delivery.idempotency_key)
    except (PayoutRefused, SmsRefused) as refused:
        return _delivery_failed(delivery, refused.message)
    finally:
        del pin
    DELIVERY_STATES.move(delivery, DeliveryStatus.DELIVERED)
    delivery.reference, delivery.delivered_at, delivery.pin_enc = reference[:64], utcnow(), None
    db.session.flush()
    record_audit("system", "counter.pin_delivered", target=f"order:{order.id}",
                 detail={"channel": delivery.channel, "recipient": delivery.recipient_masked,
                         "reference": delivery.reference})
    return "delivered"


def _delivery_failed(delivery: PinDelivery, reason: str) -> str:
    DELIVERY_STATES.move(delivery, DeliveryStatus.FAILED)
    delivery.failure_reason, delivery.pin_enc = reason[:200], None
    db.session.flush()
    record_audit("system", "counter.pin_delivery_failed", target=f"order:{delivery.personalisation.order_id}",
                 result="failed", detail={"channel": delivery.channel, "reason": delivery.failure_reason})
    return "failed"


def latest_attempt(order_id: int) -> CounterPersonalisation | None:
    return db.session.scalar(sa.select(CounterPersonalisation).where(CounterPersonalisation.order_id == order_id)
                             .order_by(CounterPersonalisation.id.desc()).limit(1))


def delivery_of(attempt: CounterPersonalisation | None) -> PinDelivery | None:
    if attempt is None:
        return None
    return db.session.scalar(sa.select(PinDelivery).where(PinDelivery.personalisation_id == attempt.id))
