"""Bank payouts through the `http` adapter against the fake gateway (signed both ways), and the `local` adapter."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.support.outside import PAYOUT_KEY, PAYOUT_MERCHANT
from wxbackend.core.errors import UpstreamError
from wxbackend.integrations.bank_payout import (
    PayoutRefused,
    PayoutRequestInvalid,
    PayoutResult,
    PayoutUnknown,
    payout_adapter,
)
from wxbackend.integrations.signed_http import signature

ACCOUNT = {"account_name": "广州某某科技有限公司", "account_number": "6222020200112233445",
           "bank_name": "中国工商银行广州天河支行", "amount_fen": 1}


def pay(key="application-7-attempt-1", remark="数安CA金融认证 483920", **extra):
    return payout_adapter().pay(idempotency_key=key, remark=remark, **{**ACCOUNT, **extra})


def test_a_payout_reaches_the_bank_with_its_remark(fake_payouts):
    result = pay()
    assert result.status == "succeeded" and result.bank_reference.startswith("FB") and result.reason == ""
    [payout] = fake_payouts.payouts()
    assert payout["amount_fen"] == 1 and payout["remark"] == "数安CA金融认证 483920"
    assert payout["account_number"] == ACCOUNT["account_number"] and payout["account_name"] == ACCOUNT["account_name"]
    assert payout_adapter().query("application-7-attempt-1") == result


def test_the_same_key_never_pays_twice(fake_payouts):
    first = pay()
    assert pay() == first
    assert len(fake_payouts.payouts()) == 1
    assert pay(key="application-7-attempt-2") != first
    assert len(fake_payouts.payouts()) == 2


def test_a_used_key_with_another_payout_is_refused(fake_payouts):
    pay()
    with pytest.raises(PayoutRefused) as refused:
        pay(amount_fen=100)
    assert refused.value.message == "幂等键已用于另一笔打款"
    assert [p["amount_fen"] for p in fake_payouts.payouts()] == [1]


def test_a_timeout_after_the_bank_took_the_order_is_retried_safely(fake_payouts, app, monkeypatch):
    monkeypatch.setitem(app.config, "BANK_PAYOUT_TIMEOUT_SECONDS", 1)
    fake_payouts.mode("timeout", delay=2.5)
    with pytest.raises(UpstreamError) as failed:
        pay()
    assert failed.value.message == "银行代付服务暂时不可用，请稍后再试"
    fake_payouts.mode("normal")
    assert pay().status == "succeeded"
    assert payout_adapter().query("application-7-attempt-1").status == "succeeded"
    assert len(fake_payouts.payouts()) == 1


def test_a_gateway_error_pays_nothing(fake_payouts):
    fake_payouts.mode("error")
    with pytest.raises(UpstreamError):
        pay()
    assert fake_payouts.payouts() == []


def test_processing_then_failed_with_the_banks_reason(fake_payouts):
    fake_payouts.mode("normal", outcome="processing")
    assert pay().status == "processing"
    fake_payouts.settle("application-7-attempt-1", "failed", "户名与账号不符")
    assert payout_adapter().query("application-7-attempt-1") == PayoutResult(
        "failed", fake_payouts.payouts()[0]["bank_reference"], "户名与账号不符")


def test_querying_a_key_the_bank_never_received(fake_payouts):
    with pytest.raises(PayoutUnknown):
        payout_adapter().query("never-sent")


def test_a_bad_account_number_is_refused(fake_payouts):
    with pytest.raises(PayoutRefused, match="收款账号格式不正确"):
        pay(account_number="62220202abc")


def test_our_wrong_key_is_refused_by_the_gateway(fake_payouts, app, monkeypatch):
    monkeypatch.setitem(app.config, "BANK_PAYOUT_HMAC_KEY", "not-the-key")
    with pytest.raises(UpstreamError):  # its 401 is signed with the real key: not trusted either
        pay()
    assert fake_payouts.payouts() == []


def test_an_answer_signed_with_another_key_is_not_believed(fake_payouts):
    fake_payouts.mode("bad_signature")
    with pytest.raises(UpstreamError):
        pay()


def test_the_fake_refuses_unsigned_and_replayed_requests(fake_payouts):
    body = json.dumps({"idempotency_key": "k", **ACCOUNT, "remark": "x"}).encode()
    assert requests.post(fake_payouts.base_url + "payouts", data=body, timeout=5).status_code == 401
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Client-Id": PAYOUT_MERCHANT, "X-Timestamp": timestamp,
               "X-Nonce": "n1",
               "X-Signature": signature(PAYOUT_KEY, "POST", "/payouts", timestamp, "n1", body)}
    first = requests.post(fake_payouts.base_url + "payouts", data=body, headers=headers, timeout=5)
    replayed = requests.post(fake_payouts.base_url + "payouts", data=body, headers=headers, timeout=5)
    assert (first.status_code, replayed.status_code) == (200, 401)
    assert len(fake_payouts.payouts()) == 1


def test_local_writes_the_payout_once_to_its_file(app, db_session, monkeypatch, tmp_path):
    path = tmp_path / "payouts.log"
    monkeypatch.setitem(app.config, "BANK_PAYOUT_ADAPTER", "local")
    monkeypatch.setitem(app.config, "BANK_PAYOUT_LOCAL_FILE", str(path))
    first = pay()
    assert pay() == first and first.status == "succeeded"
    [line] = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["remark"] == "数安CA金融认证 483920"
    assert payout_adapter().query("application-7-attempt-1") == first
    with pytest.raises(PayoutUnknown):
        payout_adapter().query("never-sent")


def test_local_refuses_to_run_in_production(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "BANK_PAYOUT_ADAPTER", "local")
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    with pytest.raises(UpstreamError):
        payout_adapter()


def test_a_zero_or_fractional_amount_never_leaves(fake_payouts):
    for amount in (0, -1, 0.01, True, "1"):
        with pytest.raises(PayoutRequestInvalid, match="打款金额应为正整数"):
            pay(amount_fen=amount)
    assert fake_payouts.payouts() == []


def test_keys_that_would_change_the_url_and_long_remarks_never_leave(fake_payouts):
    for key in ("a/b", "../payouts", "k?x=1", "", "k" * 65):
        with pytest.raises(ValueError):
            pay(key=key)
        with pytest.raises(ValueError):
            payout_adapter().query(key)
    with pytest.raises(PayoutRequestInvalid, match="打款附言不能超过32个字符"):
        pay(remark="附" * 33)
    assert fake_payouts.payouts() == [] and fake_payouts.calls() == {}
