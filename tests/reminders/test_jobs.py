"""The reminder jobs: the cron table runs the scan daily in the morning (Asia/Shanghai), the job commits its work, and
the scan works the same on SQLite (`make run`'s database)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import upgrade
from rq.cron import CronScheduler

from tests.conftest import ROOT
from tests.reminders.support import TODAY, expected_count, seed
from wxbackend import create_app
from wxbackend.core.db import db
from wxbackend.core.outbox import OutboxEntry
from wxbackend.core.redis import get_redis
from wxbackend.reminders.models import Reminder
from wxbackend.reminders.service import deliver, scan
from wxbackend.reminders.tasks import scan_due


def test_the_cron_table_runs_the_scan_every_morning(db_session):
    scheduler = CronScheduler(connection=get_redis())
    scheduler.load_config_from_file(str(ROOT / "jobs" / "cron.py"))
    entries = {entry.func.__name__: entry for entry in scheduler.get_jobs()}
    assert entries["scan_due"].func is scan_due
    assert (entries["scan_due"].queue_name, entries["scan_due"].cron) == ("default", "0 1 * * *")


def test_the_scan_job_records_todays_reminders(db_session):
    seeded = seed()
    assert scan_due() == expected_count(seeded)
    assert scan_due() == 0


def test_the_scan_on_sqlite(app_config, tmp_path):
    sqlite_app = create_app({**app_config, "DATABASE_URL": f"sqlite:///{tmp_path / 'reminders.db'}",
                             "NOTICES_ADAPTER": "log"})
    with sqlite_app.app_context():
        upgrade()
        seeded = seed()
        db.session.commit()
        assert scan(TODAY, batch_size=2) == expected_count(seeded)
        db.session.commit()
        assert scan(TODAY) == 0
        reminder = db.session.scalars(sa.select(Reminder).order_by(Reminder.id)).first()
        assert deliver(reminder.id, seeded.user.id) == "log"
        assert deliver(reminder.id, seeded.user.id) == "already"
        queued = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEntry))
        assert queued == expected_count(seeded)
        db.session.commit()
        db.engine.dispose()


def test_the_scan_command_catches_up_a_day(app, db_session):
    seeded = seed()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["reminders", "scan", "--date", TODAY.isoformat(), "--batch-size", "2"])
    assert first.exit_code == 0 and f"已记录{expected_count(seeded)}条到期提醒" in first.output
    again = runner.invoke(args=["reminders", "scan", "--date", TODAY.isoformat()])
    assert again.exit_code == 0 and "已记录0条到期提醒" in again.output
    assert runner.invoke(args=["reminders", "scan", "--date", "2026-13-01"]).exit_code != 0
