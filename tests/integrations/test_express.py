"""Tracking through the `kuaidi100` adapter against the fake 快递100, and the `local` adapter."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from tests.support.outside import EXPRESS_CUSTOMER, EXPRESS_KEY
from wxbackend.core.errors import UpstreamError
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.integrations.express import (
    CARRIERS,
    NO_INFORMATION,
    ExpressRefused,
    LocalExpress,
    express_tracker,
    kuaidi100_sign,
)


def query(carrier="shunfeng", number="SF1234567890123", phone="13812345678"):
    return express_tracker().query(carrier=carrier, number=number, phone=phone)


def test_a_waybill_moves_to_signed_with_its_timeline(fake_express):
    fake_express.add_waybill("shunfeng", "SF1234567890123", phone="13812345678")
    first = query()
    assert (first.state, first.state_label, first.signed) == (1, "揽收", False)
    assert [e.context for e in first.events] == ["【广州市】快递员已揽收"]
    fake_express.advance("shunfeng", "SF1234567890123", 0, "【广州市】已发往深圳转运中心")
    fake_express.advance("shunfeng", "SF1234567890123", 5, "【深圳市】快递员正在派件")
    fake_express.advance("shunfeng", "SF1234567890123", 3, "【深圳市】已签收，签收人：本人")
    done = query()
    assert (done.state, done.state_label, done.signed) == (3, "签收", True)
    assert done.events[0].context == "【深圳市】已签收，签收人：本人" and len(done.events) == 4
    assert done.events[0].time > done.events[-1].time and done.events[0].time.tzinfo is not None


def test_only_the_phones_last_four_digits_are_sent(fake_express):
    fake_express.add_waybill("shunfeng", "SF1234567890123", phone="13812345678")
    assert query(phone="13900005678").state == 1  # another number, same last four: 快递100 cannot tell
    with pytest.raises(ExpressRefused, match="手机号后四位"):
        query(phone="13812340000")
    with pytest.raises(ExpressRefused, match="后四位"):
        query(phone="")


def test_a_waybill_the_carrier_does_not_know_yet(fake_express):
    tracking = query(carrier="yuantong", number="YT0000000001", phone="")
    assert (tracking.state, tracking.state_label, tracking.events, tracking.signed) == (
        NO_INFORMATION, "暂无物流信息", [], False)


def test_a_wrong_key_is_refused_by_the_fake(fake_express, app, monkeypatch):
    monkeypatch.setitem(app.config, "EXPRESS_KEY", "not-the-key")
    fake_express.add_waybill("ems", "EM263999513JP")
    with pytest.raises(UpstreamError):
        query(carrier="ems", number="EM263999513JP")


def test_the_sign_is_md5_of_param_key_customer_upper_case(fake_express):
    fake_express.add_waybill("ems", "EM263999513JP")
    param = json.dumps({"com": "ems", "num": "EM263999513JP"})
    url = fake_express.base_url + "poll/query.do"
    good = requests.post(url, data={"customer": EXPRESS_CUSTOMER, "param": param,
                                    "sign": kuaidi100_sign(param, EXPRESS_KEY, EXPRESS_CUSTOMER)}, timeout=5).json()
    assert good["status"] == "200" and good["state"] == "1"
    lower = requests.post(url, data={"customer": EXPRESS_CUSTOMER, "param": param,
                                     "sign": kuaidi100_sign(param, EXPRESS_KEY, EXPRESS_CUSTOMER).lower()},
                          timeout=5).json()
    assert lower == {"result": False, "returnCode": "503", "message": "验证签名失败"}


def test_timeouts_and_errors_are_upstream_errors(fake_express, app, monkeypatch):
    monkeypatch.setitem(app.config, "EXPRESS_TIMEOUT_SECONDS", 1)
    fake_express.mode("timeout", delay=2.5)
    with pytest.raises(UpstreamError, match="物流查询服务暂时不可用"):
        query()
    fake_express.mode("error")
    with pytest.raises(UpstreamError):
        query()


def test_unknown_carriers_and_odd_numbers_never_leave(fake_express):
    for carrier, number in (("dhl-fake", "123"), ("ems", ""), ("ems", "EM 1"), ("ems", "单号123"), ("ems", "9" * 33)):
        with pytest.raises(ExpressRefused):
            query(carrier=carrier, number=number)
    assert fake_express.calls() == {}


def test_carriers_are_named_in_chinese():
    assert CARRIERS["shunfeng"] == "顺丰速运" and CARRIERS["yuantong"] == "圆通速递" and "ems" in CARRIERS


def test_local_moves_one_step_at_a_time_to_signed(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "EXPRESS_ADAPTER", "local")
    first = query()
    assert (first.state, first.signed, len(first.events)) == (1, False, 1)
    tracker = LocalExpress(timedelta(minutes=10))
    later = tracker.query(carrier="shunfeng", number="SF1234567890123", phone="13812345678")
    assert later == first
    # the waybill's clock started at the first query; pretend it started an hour ago
    get_redis().set("express:local:shunfeng:SF1234567890123", (utcnow() - timedelta(hours=1)).timestamp())
    done = tracker.query(carrier="shunfeng", number="SF1234567890123", phone="13812345678")
    assert (done.state, done.state_label, done.signed, len(done.events)) == (3, "签收", True, 5)
    assert "尾号5678" in done.events[1].context


def test_local_refuses_to_run_in_production(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "EXPRESS_ADAPTER", "local")
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    with pytest.raises(UpstreamError):
        express_tracker()
