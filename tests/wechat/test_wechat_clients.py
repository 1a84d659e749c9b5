"""The WeChat adapter against the fake server: one access_token for every process, one refresh after 40001,
the JS-SDK signature, the menu, notices and their refusals."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid

import pytest
from rq import Queue

from tests.conftest import ROOT, TEST_REDIS_URL, wechat_settings
from tests.support.flows import run_jobs
from wxbackend.core.redis import get_redis
from wxbackend.integrations.wechat import WeChatError, official_account, wechat_call
from wxbackend.notices.service import queue_notice
from wxbackend.users.service import user_for_wechat
from wxbackend.wechat.jssdk import jsapi_signature
from wxbackend.wechat.menu import MENU, Button, MenuInvalid, build_menu

WORKER = """
import json, sys, time
import redis
from wxbackend import create_app
from wxbackend.integrations.wechat import official_account
barrier, count = sys.argv[1], int(sys.argv[2])
app = create_app()
with app.app_context():
    client = official_account()
    r = redis.Redis.from_url(app.config["REDIS_URL"])
    ready = time.time()
    r.incr(barrier)
    deadline = time.monotonic() + 30
    while int(r.get(barrier)) < count:  # every process imported and waiting before the first call
        if time.monotonic() > deadline:
            sys.exit("the other processes never arrived at the barrier")
        time.sleep(0.005)
    released = time.time()
    answer = client.user.get("oANYONE")
    print(json.dumps({"answer": answer, "ready": ready, "released": released, "done": time.time()}))
"""


def run_processes(wechat, count: int) -> list[dict]:
    """`count` processes that each build a client, wait at a Redis barrier until all of them are there, then make
    one call; their answers. Asserts that no process made its call before every other one was ready."""
    env = {**os.environ, "APP_ENV": "testing", "REDIS_URL": TEST_REDIS_URL}
    for key, value in wechat_settings(wechat.base_url).items():
        env[key] = ",".join(value) if isinstance(value, list) else str(value)
    barrier = f"test:barrier:{uuid.uuid4().hex}"
    processes = [subprocess.Popen([sys.executable, "-c", WORKER, barrier, str(count)], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert len(reports) == count
    # they overlapped: the last one got ready before the first one made its call
    assert max(r["ready"] for r in reports) <= min(r["released"] for r in reports)
    return [r["answer"] for r in reports]


def test_processes_starting_without_a_token_fetch_it_once(wechat, db_session):
    results = run_processes(wechat, 5)
    assert all(r["subscribe"] == 1 for r in results)
    assert wechat.calls()["/cgi-bin/stable_token"] == 1


def test_processes_with_an_expired_token_refresh_it_exactly_once(app, wechat, db_session):
    with wechat_call():
        official_account().user.get("oWARMUP")  # every process will read this token from Redis
    assert wechat.calls()["/cgi-bin/stable_token"] == 1
    wechat.expire_tokens()  # WeChat now answers 40001 to it
    results = run_processes(wechat, 5)
    assert all(r["openid"] == "oANYONE" for r in results)
    calls = wechat.calls()
    assert calls["/cgi-bin/stable_token"] == 2  # the first fetch, and one refresh for all five processes
    # warm-up, then per process one call, plus a retry when it read the old token before the refresh landed
    assert 1 + 5 <= calls["/cgi-bin/user/info"] <= 1 + 5 + 5


def test_a_40001_is_retried_once_not_forever(app, wechat, db_session):
    wechat.fail("/cgi-bin/user/info", 40001, times=10)
    with pytest.raises(WeChatError) as refused, wechat_call():
        official_account().user.get("oX")
    assert refused.value.errcode == 40001
    calls = wechat.calls()
    assert calls["/cgi-bin/user/info"] == 2 and calls["/cgi-bin/stable_token"] == 2


@pytest.fixture
def one_second_timeout(app, wechat, monkeypatch):
    """WECHAT_TIMEOUT_SECONDS = 1 for this test; the clients built with it are dropped afterwards, whatever the
    test's outcome (the `wechat` fixture drops them), so the next test gets a client with the configured timeout."""
    monkeypatch.setitem(app.config, "WECHAT_TIMEOUT_SECONDS", 1)
    app.extensions.pop("wechat_clients", None)
    yield
    app.extensions.pop("wechat_clients", None)


def test_every_call_has_a_timeout(app, wechat, db_session, one_second_timeout):
    wechat.delay("/cgi-bin/menu/get", 3)
    assert official_account().timeout == 1
    started = time.monotonic()
    with pytest.raises(WeChatError) as failed, wechat_call():
        official_account().menu.get()
    assert failed.value.errcode is None and time.monotonic() - started < 2.5


def test_the_next_test_gets_the_configured_timeout_and_no_queued_delay(app, wechat, db_session):
    """Runs after the 1-second test: neither its cached client nor its 3-second delay is left over."""
    assert app.config["WECHAT_TIMEOUT_SECONDS"] != 1
    assert official_account().timeout == app.config["WECHAT_TIMEOUT_SECONDS"]
    started = time.monotonic()
    with wechat_call():
        official_account().menu.get()
    assert time.monotonic() - started < 1


def test_jsapi_signature_matches_wechats_documented_example():
    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    signature = jsapi_signature(ticket, "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value")
    assert signature == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_jssdk_config_signs_our_page_without_its_fragment_and_shares_the_ticket(app, client, wechat):
    base = app.config["PUBLIC_BASE_URL"]
    first = client.get("/api/wechat/jssdk-config", query_string={"url": f"{base}/h5/bind?x=1#step2"})
    assert first.status_code == 200
    config = first.json
    ticket = get_redis().get(f"wechat:jsapi_ticket:{config['appId']}").decode()
    assert config["signature"] == jsapi_signature(ticket, config["nonceStr"], config["timestamp"],
                                                  f"{base}/h5/bind?x=1")
    client.get("/api/wechat/jssdk-config", query_string={"url": f"{base}/h5/"})
    assert wechat.calls()["/cgi-bin/ticket/getticket"] == 1
    foreign = client.get("/api/wechat/jssdk-config", query_string={"url": "https://evil.example/h5/"})
    assert foreign.status_code == 400 and foreign.json["code"] == "foreign_url"
    missing = client.get("/api/wechat/jssdk-config")
    assert missing.status_code == 400 and set(missing.json) >= {"code", "message"}


def test_menu_is_validated_and_synced(app, wechat):
    menu = build_menu("https://ca.example.cn")
    assert len(menu["button"]) <= 3 and all(len(b["sub_button"]) <= 5 for b in menu["button"])
    assert [s["name"] for s in menu["button"][0]["sub_button"]] == [
        "数安CA管家", "我的数字证书", "证书绑定", "我的受理单", "我的发票"]
    result = app.test_cli_runner().invoke(args=["wx", "menu-sync"])
    assert result.exit_code == 0, result.output
    assert "menu synced: 3 buttons" in result.output
    [held] = wechat.control("GET", "menu").values()
    assert held == build_menu(app.config["PUBLIC_BASE_URL"])


def test_an_invalid_menu_is_never_sent(wechat):
    too_many = MENU[0][1] + [Button("第六个", key="SIX")]
    with pytest.raises(MenuInvalid) as invalid:
        build_menu("https://ca.example.cn", [("客户服务与支持中心", too_many), *MENU[1:], ("多余", MENU[2][1])])
    problems = " ".join(invalid.value.problems)
    assert "4 top-level buttons" in problems and "6 sub-buttons" in problems and "longer than 16 bytes" in problems
    assert wechat.calls() == {}


def test_notice_to_an_unsubscribed_user_is_logged_once_and_not_retried(app, wechat, db_session, caplog):
    user = user_for_wechat(openid="oGONE")
    wechat.user("oGONE", subscribed=False)
    queue_notice(user.id, "renewal_done", {"organisation": "广州某某科技有限公司", "not_after": "2027-12-31"})
    db_session.commit()  # notices are enqueued when the unit of work that asks for them commits
    with caplog.at_level(logging.WARNING):
        run_jobs()
        run_jobs()
    assert wechat.calls()["/cgi-bin/message/template/send"] == 1
    refusals = [r for r in caplog.records if "refused by WeChat (43004)" in r.getMessage()]
    assert len(refusals) == 1
    queue = Queue("notices", connection=get_redis())
    assert queue.count == 0 and queue.scheduled_job_registry.count == 0 and queue.failed_job_registry.count == 0


def test_mini_program_user_gets_a_subscribe_message_and_no_consent_is_dropped(app, wechat, db_session, caplog):
    user = user_for_wechat(mp_openid="mpFAN")
    wechat.user("mpFAN", consents=["SUB-payment_received"])
    queue_notice(user.id, "payment_received", {"order_no": "SA2026112100001", "amount": "300.00"})
    queue_notice(user.id, "payment_received", {"order_no": "SA2026112100002", "amount": "300.00"})
    db_session.commit()  # notices are enqueued when the unit of work that asks for them commits
    with caplog.at_level(logging.WARNING):
        run_jobs()
    [sent] = wechat.messages()
    assert sent["kind"] == "subscribe" and sent["touser"] == "mpFAN"
    assert sent["data"]["thing2"]["value"] == "SA2026112100001"
    assert any("refused by WeChat (43101)" in r.getMessage() for r in caplog.records)  # one consent, one message


def test_a_transient_failure_is_retried_a_bounded_number_of_times(app, wechat, db_session):
    user = user_for_wechat(openid="oBUSY")
    wechat.fail("/cgi-bin/message/template/send", 45009, times=1)
    queue_notice(user.id, "expiry_reminder", {"organisation": "某公司", "not_after": "2026-12-01"})
    db_session.commit()  # notices are enqueued when the unit of work that asks for them commits
    run_jobs()
    queue = Queue("notices", connection=get_redis())
    [job_id] = queue.scheduled_job_registry.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job.retries_left == 2
