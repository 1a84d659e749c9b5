"""The service-wide budget of wrong binding codes is an alarm, not a lock (issue 18 item 4): after a burst from
250 accounts on 250 addresses spends it, the service slows down those who failed and alerts once, while a
legitimate claim with the right code, and the QR path, still succeed."""

import logging

import sqlalchemy as sa

from tests.support.factories import make_user
from tests.support.flows import helper_sign, pc_confirm, pc_get_code, pc_start
from wxbackend.audit.models import AuditLog
from wxbackend.core.redis import get_redis
from wxbackend.web.auth import issue_api_token


def phone_for(app, name: str, address: str):
    """A mini-program user (bearer token) on an address of its own."""
    user = make_user(name)
    token, _ = issue_api_token(user.id)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def claim(client, code: str, last4: str):
    return client.post("/api/binding/claims", json={"code": code, "last4": last4})


def alerts(db_session):
    return db_session.scalars(sa.select(AuditLog).where(AuditLog.action == "binding.failure_budget")).all()


def burst(app, db_session, accounts: int = 250) -> list:
    guessers = [phone_for(app, f"攻击者{i}", f"10.18.{i // 200}.{i % 200 + 1}") for i in range(accounts)]
    db_session.commit()
    statuses = [claim(guesser, f"{n:08d}", "abcd").status_code for n in range(2) for guesser in guessers]
    assert set(statuses) <= {400, 429}
    return guessers


def test_a_burst_spends_the_budget_but_the_right_code_still_binds(app, pc, helper, db_session, caplog):
    session = pc_get_code(pc, helper)
    with caplog.at_level(logging.ERROR, logger="wxbackend.binding.limits"):
        guessers = burst(app, db_session)
    assert int(get_redis().get("bind:fail:global")) >= 500
    # alerted once: one ERROR line, one audit row
    assert len([r for r in caplog.records if "wrong binding codes service-wide" in r.getMessage()]) == 1
    assert [row.result for row in alerts(db_session)] == ["tripped"]

    # slowed down: an account that just failed must wait, however little of its own budget it spent
    again = claim(guessers[0], "77777777", "abcd")
    assert again.status_code == 429 and again.json["code"] == "too_many_attempts"
    assert "秒后再试" in again.json["message"]
    # a legitimate claim with the right code, from an account and address with no failure, succeeds
    owner = phone_for(app, "证书管理员", "203.0.113.50")
    db_session.commit()
    claimed = claim(owner, session.code, session.last4)
    assert claimed.status_code == 201, claimed.json
    assert pc_confirm(pc, session).json["state"] == "bound"
    # a newcomer who types a wrong code is told so (400), not locked out by the others' burst
    newcomer = phone_for(app, "新用户", "203.0.113.51")
    db_session.commit()
    assert claim(newcomer, "12345678", "abcd").status_code == 400
    assert len(alerts(db_session)) == 1  # still one alert in this window


def test_the_qr_path_is_served_while_the_budget_is_spent(app, pc, helper, db_session, monkeypatch):
    from wxbackend.binding.service import open_binding_session

    monkeypatch.setitem(app.config, "BIND_FAILURES_GLOBAL", 4)
    guessers = burst(app, db_session, accounts=2)
    assert claim(guessers[0], "55555555", "abcd").status_code == 429  # failed and slowed down
    # that same account, holding the QR token the PC shows, still claims
    started = pc_start(pc, helper)
    signature = helper_sign(helper, started["ticket"]).json()["signature"]
    opened = open_binding_session(started["ticket_id"], signature, "127.0.0.1")
    response = guessers[0].post("/api/binding/claims", json={"qr_token": opened.qr_token})
    assert response.status_code == 201, response.json
    assert response.json["session_id"] == opened.session_id
