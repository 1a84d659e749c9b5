"""rq jobs (STYLE 6): each declared where its domain keeps it (`<domain>/tasks.py`) with its queue, timeout and
retry; run inside an app context with one commit at the end; enqueued by name, and only once the unit of work
that asks for them has committed (`enqueue_after_commit`), so a request that rolls back enqueues nothing. A job
that fails rolls back like a refused request, keeping only what was registered to outlive it.

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

from wxbackend.core import uow
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
        run.spec = JobSpec(f"{domain}.{func.__name__}", run, queue, timeout, tuple(retry))
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


def enqueue_now(name: str, *args: Any) -> None:
    """Enqueue job `name` at once: for edges whose work is already committed (cron fan-out, CLI requeue)."""
    declared = spec(name)
    retry = Retry(max=len(declared.retry), interval=list(declared.retry)) if declared.retry else None
    get_queue(declared.queue).enqueue(declared.func, *args, job_timeout=declared.timeout, failure_ttl=FAILURE_TTL,
                                      retry=retry)


def enqueue_after_commit(name: str, *args: Any) -> None:
    """Enqueue job `name` once the current unit of work commits; never if it rolls back."""
    spec(name)  # an unknown name fails here, in the service that asked
    app = current_app._get_current_object()

    def enqueue() -> None:
        with app.app_context():
            enqueue_now(name, *args)

    after_commit(enqueue)


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
