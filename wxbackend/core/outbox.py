"""The outbox (DESIGN §16): work a change must cause (issue this invoice, mail it, notify, match this line, store
this message) is a row written in the same transaction as the change, so it commits or rolls back with it. rq
only carries the row out: its job holds the row's id and nothing else (no personal data in Redis or in the
worker's log), and the job marks the row done in its own commit. A row that is due and not done after a lease —
Redis flushed, a worker killed, an enqueue that failed after the commit — is handed to rq again by the sweep
(`core.jobs.sweep_outbox`, every minute from the cron table).

A row has no status column: `done_at` set means done; `due_at` is when the next attempt is due (NULL once its
retries are spent: `revive_spent` makes such rows due again); `enqueued_at` is when it was last handed to rq.
Arguments are JSON, encrypted at rest (they may hold a follower's text)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from wxbackend.core import crypto
from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow

PURPOSE = "outbox_args"
SWEEP_BATCH = 500
ERROR_CHARS = 300


class OutboxEntry(db.Model):
    """One piece of durable work: job `job` with `args`, due at `due_at`, done at `done_at`."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "due_at", postgresql_where=sa.text("done_at IS NULL"),
                 sqlite_where=sa.text("done_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(80))
    args_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(sa.String(ERROR_CHARS), default="")

    @property
    def args(self) -> list[Any]:
        return json.loads(crypto.decrypt(self.args_enc, PURPOSE))


def record(job: str, args: tuple[Any, ...], *, dedupe_key: str | None = None) -> OutboxEntry | None:
    """Write the row for job `job(*args)` into the current unit of work (flushed, not committed), marked as
    handed to rq now (the caller enqueues it after the commit). With `dedupe_key`, a row already recorded under
    that key is reused: still open, it is made due again (and returned, to be enqueued); done, nothing is
    recorded (None). `args` must be JSON (ids, short strings)."""
    now = utcnow()
    if dedupe_key is not None:
        existing = db.session.scalar(sa.select(OutboxEntry).where(OutboxEntry.dedupe_key == dedupe_key)
                                     .with_for_update())
        if existing is not None:
            if existing.done_at is not None:
                return None
            existing.due_at, existing.enqueued_at = now, now
            db.session.flush()
            return existing
    entry = OutboxEntry(job=job, args_enc=crypto.encrypt(json.dumps(list(args), ensure_ascii=False), PURPOSE),
                        dedupe_key=dedupe_key, created_at=now, due_at=now, enqueued_at=now)
    db.session.add(entry)
    db.session.flush()
    return entry


def claim(entry_id: int) -> OutboxEntry | None:
    """The open row `entry_id`, locked for this unit of work (PostgreSQL: FOR UPDATE SKIP LOCKED, so a second run
    of the same row while the first is still at it does nothing). None: missing, done, or being run elsewhere."""
    entry = db.session.scalar(sa.select(OutboxEntry).where(OutboxEntry.id == entry_id)
                              .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    if entry is None or entry.done_at is not None:
        return None
    return entry


def mark_done(entry: OutboxEntry) -> None:
    """Done, in the job's own commit: a job that dies before committing leaves its row due."""
    entry.done_at = utcnow()
    entry.due_at = None
    entry.last_error = ""
    db.session.flush()


def note_failure(entry_id: int, error: BaseException, retry: tuple[int, ...]) -> None:
    """Count a failed attempt and set when the next is due (`retry`: the job's seconds before each retry), or
    NULL once they are spent. Runs in the transaction that outlives the job's rollback."""
    entry = db.session.get(OutboxEntry, entry_id)
    if entry is None or entry.done_at is not None:
        return
    entry.attempts += 1
    now = utcnow()
    entry.due_at = now + timedelta(seconds=retry[entry.attempts - 1]) if entry.attempts <= len(retry) else None
    entry.enqueued_at = now  # rq's own retry is scheduled for due_at; the sweep steps in only after a lease
    entry.last_error = f"{type(error).__name__}: {error}"[:ERROR_CHARS]
    db.session.flush()


def remaining_retries(entry: OutboxEntry, retry: tuple[int, ...]) -> tuple[int, ...]:
    """The retry intervals not yet spent by `entry`'s failed attempts."""
    return retry[entry.attempts:]


def lease() -> timedelta:
    """How long a row handed to rq may stay due and not done before the sweep hands it over again: longer than
    the longest job runs (OUTBOX_LEASE_SECONDS)."""
    return timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])


def take_overdue(now: datetime | None = None) -> list[int]:
    """Ids of rows due for longer than a lease, not done, and not handed to rq within a lease; each is marked
    handed over now, in this unit of work (PostgreSQL: rows locked by a running job or another sweep are skipped,
    so two sweeps never hand the same row over twice)."""
    now = now or utcnow()
    cutoff = now - lease()
    rows = db.session.scalars(
        sa.select(OutboxEntry).where(OutboxEntry.done_at.is_(None), OutboxEntry.due_at.is_not(None),
                                     OutboxEntry.due_at <= cutoff,
                                     sa.or_(OutboxEntry.enqueued_at.is_(None), OutboxEntry.enqueued_at <= cutoff))
        .order_by(OutboxEntry.due_at, OutboxEntry.id).limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)).all()
    for entry in rows:
        entry.enqueued_at = now
    db.session.flush()
    return [entry.id for entry in rows]


def revive_spent() -> list[int]:
    """Make every open row whose retries are spent due again now, its attempts counted from zero (staff, after an
    outage longer than the retries). Returns their ids, to be enqueued after the commit."""
    now = utcnow()
    rows = db.session.scalars(sa.select(OutboxEntry).where(OutboxEntry.done_at.is_(None),
                                                           OutboxEntry.due_at.is_(None))
                              .with_for_update(skip_locked=True)).all()
    for entry in rows:
        entry.due_at, entry.enqueued_at, entry.attempts = now, now, 0
    db.session.flush()
    return [entry.id for entry in rows]


def open_count() -> int:
    """Rows not done (due, waiting for a retry, or spent)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                             .where(OutboxEntry.done_at.is_(None))) or 0
