"""The daily scan over a seeded set: one reminder per stage (certificates and 应用), none for a renewed certificate,
one with an open order, one nobody is bound to; a second run creates nothing; keyset batches find the same rows;
two concurrent scans (each its own connection, real commits) create each reminder once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from tests.reminders.support import STAGES, TODAY, certificate_ending, expected_count, seed
from tests.support.factories import bind, make_user
from wxbackend.core.db import db
from wxbackend.core.outbox import OutboxEntry
from wxbackend.reminders.models import Reminder
from wxbackend.reminders.service import reminder_days, scan


def reminders() -> list[Reminder]:
    return list(db.session.scalars(sa.select(Reminder).order_by(Reminder.id)))


def deliveries_queued() -> list[list]:
    entries = db.session.scalars(sa.select(OutboxEntry).where(OutboxEntry.job == "reminders.deliver"))
    return sorted(entry.args for entry in entries)


def test_the_stages_come_from_the_config(app, db_session):
    assert reminder_days() == [90, 30, 7, 0, -7, -30]


def test_one_reminder_per_stage_and_none_for_renewed_ordered_or_unbound(db_session):
    seeded = seed()
    assert scan(TODAY) == expected_count(seeded)
    found = reminders()
    by_certificate = {(r.certificate_id, r.cert_app_id): r for r in found}
    for stage, certificate in seeded.due.items():
        reminder = by_certificate[(certificate.id, None)]
        assert reminder.stage == stage and reminder.target == "certificate"
        assert reminder.ends_on == TODAY + timedelta(days=stage)
        assert reminder.key == f"certificate:{certificate.id}:{reminder.ends_on.isoformat()}:{stage}"
    app_reminder = by_certificate[(seeded.app.certificate_id, seeded.app.id)]
    assert app_reminder.stage == 30 and app_reminder.target == "app"
    assert {r.certificate_id for r in found} >= {c.id for c in seeded.same_day}
    assert not {r.certificate_id for r in found} & {c.id for c in seeded.quiet}
    # one delivery per reminder and bound user, recorded in the same unit of work
    assert deliveries_queued() == sorted([r.id, seeded.user.id] for r in found)


def test_every_bound_user_gets_a_delivery(db_session):
    certificate = certificate_ending(7)
    users = [make_user(name) for name in ("张三", "李四", "王五")]
    for user in users:
        bind(user, certificate)
    assert scan(TODAY) == 1
    [reminder] = reminders()
    assert deliveries_queued() == sorted([reminder.id, user.id] for user in users)


def test_a_second_run_creates_and_queues_nothing(db_session):
    seeded = seed()
    assert scan(TODAY) == expected_count(seeded)
    before = (len(reminders()), deliveries_queued())
    assert scan(TODAY) == 0
    assert (len(reminders()), deliveries_queued()) == before


def test_small_keyset_batches_find_the_same_rows(db_session):
    seeded = seed()
    assert scan(TODAY, batch_size=1) == expected_count(seeded)
    assert len({r.key for r in reminders()}) == expected_count(seeded)
    assert scan(TODAY, batch_size=2) == 0


def test_the_next_day_finds_the_next_stage_only(db_session):
    certificate = certificate_ending(31)
    bind(make_user(), certificate)
    assert scan(TODAY) == 0
    assert scan(TODAY + timedelta(days=1)) == 1
    [reminder] = reminders()
    assert reminder.certificate_id == certificate.id and reminder.stage == 30


def test_a_renewed_app_is_reminded_again_for_its_new_end(db_session):
    certificate = certificate_ending(300, apps=(("深圳公共资源交易中心", 7),))
    bind(make_user(), certificate)
    app = certificate.apps[0]
    assert scan(TODAY) == 1
    app.expires_at = app.expires_at + timedelta(days=365)  # renewed: a new end, a new cycle
    db.session.flush()
    assert scan(TODAY) == 0
    assert scan(TODAY + timedelta(days=365)) == 1


def test_two_concurrent_scans_create_each_reminder_once(live_db):
    """Two schedulers at once, each with its own session and connection: the first holds its transaction open after
    scanning; the second's inserts wait on the unique key and, once the first commits, insert nothing."""
    live = live_db
    with live.app_context():
        seeded = seed()
        expected = expected_count(seeded)
        db.session.commit()
    first_scanned, results, errors = threading.Event(), {}, []

    def first():
        try:
            with live.app_context():
                results["first"] = scan(TODAY)
                first_scanned.set()
                time.sleep(1.0)  # the second scan is now waiting on our uncommitted rows
                results["first_committed_at"] = time.monotonic()
                db.session.commit()
        except Exception as failed:  # pragma: no cover - reported below
            errors.append(failed)
            first_scanned.set()

    def second():
        try:
            first_scanned.wait(10)
            with live.app_context():
                results["second"] = scan(TODAY)
                results["second_done_at"] = time.monotonic()
                db.session.commit()
        except Exception as failed:  # pragma: no cover - reported below
            errors.append(failed)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert results["first"] == expected and results["second"] == 0
    assert results["second_done_at"] >= results["first_committed_at"]  # it really waited on the first
    with live.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) == expected
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                 .where(OutboxEntry.job == "reminders.deliver")) == expected


def test_two_scans_started_together_create_each_reminder_once(live_db):
    live = live_db
    with live.app_context():
        seeded = seed()
        expected = expected_count(seeded)
        db.session.commit()
    barrier, counts, errors = threading.Barrier(2), [], []

    def run():
        try:
            with live.app_context():
                barrier.wait(10)
                counts.append(scan(TODAY, batch_size=3))
                db.session.commit()
        except Exception as failed:  # pragma: no cover - reported below
            errors.append(failed)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sum(counts) == expected
    with live.app_context():
        keys = db.session.scalars(sa.select(Reminder.key)).all()
        assert len(keys) == len(set(keys)) == expected
        queued = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                   .where(OutboxEntry.job == "reminders.deliver"))
        assert queued == expected


def test_stages_are_each_day_once(app, db_session, monkeypatch):
    monkeypatch.setitem(app.config, "REMINDER_DAYS", ["7", " 7", "-1"])
    assert reminder_days() == [7, -1]
    assert set(STAGES) == {90, 30, 7, 0, -7, -30}
