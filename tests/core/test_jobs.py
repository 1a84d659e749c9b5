"""Jobs through a real Redis and real rq workers."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from rq import SimpleWorker

from tests.conftest import ROOT, TEST_REDIS_URL
from wxbackend.audit.models import AuditLog
from wxbackend.certificates.models import CertApp, Certificate
from wxbackend.certificates.tasks import mark_expired
from wxbackend.core.jobs import get_queue
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow


def make_certificate(db_session, serial: str, not_after_delta: timedelta, status: str = "valid") -> Certificate:
    now = utcnow()
    cert = Certificate(serial=serial, subject_o="广州某某科技有限公司", subject_cn="广州某某科技有限公司",
                       not_before=now - timedelta(days=365), not_after=now + not_after_delta,
                       medium_number="0123456789ABCDEF", pem="-", status=status)
    cert.apps.append(CertApp(name="广东省政府采购网", expires_at=now + not_after_delta))
    db_session.add(cert)
    db_session.flush()
    return cert


def test_mark_expired_job_runs_through_redis_and_a_worker(db_session):
    expired = make_certificate(db_session, "AA01", timedelta(days=-1))
    current = make_certificate(db_session, "AA02", timedelta(days=10))
    revoked = make_certificate(db_session, "AA03", timedelta(days=-5), status="revoked")

    queue = get_queue("default")
    job = queue.enqueue(mark_expired)
    assert SimpleWorker([queue], connection=get_redis()).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == 1

    for cert in (expired, current, revoked):
        db_session.refresh(cert)
    assert (expired.status, current.status, revoked.status) == ("expired", "valid", "revoked")
    assert [a.status for a in expired.apps] == ["expired"]
    assert [a.status for a in current.apps] == ["active"]
    audit = db_session.scalars(sa.select(AuditLog).where(AuditLog.action == "certificate.expired")).all()
    assert [a.target for a in audit] == [f"certificate:{expired.id}"]


def test_running_the_job_twice_changes_nothing_more(db_session):
    make_certificate(db_session, "BB01", timedelta(hours=-1))
    assert mark_expired() == 1
    assert mark_expired() == 0
    assert db_session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 1


def test_cron_table_registers_the_job(db_session):
    """The file `rq cron` is started with loads into rq's scheduler with the hourly job."""
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=get_redis())
    scheduler.load_config_from_file(str(ROOT / "jobs" / "cron.py"))
    entries = {entry.func.__name__: entry for entry in scheduler.get_jobs()}
    assert entries["mark_expired"].func is mark_expired
    assert (entries["mark_expired"].queue_name, entries["mark_expired"].interval) == ("default", 3600)
    assert entries["query_unconfirmed_payments"].interval == 300


def test_worker_process_runs_jobs_inside_an_app_context(tmp_path: Path):
    """`python -m jobs.worker --burst` against its own SQLite database and the real Redis."""
    db_file = tmp_path / "worker.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_file}", "REDIS_URL": TEST_REDIS_URL,
           "FLASK_APP": "wxbackend:create_app", "APP_ENV": "testing", "CA_DIR": str(tmp_path / "ca")}
    flask = [sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    engine = sa.create_engine(f"sqlite:///{db_file}")
    past = (utcnow() - timedelta(days=2)).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO certificates (serial, subject_o, subject_cn, subject_l, subject_st, email, "
            "legal_representative, cert_type, not_before, not_after, medium_number, pem, status, created_at) "
            "VALUES ('CC01', 'O', 'CN', '', '', '', '', 'org_sign', :nb, :na, 'M', '-', 'valid', :na)"),
            {"nb": past - timedelta(days=365), "na": past})
    import redis
    from rq import Queue

    queue = Queue("default", connection=redis.Redis.from_url(TEST_REDIS_URL))
    queue.enqueue("wxbackend.certificates.tasks.mark_expired")
    done = subprocess.run([sys.executable, "-m", "jobs.worker", "--burst"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM certificates WHERE serial = 'CC01'")).scalar() == "expired"
