"""Text messages through the `http` adapter against the fake SMS gateway (signed both ways), and `local`."""

from __future__ import annotations

import json
import logging

import pytest

from wxbackend.core.errors import UpstreamError
from wxbackend.integrations.sms import SmsRefused, SmsRequestInvalid, sms_sender

PIN = "73916428"


def send(key="replacement-9-pin", mobile="13812345678", **extra):
    return sms_sender().send(mobile=mobile, template="ukey_pin", params={"pin": PIN}, idempotency_key=key, **extra)


def test_a_message_is_sent_with_its_params(fake_sms):
    message_id = send()
    [message] = fake_sms.messages()
    assert message["message_id"] == message_id and message["mobile"] == "13812345678"
    assert message["template"] == "ukey_pin" and message["params"] == {"pin": PIN}


def test_the_same_key_never_sends_twice(fake_sms):
    assert send() == send()
    assert len(fake_sms.messages()) == 1
    send(key="replacement-9-pin-again")
    assert len(fake_sms.messages()) == 2


def test_the_pin_is_never_logged(fake_sms, caplog):
    with caplog.at_level(logging.DEBUG):
        send()
        fake_sms.mode("refuse")
        with pytest.raises(SmsRefused):
            send(key="other")
    assert caplog.records and PIN not in caplog.text and "13812345678" not in caplog.text
    assert "138****5678" in caplog.text


def test_a_timeout_is_an_upstream_error_and_the_retry_sends_nothing_more(fake_sms, app, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_TIMEOUT_SECONDS", 1)
    fake_sms.mode("timeout", delay=2.5)
    with pytest.raises(UpstreamError) as failed:
        send()
    assert failed.value.message == "短信服务暂时不可用，请稍后再试"
    fake_sms.mode("normal")
    assert send() == fake_sms.messages()[0]["message_id"]
    assert len(fake_sms.messages()) == 1


def test_gateway_errors_and_bad_signatures_are_upstream_errors(fake_sms, app, monkeypatch):
    fake_sms.mode("error")
    with pytest.raises(UpstreamError):
        send()
    fake_sms.mode("bad_signature")
    with pytest.raises(UpstreamError):
        send()
    fake_sms.mode("normal")
    monkeypatch.setitem(app.config, "SMS_HMAC_KEY", "not-the-key")
    with pytest.raises(UpstreamError):
        send(key="third")
    assert [m["idempotency_key"] for m in fake_sms.messages()] == ["replacement-9-pin"]  # bad_signature: sent


def test_a_number_that_is_not_a_mobile_never_leaves(fake_sms):
    for mobile in ("0201234567", "138123456789", "+8613812345678", ""):
        with pytest.raises(SmsRequestInvalid, match="手机号码格式不正确"):
            send(mobile=mobile)
    assert fake_sms.messages() == []


def test_local_writes_once_to_its_file_and_logs_no_params(app, db_session, monkeypatch, tmp_path, caplog):
    path = tmp_path / "sms.log"
    monkeypatch.setitem(app.config, "SMS_ADAPTER", "local")
    monkeypatch.setitem(app.config, "SMS_LOCAL_FILE", str(path))
    with caplog.at_level(logging.DEBUG):
        assert send() == send()
    [line] = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["params"] == {"pin": PIN}
    assert PIN not in caplog.text


def test_local_refuses_to_run_in_production(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_ADAPTER", "local")
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    with pytest.raises(UpstreamError):
        sms_sender()
