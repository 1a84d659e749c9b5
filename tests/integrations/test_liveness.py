"""Liveness through the `tencent` provider against the fake FaceID, and the `local` provider."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.outside import LIVENESS_SECRET_ID, LIVENESS_SECRET_KEY
from wxbackend.core.errors import UpstreamError
from wxbackend.integrations.liveness import LivenessRequestInvalid, LivenessResult, liveness_provider, tc3_authorization

PERSON = {"name": "王小明", "id_number": "11010519491231002X"}
RETURN = "https://ca.example.cn/h5/applications/7/liveness/return?step=1"


def start(**extra):
    return liveness_provider().start(**{**PERSON, "id_photo": b"\xff\xd8photo", "redirect_url": RETURN,
                                        "extra": "application:7", **extra})


def test_the_hosted_page_passes_and_the_result_is_pulled(fake_liveness):
    started = start()
    [session] = fake_liveness.sessions()
    assert session["biz_token"] == started.biz_token and session["name"] == "王小明"
    assert session["id_number"] == PERSON["id_number"] and session["had_photo"] and session["rule_id"] == "1"
    assert liveness_provider().result(started.biz_token).status == "pending"

    page = requests.get(started.url, timeout=5)
    assert "人脸核身" in page.text and "通过" in page.text and "不通过" in page.text
    back = requests.post(started.url + "/finish", data={"outcome": "passed"}, allow_redirects=False, timeout=5)
    target = urlsplit(back.headers["Location"])
    assert back.status_code == 302 and target.path == "/h5/applications/7/liveness/return"
    assert parse_qs(target.query) == {"step": ["1"], "BizToken": [started.biz_token]}

    result = liveness_provider().result(started.biz_token)
    assert result.status == "passed" and result.similarity == pytest.approx(92.35)
    assert result.reference == started.biz_token


def test_a_failed_check_says_why(fake_liveness):
    started = start(id_photo=None)
    fake_liveness.finish(started.biz_token, "failed")
    result = liveness_provider().result(started.biz_token)
    assert result.status == "failed" and result.reason == "比对相似度未达到通过标准"
    assert result.similarity == pytest.approx(31.2)
    assert not fake_liveness.sessions()[0]["had_photo"]


def test_a_forged_redirect_changes_nothing(fake_liveness):
    started = start()
    forged = requests.get(fake_liveness.forged_redirect_url(started.biz_token), allow_redirects=False, timeout=5)
    assert started.biz_token in forged.headers["Location"]
    assert liveness_provider().result(started.biz_token).status == "pending"


def test_made_up_and_expired_tokens_are_expired_not_passed(fake_liveness):
    assert liveness_provider().result("00000000-0000-0000-0000-000000000000").status == "expired"
    started = start()
    fake_liveness.finish(started.biz_token, "passed")
    fake_liveness.expire(started.biz_token)
    assert liveness_provider().result(started.biz_token).status == "expired"


def test_a_wrong_secret_is_refused_by_the_provider(fake_liveness, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIVENESS_SECRET_KEY", "not-the-secret")
    with pytest.raises(UpstreamError) as refused:
        start()
    assert refused.value.message == "人脸核身服务暂时不可用，请稍后再试"
    assert fake_liveness.sessions() == []


def test_the_fake_checks_the_tc3_signature_itself(fake_liveness):
    body = b'{"RuleId":"1","Name":"x"}'
    host = urlsplit(fake_liveness.base_url).netloc
    now = int(time.time())

    def call(authorization, timestamp=now, payload=body):
        return requests.post(fake_liveness.base_url, data=payload, timeout=5, headers={
            "Content-Type": "application/json; charset=utf-8", "X-TC-Action": "DetectAuth",
            "X-TC-Version": "2018-03-01", "X-TC-Timestamp": str(timestamp), "Authorization": authorization}).json()

    good = tc3_authorization(secret_id=LIVENESS_SECRET_ID, secret_key=LIVENESS_SECRET_KEY, service="faceid",
                             host=host, timestamp=now, payload=body)
    assert "BizToken" in call(good)["Response"]
    tampered = call(good, payload=b'{"RuleId":"2","Name":"x"}')
    assert tampered["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    old = now - 3600
    stale = tc3_authorization(secret_id=LIVENESS_SECRET_ID, secret_key=LIVENESS_SECRET_KEY, service="faceid",
                              host=host, timestamp=old, payload=body)
    assert call(stale, timestamp=old)["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert call("")["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"


def test_a_slow_provider_times_out_as_an_upstream_error(fake_liveness, app, monkeypatch):
    monkeypatch.setitem(app.config, "LIVENESS_TIMEOUT_SECONDS", 1)
    fake_liveness.mode("timeout", delay=2.5)
    began = time.monotonic()
    with pytest.raises(UpstreamError):
        start()
    assert time.monotonic() - began < 2.4


def test_a_provider_error_is_an_upstream_error(fake_liveness):
    fake_liveness.mode("error")
    with pytest.raises(UpstreamError):
        liveness_provider().result("whatever")


def test_local_passes_at_once_and_knows_only_its_own_tokens(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "LIVENESS_PROVIDER", "local")
    started = start()
    assert parse_qs(urlsplit(started.url).query)["BizToken"] == [started.biz_token]
    assert started.url.startswith("https://ca.example.cn/h5/applications/7/liveness/return?step=1&")
    assert liveness_provider().result(started.biz_token) == LivenessResult("passed", started.biz_token, 100.0, "")
    assert liveness_provider().result("LOCAL-FORGED").status == "expired"


def test_local_refuses_to_run_in_production(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "LIVENESS_PROVIDER", "local")
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    with pytest.raises(UpstreamError):
        liveness_provider()


def test_a_token_typed_into_the_return_url_never_reaches_the_provider(fake_liveness):
    for typed in ("", "../../etc/passwd", "x" * 65, "A B", "<script>"):
        assert liveness_provider().result(typed).status == "expired"
    assert fake_liveness.calls() == {}


def test_inputs_beyond_faceids_limits_never_leave(fake_liveness):
    for bad in ({"name": "名" * 33}, {"redirect_url": "javascript:alert(1)"}, {"extra": "e" * 1025},
                {"id_photo": b"0" * (2 * 1024 * 1024 + 1)}):
        with pytest.raises(LivenessRequestInvalid):
            start(**bad)
    assert fake_liveness.sessions() == []
