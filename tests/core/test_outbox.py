"""The outbox (DESIGN §16) in one process: work recorded with the change that causes it, rq carrying only the
row's id, the row marked done in the job's commit, failures counted, and the sweep handing over what was lost."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from rq import SimpleWorker

from tests.support.flows import run_jobs
from wxbackend.audit.models import AuditLog
from wxbackend.core.jobs import enqueue_after_commit, get_queue, run_outbox, sweep_outbox
from wxbackend.core.outbox import OutboxEntry
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.users.models import User

SECRET_TEXT = "人工 我的身份证号是11010519491231002X，验证码 864213"


def entries(db_session) -> list[OutboxEntry]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(OutboxEntry).order_by(OutboxEntry.id)))


def redis_bytes(redis=None) -> bytes:
    """Everything the test's Redis database holds, keys and values, as one blob."""
    redis = redis or get_redis()
    blob = b""
    for key in redis.scan_iter():
        blob += key
        kind = redis.type(key)
        if kind == b"hash":
            blob += b"".join(k + v for k, v in redis.hgetall(key).items())
        elif kind == b"string":
            blob += redis.get(key) or b""
        elif kind == b"list":
            blob += b"".join(redis.lrange(key, 0, -1))
        elif kind == b"zset":
            blob += b"".join(redis.zrange(key, 0, -1))
        elif kind == b"set":
            blob += b"".join(redis.smembers(key))
    return blob


def test_work_is_recorded_with_the_change_and_rq_carries_only_the_row_id(db_session):
    enqueue_after_commit("wechat.unfollow", "oOUTBOX1")
    [entry] = entries(db_session)
    assert entry.job == "wechat.unfollow" and entry.args == ["oOUTBOX1"] and entry.done_at is None
    assert get_queue("wechat").count == 0  # not before the commit
    db_session.commit()
    [job] = get_queue("wechat").jobs
    assert job.args == (entry.id,) and job.kwargs == {}
    assert job.description == f"wechat.unfollow outbox:{entry.id}"
    run_jobs()
    [entry] = entries(db_session)
    assert entry.done_at is not None and entry.due_at is None and entry.attempts == 0
    user = db_session.scalar(sa.select(User).where(User.openid == "oOUTBOX1"))
    assert user is not None and user.following is False


def test_a_rolled_back_change_records_and_enqueues_nothing(db_session):
    db_session.begin_nested()
    enqueue_after_commit("wechat.unfollow", "oOUTBOX2")
    db_session.rollback()
    db_session.commit()
    assert entries(db_session) == [] and get_queue("wechat").count == 0


def test_a_followers_text_is_neither_in_redis_nor_in_the_row_in_clear(db_session):
    enqueue_after_commit("wechat.hand_over_to_staff", "oOUTBOX3", SECRET_TEXT, "msg:outbox-3", 1700000000)
    db_session.commit()
    blob = redis_bytes()
    assert get_queue("wechat").count == 1
    for needle in ("11010519491231002X", "864213", "身份证"):
        assert needle.encode() not in blob
    [entry] = entries(db_session)
    assert b"11010519491231002X" not in entry.args_enc and entry.args[1] == SECRET_TEXT


def test_a_row_run_twice_does_its_work_once(db_session):
    enqueue_after_commit("wechat.unfollow", "oOUTBOX4")
    db_session.commit()
    [entry] = entries(db_session)
    [job] = get_queue("wechat").jobs
    get_queue("wechat").enqueue_job(job)  # the same row handed over twice (a sweep racing a slow worker)
    run_jobs()
    audits = db_session.scalars(sa.select(AuditLog).where(AuditLog.action == "wechat.unfollow")).all()
    assert len(audits) == 1
    assert entries(db_session)[0].done_at is not None


def test_a_failed_attempt_is_counted_and_due_again_after_the_jobs_first_retry(db_session, smtp_sink, invoice_files):
    from tests.invoices.test_invoices import paid_order, profile_input
    from tests.support.factories import make_user
    from wxbackend.invoices import service

    smtp_sink.stop()
    user = make_user()
    profile = service.create_profile(user.id, profile_input())
    service.request_invoice(user.id, [paid_order(user).id], profile_id=profile.id)
    db_session.commit()
    before = utcnow()
    run_jobs()
    by_job = {entry.job: entry for entry in entries(db_session)}
    assert by_job["invoices.issue_invoice"].done_at is not None
    mail = by_job["invoices.email_invoice"]
    assert mail.done_at is None and mail.attempts == 1 and mail.last_error.startswith("MailFailed")
    assert timedelta(seconds=25) < mail.due_at - before < timedelta(seconds=40)  # email_invoice retries after 30 s
    assert get_queue("mail").scheduled_job_registry.count == 1  # rq's scheduler holds the retry


def test_the_sweep_hands_over_what_redis_lost_once(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 60)
    enqueue_after_commit("wechat.unfollow", "oOUTBOX5")
    db_session.commit()
    get_redis().flushdb()  # Redis lost the job
    assert sweep_outbox() == 0  # within the lease: it may still be running somewhere
    [entry] = entries(db_session)
    entry.due_at = entry.enqueued_at = utcnow() - timedelta(seconds=61)
    db_session.commit()
    assert sweep_outbox() == 1
    assert sweep_outbox() == 0  # a second sweep right after does not hand it over again
    assert get_queue("wechat").count == 1
    SimpleWorker([get_queue("wechat")], connection=get_redis()).work(burst=True)
    assert entries(db_session)[0].done_at is not None
    assert sweep_outbox() == 0


def test_cron_table_runs_the_sweep_every_minute(db_session):
    from rq.cron import CronScheduler

    from tests.conftest import ROOT

    scheduler = CronScheduler(connection=get_redis())
    scheduler.load_config_from_file(str(ROOT / "jobs" / "cron.py"))
    entries_by_name = {entry.func.__name__: entry for entry in scheduler.get_jobs()}
    assert entries_by_name["sweep_outbox"].interval == 60


def test_a_dedupe_key_reuses_the_open_row_and_a_done_one_means_done(db_session):
    enqueue_after_commit("wechat.unfollow", "oOUTBOX6", dedupe_key="unfollow:oOUTBOX6")
    enqueue_after_commit("wechat.unfollow", "oOUTBOX6", dedupe_key="unfollow:oOUTBOX6")
    db_session.commit()
    assert len(entries(db_session)) == 1
    run_jobs()
    enqueue_after_commit("wechat.unfollow", "oOUTBOX6", dedupe_key="unfollow:oOUTBOX6")
    db_session.commit()
    [entry] = entries(db_session)
    assert entry.done_at is not None and get_queue("wechat").count == 0


def test_rows_whose_retries_are_spent_wait_and_can_be_made_due_again(db_session):
    from wxbackend.core import outbox

    enqueue_after_commit("wechat.unfollow", "oOUTBOX7")
    db_session.commit()
    [entry] = entries(db_session)
    entry.attempts, entry.due_at, entry.last_error = 3, None, "WeChatError: 45009"
    db_session.commit()
    assert sweep_outbox() == 0  # spent: not the sweep's
    assert outbox.revive_spent() == [entry.id]
    db_session.commit()
    [entry] = entries(db_session)
    assert entry.attempts == 0 and entry.due_at is not None and entry.done_at is None


def test_a_notice_handed_to_rq_twice_reaches_the_user_once(db_session, wechat):
    from tests.support.factories import make_user
    from wxbackend.notices.service import queue_notice

    user = make_user()
    queue_notice(user.id, "audit_result", {"order_no": "R-1", "result": "通过"})
    db_session.commit()
    [job] = get_queue("notices").jobs
    get_queue("notices").enqueue_job(job)  # a sweep and rq both hand it over
    run_jobs()
    assert [m["touser"] for m in wechat.messages()] == [user.openid]
    [entry] = entries(db_session)
    assert entry.done_at is not None
    assert run_outbox(entry.id) == "nothing to do"  # run again by hand: still one notice
    assert len(wechat.messages()) == 1
