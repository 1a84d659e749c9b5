"""rq jobs. Every job runs inside an app context and commits once at its end; jobs take ids and re-check state,
so running one twice is harmless."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_app_context

log = logging.getLogger(__name__)
_worker_app: Flask | None = None


def worker_app() -> Flask:
    """The app a worker process runs its jobs in, built once per process from the environment."""
    global _worker_app
    if _worker_app is None:
        from wxbackend import create_app

        _worker_app = create_app()
    return _worker_app


def app_job(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run `func` inside an app context (the current one, or the worker's) and commit once at the end."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return _run(func, args, kwargs)
        with worker_app().app_context():
            return _run(func, args, kwargs)

    return wrapper


def _run(func, args, kwargs):
    from wxbackend.core.db import db

    try:
        result = func(*args, **kwargs)
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        log.exception("job %s failed", func.__name__)
        raise


def get_queue(name: str = "default"):
    """An rq queue on the app's Redis."""
    from rq import Queue

    from wxbackend.core.redis import get_redis

    if name not in current_app.config["RQ_QUEUES"]:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())
