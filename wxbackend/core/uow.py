"""Work that must wait for the commit: a job that reads rows the unit of work writes must not be enqueued before
they are visible (the worker could run first), nor at all when the unit of work rolls back.

`after_commit(callback)` runs `callback` once the session's outermost transaction commits and forgets it when that
transaction ends otherwise. A callback that fails is logged, never raised: the commit already happened (the
overdue check and `flask invoices requeue` pick up what was not enqueued).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wxbackend.core.db import db

log = logging.getLogger(__name__)
KEY = "wxbackend.after_commit"


def after_commit(callback: Callable[[], object]) -> None:
    db.session().info.setdefault(KEY, []).append(callback)


@sa.event.listens_for(Session, "after_commit")
def _run_callbacks(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the work is not committed yet
        return
    for callback in session.info.pop(KEY, []):
        try:
            callback()
        except Exception:
            log.exception("after-commit work failed (%r); the commit stands", callback)


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_callbacks(session: Session, transaction) -> None:
    if transaction.parent is None and not transaction.nested:  # outermost, ended without a commit
        session.info.pop(KEY, None)
