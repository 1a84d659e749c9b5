"""rq jobs (STYLE 6): each declared where its domain keeps it (`<domain>/tasks.py`) with its queue, timeout and
retry; run inside an app context with one commit at the end; enqueued by name, and only once the unit of work
that asks for them has committed (`enqueue_after_commit`), so a request that rolls back enqueues nothing. A job
that fails rolls back like a refused request, keeping only what was registered to outlive it.

Durable work goes through the outbox (`core.outbox`, DESIGN §16): `enqueue_after_commit` records the job and its
arguments in the unit of work, and rq gets only the row's id (`run_outbox`); the run marks the row done in its own
commit, a failure sets when the next attempt is due, and `sweep_outbox` (cron, every minute) hands rq again what is
overdue, so a flushed Redis or a killed worker loses nothing. rq's scheduler (the worker runs it) carries out
the retries. Job descriptions name the job and the row, never the arguments.

Jobs take ids and re-check state, so running one twice is harmless."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from flask import Flask, current_app, has_app_context
from rq import Queue, Retry

from wxbackend.core import outbox, uow
from wxbackend.core.db import db
from wxbackend.core.redis import get_redis
from wxbackend.core.uow import after_commit

log = logging.getLogger(__name__)
FAILURE_TTL = 7 * 86400  # failed jobs stay inspectable for a week
_app_factory: Callable[[], Flask] | None = None
_worker_app: Flask | None = None


@dataclass(frozen=True)
class JobSpec:
    name: str  # "<domain>.<function>", how services name the job
    func: Callable[..., Any]
    queue: str
    timeout: int
    retry: tuple[int, ...]  # seconds before each retry; empty: no retry
    body: Callable[..., Any]  # the function as written: runs in the caller's app context and commits nothing


def job(queue: str, *, timeout: int = 60, retry: Sequence[int] = ()) -> Callable:
    """Declare a job: it runs inside an app context (the current one, or the worker's) and commits once."""

    def declare(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def run(*args, **kwargs):
            if has_app_context():
                return _run(func, args, kwargs)
            with worker_app().app_context():
                return _run(func, args, kwargs)

        domain = func.__module__.removeprefix("wxbackend.").removesuffix(".tasks")
        run.spec = JobSpec(f"{domain}.{func.__name__}", run, queue, timeout, tuple(retry), func)
        return run

    return declare


def _run(func, args, kwargs):
    try:
        result = func(*args, **kwargs)
        db.session.commit()
        return result
    except Exception:
        log.exception("job %s failed", func.__name__)
        _keep_what_outlives_the_failure()
        raise


def _keep_what_outlives_the_failure() -> None:
    """A failed job's work rolls back, as a refused request's does, but what was registered to outlive it
    (`uow.keep_after_rollback`: refusal audit rows, a failure noted on the row it was about) is committed."""
    try:
        uow.rollback()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("what a failed job kept could not be committed")


def collect(modules: Iterable[ModuleType]) -> dict[str, JobSpec]:
    """The jobs declared in `modules` (each domain's tasks module), by name: create_app keeps them on the app."""
    found = {}
    for module in modules:
        for value in vars(module).values():
            spec = getattr(value, "spec", None)
            if isinstance(spec, JobSpec) and value.__module__ == module.__name__:
                found[spec.name] = spec
    return found


def spec(name: str) -> JobSpec:
    jobs = current_app.extensions["jobs"]
    if name not in jobs:
        raise LookupError(f"no job named {name!r}")
    return jobs[name]


def get_queue(name: str = "default") -> Queue:
    """An rq queue on the app's Redis."""
    if name not in current_app.config["RQ_QUEUES"]:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())


def _retry(intervals: Sequence[int]) -> Retry | None:
    return Retry(max=len(intervals), interval=list(intervals)) if intervals else None


def enqueue_now(name: str, *args: Any) -> None:
    """Enqueue job `name` at once, outside the outbox: for edges whose work is already committed and found again
    from the database when lost (cron fan-out). Arguments are ids; the description names only the job."""
    declared = spec(name)
    get_queue(declared.queue).enqueue(declared.func, *args, job_timeout=declared.timeout, failure_ttl=FAILURE_TTL,
                                      retry=_retry(declared.retry), description=name)


def enqueue_after_commit(name: str, *args: Any, dedupe_key: str | None = None) -> None:
    """Record job `name(*args)` in the outbox in the current unit of work, and hand it to rq once that commits;
    never if it rolls back. `args` are JSON (ids, short strings); they stay in the database, encrypted, and rq
    carries only the row's id. With `dedupe_key`, an open row of that key is reused and a done one means done."""
    declared = spec(name)  # an unknown name fails here, in the service that asked
    entry = outbox.record(name, args, dedupe_key=dedupe_key)
    if entry is None:
        return
    app = current_app._get_current_object()
    entry_id, retry = entry.id, outbox.remaining_retries(entry, declared.retry)

    def enqueue() -> None:
        with app.app_context():
            send_to_rq(entry_id, name, retry)

    after_commit(enqueue)


def send_to_rq(entry_id: int, job_name: str | None = None, retry: Sequence[int] | None = None) -> None:
    """Hand outbox row `entry_id` to rq (its queue, timeout and the retries it has left). A failure is the
    sweep's to repair: the row stays due."""
    if job_name is None or retry is None:
        entry = db.session.get(outbox.OutboxEntry, entry_id)
        if entry is None:
            return
        declared = spec(entry.job)
        job_name, retry = entry.job, outbox.remaining_retries(entry, declared.retry)
    declared = spec(job_name)
    get_queue(declared.queue).enqueue(run_outbox, entry_id, job_timeout=declared.timeout, failure_ttl=FAILURE_TTL,
                                      retry=_retry(retry), description=f"{job_name} outbox:{entry_id}")


def run_outbox(entry_id: int) -> Any:
    """The rq job of every outbox row: run its job with its arguments and mark it done, in one commit. A row
    missing, done, or being run by another worker right now is left alone."""
    if has_app_context():
        return _run_outbox(entry_id)
    with worker_app().app_context():
        return _run_outbox(entry_id)


def _run_outbox(entry_id: int) -> Any:
    entry = outbox.claim(entry_id)
    if entry is None:
        db.session.rollback()
        return "nothing to do"
    declared = spec(entry.job)
    try:
        result = declared.body(*entry.args)
        outbox.mark_done(entry)
        db.session.commit()
        return result
    except Exception as failed:
        log.exception("job %s (outbox %s) failed", declared.name, entry_id)
        uow.keep_after_rollback(lambda error=failed: outbox.note_failure(entry_id, error, declared.retry))
        _keep_what_outlives_the_failure()
        raise


def sweep_outbox() -> int:
    """Cron, every minute: hand rq again each outbox row due for longer than a lease and not done (Redis lost it,
    its worker was killed, or its enqueue failed after the commit). Returns how many."""
    if has_app_context():
        return _sweep()
    with worker_app().app_context():
        return _sweep()


def _sweep() -> int:
    overdue = outbox.take_overdue()
    db.session.commit()
    for entry_id in overdue:
        try:
            send_to_rq(entry_id)
        except Exception:
            log.exception("outbox %s not handed to rq; the next sweep tries again", entry_id)
    if overdue:
        log.warning("outbox sweep handed %d overdue job(s) to rq again", len(overdue))
    db.session.rollback()
    return len(overdue)


def set_app_factory(factory: Callable[[], Flask]) -> None:
    """The worker's entry point names how to build the app its jobs run in."""
    global _app_factory
    _app_factory = factory


def worker_app() -> Flask:
    """The app a worker process runs its jobs in, built once per process."""
    global _worker_app
    if _worker_app is None:
        if _app_factory is None:
            raise RuntimeError("no app factory: start workers with `python -m jobs.worker`")
        _worker_app = _app_factory()
    return _worker_app
