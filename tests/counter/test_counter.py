"""Personalising a replacement key at the counter (issue 14) through the real helper on a fresh SoftHSM2 token, and
the PIN's delivery through the payout and SMS fakes."""

from __future__ import annotations

import base64
import logging
import time
from datetime import timedelta

import pkcs11
import pytest
import redis
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helper_protocol.tickets import b64url, encode_ticket
from tests.conftest import TEST_REDIS_URL, TICKET_SEED
from tests.counter.support import BLANK_PIN, replacement_order
from tests.support.flows import run_jobs
from tests.support.pkilint_check import lint_certificate, lint_chain
from tests.support.staff import make_staff, sign_in_staff
from tests.support.x509check import verify_chain
from wxbackend.ca.models import IssuedCertificate, IssuedStatus
from wxbackend.ca.service import get_authority
from wxbackend.certificates.models import Binding, BindingStatus, Certificate, CertificateStatus
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError
from wxbackend.core.times import utcnow
from wxbackend.counter import service
from wxbackend.counter.models import CounterPersonalisation, DeliveryStatus, PersonalisationStatus, PinDelivery
from wxbackend.orders.models import OrderEvent, OrderStatus
from wxbackend.staff.models import Role
from wxbackend.tickets.service import issue_ticket


@pytest.fixture
def maker(db_session):
    return make_staff("maker1", Role.MAKER)


@pytest.fixture
def blank(softhsm_store):
    """A blank key from the vendor: initialised, its initial user PIN, no object on it."""
    return softhsm_store.make_token(label="BLANK UKEY", pin=BLANK_PIN)


def token_serial(helper) -> str:
    answer = helper.get("/v1/token")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["certificates"] == [] and body["key_ids"] == []
    return body["token"]["serial"]


def keygen(helper, step, pin=BLANK_PIN):
    return helper.request("POST", "/v1/counter/keygen", json={"ticket": step.ticket, "pin": pin})


def install(helper, step, pin=BLANK_PIN):
    return helper.request("POST", "/v1/counter/install", json={
        "ticket": step.ticket, "pin": pin, "certificate": step.certificate_pem, "chain": step.chain_pem})


def personalise(helper, maker, order) -> tuple[CounterPersonalisation, dict]:
    started = service.start(maker.id, order.id, token_serial(helper))
    made = keygen(helper, started)
    assert made.status_code == 200, made.text
    issued = service.issue(maker.id, started.ticket_id, made.json()["csr"])
    written = install(helper, issued)
    assert written.status_code == 200, written.text
    attempt = service.confirm(maker.id, issued.ticket_id, written.json()["signature"], written.json()["sealed_pin"])
    db.session.commit()
    return attempt, written.json()


def delivered_pin(fake_payouts) -> str:
    payouts = fake_payouts.payouts()
    assert len(payouts) == 1
    remark = payouts[0]["remark"]
    assert remark.startswith("数字证书PIN码")
    return remark.removeprefix("数字证书PIN码")


def login_works(softhsm_store, serial: str, pin: str) -> bool:
    token = next(slot.get_token() for slot in softhsm_store.lib().get_slots(token_present=True)
                 if slot.get_token().serial.decode().strip() == serial)
    try:
        with token.open(user_pin=pin):
            return True
    except pkcs11.exceptions.PinIncorrect:
        return False


def everything_in_the_database() -> str:
    """Every value of every column of every table, as text (bytes as their hex and latin-1 text)."""
    out = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            for value in row:
                if isinstance(value, bytes | memoryview):
                    value = bytes(value)
                    out.append(value.hex())
                    out.append(value.decode("latin-1"))
                else:
                    out.append(str(value))
    return "\n".join(out)


def everything_in_redis() -> str:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    out = []
    for key in client.scan_iter():
        out.append(key.decode("latin-1"))
        kind = client.type(key).decode()
        if kind == "string":
            out.append(client.get(key).decode("latin-1"))
        elif kind == "hash":
            out.extend(f"{k!r}{v!r}" for k, v in client.hgetall(key).items())
        elif kind == "list":
            out.extend(repr(v) for v in client.lrange(key, 0, -1))
        elif kind == "set":
            out.extend(repr(v) for v in client.smembers(key))
        elif kind == "zset":
            out.extend(repr(v) for v in client.zrange(key, 0, -1))
        elif kind == "stream":
            out.append(repr(client.xrange(key)))
    return "\n".join(out)


def test_personalise_wechat_paid_pin_in_payout_remark(db_session, softhsm_store, blank, start_helper, maker,
                                                     fake_payouts, fake_sms, caplog):
    caplog.set_level(logging.DEBUG)
    case = replacement_order(softhsm_store, pay_channel="wechat")
    apps = sorted(app.name for app in case.old.apps)
    assert "深圳公共资源交易中心" in apps
    helper = start_helper()
    attempt, written = personalise(helper, maker, case.order)

    order = db.session.get(type(case.order), case.order.id)
    new = db.session.get(Certificate, order.new_certificate_id)
    old = db.session.get(Certificate, case.old.id)
    assert order.status == OrderStatus.MAKING  # shipping comes next
    assert attempt.status == PersonalisationStatus.WRITTEN and attempt.seal_key_enc is None
    assert new.medium_number == blank == written["medium_number"]
    assert new.previous_id == old.id  # the lineage
    assert old.status == CertificateStatus.REVOKED  # stays revoked
    assert db.session.scalar(sa.select(IssuedCertificate.status).where(IssuedCertificate.serial == old.serial)) \
        == IssuedStatus.REVOKED
    assert sorted(app.name for app in new.apps) == apps and not old.apps
    bindings = db.session.scalars(sa.select(Binding).where(Binding.user_id == case.user.id)).all()
    assert {(b.certificate_id, b.status) for b in bindings} == {(old.id, BindingStatus.UNBOUND),
                                                                (new.id, BindingStatus.ACTIVE)}
    assert db.session.scalars(sa.select(OrderEvent.note).where(OrderEvent.order_id == order.id)
                              .order_by(OrderEvent.id.desc())).first().startswith("新介质已制作")

    # the new certificate: the old subject, the old not_after (REPLACEMENT_VALIDITY=keep), the test CA's chain
    cert = x509.load_pem_x509_certificate(new.pem.encode())
    old_cert = x509.load_pem_x509_certificate(old.pem.encode())
    assert cert.subject == old_cert.subject
    assert abs((cert.not_valid_after_utc - old_cert.not_valid_after_utc).total_seconds()) < 1
    authority = get_authority()
    assert ": OK" in verify_chain(cert, authority.issuing, authority.root)
    # the replaced certificate lints as clean as every other the CA makes (issue 17), and chains
    assert lint_certificate(cert) == ""
    assert lint_chain(authority.issuing, cert) == ""
    # on the key: the certificate beside its key pair
    view = helper.get("/v1/token").json()
    assert [c["serial"] for c in view["certificates"]] == [new.serial] and len(view["key_ids"]) == 1

    delivery = db.session.scalar(sa.select(PinDelivery).where(PinDelivery.personalisation_id == attempt.id))
    assert delivery.status == DeliveryStatus.PENDING and delivery.pin_enc is not None
    run_jobs()
    db.session.expire_all()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.pin_enc is None  # erased once delivered
    payout = fake_payouts.payouts()[0]
    assert payout["account_number"] == "6222021234567890123" and payout["amount_fen"] == 1
    assert payout["account_name"] == "深圳某某科技有限公司"
    pin = delivered_pin(fake_payouts)
    assert len(pin) == 8 and pin.isdigit()
    assert fake_sms.messages() == []

    # the PIN opens the key, the blank key's initial PIN no longer does
    helper.process.terminate()
    helper.process.wait(timeout=5)
    assert login_works(softhsm_store, blank, pin)
    assert not login_works(softhsm_store, blank, BLANK_PIN)

    # and it is nowhere else: not in the logs, the database, Redis, the helper's log
    assert pin not in caplog.text
    assert pin not in everything_in_the_database()
    assert pin not in everything_in_redis()
    assert pin not in helper.log()


def test_transfer_paid_pin_by_sms_to_the_agent(db_session, softhsm_store, blank, start_helper, maker, fake_payouts,
                                              fake_sms, caplog):
    caplog.set_level(logging.DEBUG)
    case = replacement_order(softhsm_store, pay_channel="transfer", agent_mobile="13712345678")
    helper = start_helper()
    attempt, _ = personalise(helper, maker, case.order)
    run_jobs()
    messages = fake_sms.messages()
    assert len(messages) == 1 and messages[0]["mobile"] == "13712345678"
    assert messages[0]["template"] == "certificate_pin"
    pin = messages[0]["params"]["pin"]
    assert messages[0]["params"]["organisation"] == "深圳某某科技有限公司"
    assert fake_payouts.payouts() == []
    delivery = db.session.scalar(sa.select(PinDelivery).where(PinDelivery.personalisation_id == attempt.id))
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.recipient_masked == "137****5678"
    helper.process.terminate()
    helper.process.wait(timeout=5)
    assert login_works(softhsm_store, blank, pin)
    assert pin not in caplog.text
    assert pin not in everything_in_the_database()
    assert pin not in everything_in_redis()


def test_the_delivery_job_run_twice_pays_once(db_session, softhsm_store, blank, start_helper, maker, fake_payouts):
    case = replacement_order(softhsm_store, pay_channel="wechat")
    attempt, _ = personalise(start_helper(), maker, case.order)
    delivery = db.session.scalar(sa.select(PinDelivery).where(PinDelivery.personalisation_id == attempt.id))
    assert service.deliver_pin(delivery.id) == "delivered"
    db.session.commit()
    assert service.deliver_pin(delivery.id) == "nothing to do"
    run_jobs()  # the outbox job, run once more
    assert len(fake_payouts.payouts()) == 1


def test_a_crash_after_paying_pays_once_on_retry(db_session, softhsm_store, blank, start_helper, maker,
                                                 fake_payouts):
    """The bank paid but our commit was lost: the retried job pays with the same key, and the bank answers the
    first payout."""
    case = replacement_order(softhsm_store, pay_channel="wechat")
    attempt, _ = personalise(start_helper(), maker, case.order)
    delivery_id = db.session.scalar(sa.select(PinDelivery.id).where(PinDelivery.personalisation_id == attempt.id))
    assert service.deliver_pin(delivery_id) == "delivered"
    db.session.rollback()  # the job's commit never happened
    assert service.deliver_pin(delivery_id) == "delivered"
    db.session.commit()
    assert len(fake_payouts.payouts()) == 1


def test_the_new_certificate_ends_when_the_order_said_within_the_issuing_ca(db_session, softhsm_store, blank,
                                                                           start_helper, maker, fake_payouts):
    """The order's new_not_after is what the replacement page showed before payment (REPLACEMENT_VALIDITY=extend:
    a year from the day it was asked for); the counter issues exactly that, and never beyond the issuing CA."""
    case = replacement_order(softhsm_store)
    promised = (utcnow() + timedelta(days=365)).replace(microsecond=0)
    case.order.new_not_after = promised
    db.session.commit()
    attempt, _ = personalise(start_helper(), maker, case.order)
    new = attempt.new_certificate
    assert new.not_after == min(promised, get_authority().issuing.not_valid_after_utc)


def test_a_key_that_is_not_blank_is_refused(db_session, softhsm_store, start_helper, maker, fake_payouts):
    case = replacement_order(softhsm_store)
    used = softhsm_store.make_token(label="USED UKEY", pin=BLANK_PIN)
    with softhsm_store.lib().get_token(token_serial=used.encode()).open(rw=True, user_pin=BLANK_PIN) as session:
        session.generate_keypair(pkcs11.KeyType.RSA, 2048, store=True, label="someone else's", id=b"other")
    helper = start_helper()
    started = service.start(maker.id, case.order.id, used)
    refused = keygen(helper, started)
    assert refused.status_code == 409 and refused.json()["code"] == "token_not_blank"
    assert len(helper.get("/v1/token").json()["key_ids"]) == 1  # nothing made


def test_a_key_already_on_record_is_refused_before_any_ticket(db_session, softhsm_store, maker, fake_payouts):
    case = replacement_order(softhsm_store)
    with pytest.raises(DomainError) as refused:
        service.start(maker.id, case.order.id, case.old.medium_number)
    assert refused.value.code == "counter_refused"


def test_an_old_certificate_not_revoked_is_refused(db_session, softhsm_store, blank, maker, fake_payouts):
    case = replacement_order(softhsm_store)
    fresh = Certificate(serial="AB" * 8, subject_o="x", subject_cn="x", not_before=case.old.not_before,
                        not_after=case.old.not_after, medium_number="M1", pem="-")
    db.session.add(fresh)
    db.session.flush()
    case.order.certificate_id = fresh.id
    db.session.flush()
    assert fresh.status == CertificateStatus.VALID
    with pytest.raises(DomainError):
        service.start(maker.id, case.order.id, blank)


def test_an_unwritten_attempt_is_voided_when_starting_again(db_session, softhsm_store, blank, start_helper, maker,
                                                           fake_payouts):
    case = replacement_order(softhsm_store)
    helper = start_helper()
    started = service.start(maker.id, case.order.id, token_serial(helper))
    issued = service.issue(maker.id, started.ticket_id, keygen(helper, started).json()["csr"])
    db.session.commit()
    serial = x509.load_pem_x509_certificate(issued.certificate_pem.encode()).serial_number
    # the key was re-initialised by the vendor tool; the staff member starts again
    service.start(maker.id, case.order.id, blank)
    record = db.session.scalar(sa.select(IssuedCertificate).where(IssuedCertificate.serial == format(serial, "X")))
    assert record.status == IssuedStatus.VOIDED
    attempt = db.session.scalar(sa.select(CounterPersonalisation).where(
        CounterPersonalisation.order_id == case.order.id))
    assert attempt.status == PersonalisationStatus.VOIDED and attempt.seal_key_enc is None


def test_a_tampered_sealed_pin_is_refused(db_session, softhsm_store, blank, start_helper, maker, fake_payouts):
    case = replacement_order(softhsm_store)
    helper = start_helper()
    started = service.start(maker.id, case.order.id, token_serial(helper))
    issued = service.issue(maker.id, started.ticket_id, keygen(helper, started).json()["csr"])
    written = install(helper, issued).json()
    sealed = written["sealed_pin"]
    forged = sealed[:-2] + ("AA" if sealed[-2:] != "AA" else "BB")
    with pytest.raises(DomainError) as refused:
        service.confirm(maker.id, issued.ticket_id, written["signature"], forged)
    assert refused.value.code == "counter_refused"


# --- the ticket audience: a counter ticket is refused on customer routes, and the reverse ---------------------------

def forged(op: str, aud: str | None, **extra) -> str:
    now = int(time.time())
    payload = {"v": 1, "jti": b64url(b"x" * 12 + str(time.monotonic_ns()).encode()), "op": op,
               "ch": b64url(b"c" * 32), "cs": "", "ts": extra.pop("ts", "whatever"), "iat": now, "exp": now + 120,
               "ord": 1, **extra}
    if aud is not None:
        payload["aud"] = aud
    return encode_ticket(payload, Ed25519PrivateKey.from_private_bytes(base64.b64decode(TICKET_SEED)))


def test_a_counter_ticket_is_refused_on_customer_routes(db_session, softhsm_store, blank, start_helper):
    helper = start_helper()
    for path, op in (("/v1/sign", "sign"), ("/v1/keygen", "keygen")):
        answer = helper.request("POST", path, json={"ticket": forged(op, "counter", ts=blank), "pin": BLANK_PIN})
        assert answer.status_code == 403 and answer.json()["code"] == "ticket_invalid", answer.text


def test_a_customer_ticket_is_refused_on_counter_routes(db_session, softhsm_store, blank, start_helper):
    helper = start_helper()
    for aud in ("customer", None):
        answer = helper.request("POST", "/v1/counter/keygen",
                                json={"ticket": forged("counter_keygen", aud, ts=blank), "pin": BLANK_PIN})
        assert answer.status_code == 403 and answer.json()["code"] == "ticket_invalid", answer.text
    # the same forged ticket with the counter audience passes the ticket check (and makes a key: blank key)
    answer = helper.request("POST", "/v1/counter/keygen",
                            json={"ticket": forged("counter_keygen", "counter", ts=blank), "pin": BLANK_PIN})
    assert answer.status_code == 200, answer.text


def test_the_backend_refuses_a_customer_ticket_id_at_the_counter(db_session, softhsm_store, maker, fake_payouts):

    customer = issue_ticket("counter_keygen", token_serial="T1", order_id=1, context={"order_id": 1,
                                                                                     "staff_id": maker.id})
    with pytest.raises(DomainError) as refused:
        service.issue(maker.id, customer.ticket_id, "csr")
    assert refused.value.code == "ticket_invalid"


# --- the console: 制证 only -----------------------------------------------------------------------------------------

def test_staff_without_maker_cannot_personalise(db_session, softhsm_store, blank, client, fake_payouts):
    case = replacement_order(softhsm_store)
    auditor = make_staff("auditor1", Role.AUDITOR, Role.SUPPORT)
    csrf = sign_in_staff(client, auditor)
    assert client.get(f"/admin/counter/{case.order.id}").status_code == 403
    answer = client.post(f"/admin/counter/api/{case.order.id}/start", data={"token_serial": blank},
                         headers={"X-CSRFToken": csrf})
    assert answer.status_code == 403 and answer.json["code"]
    assert db.session.scalar(sa.select(sa.func.count(CounterPersonalisation.id))) == 0


def test_no_staff_session_is_sent_to_sign_in(db_session, softhsm_store, blank, client, fake_payouts):
    case = replacement_order(softhsm_store)
    answer = client.post(f"/admin/counter/api/{case.order.id}/start", data={"token_serial": blank})
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]


def test_the_console_drives_the_whole_flow_over_http(db_session, softhsm_store, blank, start_helper, client, maker,
                                                    fake_payouts):
    case = replacement_order(softhsm_store)
    helper = start_helper()
    csrf = sign_in_staff(client, maker)
    page = client.get(f"/admin/counter/{case.order.id}")
    assert page.status_code == 200 and "写入新介质" in page.text and case.order.order_no in page.text
    queue = client.get("/admin/counter")
    assert case.order.order_no in queue.text
    headers = {"X-CSRFToken": csrf}
    started = client.post(f"/admin/counter/api/{case.order.id}/start", data={"token_serial": token_serial(helper)},
                          headers=headers)
    assert started.status_code == 200, started.text
    made = helper.request("POST", "/v1/counter/keygen", json={"ticket": started.json["ticket"], "pin": BLANK_PIN})
    issued = client.post("/admin/counter/api/issue", json={"ticket_id": started.json["ticket_id"],
                                                           "csr": made.json()["csr"]}, headers=headers)
    assert issued.status_code == 200, issued.text
    written = helper.request("POST", "/v1/counter/install", json={
        "ticket": issued.json["ticket"], "pin": BLANK_PIN, "certificate": issued.json["certificate_pem"],
        "chain": issued.json["chain_pem"]})
    assert written.status_code == 200, written.text
    assert "pin" not in {k for k in written.json() if k != "sealed_pin"}
    done = client.post("/admin/counter/api/confirm", json={"ticket_id": issued.json["ticket_id"],
                                                           "signature": written.json()["signature"],
                                                           "sealed_pin": written.json()["sealed_pin"]},
                       headers=headers)
    assert done.status_code == 200, done.text
    assert done.json["delivery"] == {"channel": "payout", "recipient": done.json["delivery"]["recipient"]}
    assert done.json["medium_number"] == blank
    # a second confirm with the same ticket is refused as JSON, not a 500
    again = client.post("/admin/counter/api/confirm", json={"ticket_id": issued.json["ticket_id"],
                                                            "signature": "x", "sealed_pin": "y"}, headers=headers)
    assert again.status_code == 400 and again.json["code"] == "ticket_invalid"
    # the page now shows the result, never the PIN
    run_jobs()
    pin = delivered_pin(fake_payouts)
    shown = client.get(f"/admin/counter/{case.order.id}").text
    assert "已发送" in shown and pin not in shown


def test_another_makers_ticket_is_refused(db_session, softhsm_store, blank, start_helper, maker, fake_payouts):
    case = replacement_order(softhsm_store)
    other = make_staff("maker2", Role.MAKER)
    helper = start_helper()
    started = service.start(maker.id, case.order.id, token_serial(helper))
    made = keygen(helper, started).json()
    with pytest.raises(DomainError) as refused:
        service.issue(other.id, started.ticket_id, made["csr"])
    assert refused.value.code == "ticket_invalid"


def test_garbage_is_a_chinese_json_refusal(db_session, softhsm_store, client, maker, fake_payouts):
    case = replacement_order(softhsm_store)
    csrf = sign_in_staff(client, maker)
    headers = {"X-CSRFToken": csrf}
    for path, body in ((f"/admin/counter/api/{case.order.id}/start", {"token_serial": "../../x"}),
                       ("/admin/counter/api/issue", {"ticket_id": 5, "csr": ["x"]}),
                       ("/admin/counter/api/confirm", {"ticket_id": "x" * 20, "signature": None})):
        answer = client.post(path, json=body, headers=headers) if "start" not in path else \
            client.post(path, data=body, headers=headers)
        assert 400 <= answer.status_code < 500 and answer.json["message"], (path, answer.text)


def test_a_processing_payout_is_retried_and_a_failed_one_erases_the_pin(db_session, softhsm_store, blank,
                                                                       start_helper, maker, fake_payouts):
    case = replacement_order(softhsm_store, pay_channel="wechat")
    attempt, _ = personalise(start_helper(), maker, case.order)
    delivery_id = db.session.scalar(sa.select(PinDelivery.id).where(PinDelivery.personalisation_id == attempt.id))
    fake_payouts.mode("normal", outcome="processing")
    with pytest.raises(RuntimeError):
        service.deliver_pin(delivery_id)  # rq retries it; the same key never pays twice
    db.session.rollback()
    fake_payouts.settle(fake_payouts.payouts()[0]["idempotency_key"], "failed", "户名与账号不符")
    assert service.deliver_pin(delivery_id) == "failed"
    db.session.commit()
    delivery = db.session.get(PinDelivery, delivery_id)
    assert delivery.status == DeliveryStatus.FAILED and delivery.pin_enc is None
    assert delivery.failure_reason == "户名与账号不符"
    assert len(fake_payouts.payouts()) == 1


def test_starting_asks_for_a_fresh_totp_code(db_session, softhsm_store, blank, client, maker, app, monkeypatch,
                                            fake_payouts):
    case = replacement_order(softhsm_store)
    csrf = sign_in_staff(client, maker)
    monkeypatch.setitem(app.config, "STAFF_FRESH_TOTP_MINUTES", 0)
    time.sleep(1)
    path = f"/admin/counter/api/{case.order.id}/start"
    stale = client.post(path, data={"token_serial": blank}, headers={"X-CSRFToken": csrf})
    assert stale.status_code == 428 and stale.json["message"] == "此操作需要再次输入动态口令"
    fresh = client.post(path, data={"token_serial": blank, "totp_code": maker.next_code()},
                        headers={"X-CSRFToken": csrf})
    assert fresh.status_code == 200 and fresh.json["mode"] == "keygen", fresh.text
