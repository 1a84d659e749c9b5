"""The unit of work (STYLE 3): services flush, the edge (request, job, CLI command) commits once.

- `after_commit(callback)` runs `callback` once the session's outermost transaction commits, and forgets it when
  that transaction ends otherwise. A job that reads rows the unit of work writes must not be enqueued before they
  are visible (the worker could run first), nor at all when the unit of work rolls back; `core.jobs` enqueues
  through this. A callback that fails is logged, never raised: the commit already happened.
- `rollback()` is how an edge answers a refusal (a `DomainError`): everything the refused request flushed is
  undone, whatever channel caught it. What must outlive the refusal (its audit row) was registered with
  `keep_after_rollback` and is added again to the fresh transaction, which the edge then commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wxbackend.core.db import db

log = logging.getLogger(__name__)
AFTER_COMMIT = "wxbackend.after_commit"
KEEP = "wxbackend.keep_after_rollback"


def after_commit(callback: Callable[[], object]) -> None:
    db.session().info.setdefault(AFTER_COMMIT, []).append(callback)


def keep_after_rollback(callback: Callable[[], object]) -> None:
    """`callback` re-adds, after `rollback()`, what must survive a refusal (it is dropped once the work commits)."""
    db.session().info.setdefault(KEEP, []).append(callback)


def rollback() -> None:
    """Undo the unit of work after a refusal, keeping what was registered with `keep_after_rollback`."""
    session = db.session()
    kept = session.info.pop(KEEP, [])
    session.rollback()
    for callback in kept:
        callback()


@sa.event.listens_for(Session, "after_commit")
def _run_callbacks(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the work is not committed yet
        return
    session.info.pop(KEEP, None)
    for callback in session.info.pop(AFTER_COMMIT, []):
        try:
            callback()
        except Exception:
            log.exception("after-commit work failed (%r); the commit stands", callback)


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_callbacks(session: Session, transaction) -> None:
    if transaction.parent is None and not transaction.nested:  # outermost, ended without a commit
        session.info.pop(AFTER_COMMIT, None)
