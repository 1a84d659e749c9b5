"""A user's one default among their rows (the default address, the default invoice profile).

The model has `user_id`, `is_default` and a partial unique index allowing one default per user; these functions
keep it so and turn a lost race into a Conflict with the caller's message.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wxbackend.core.db import db
from wxbackend.core.errors import Conflict


def make_default(row, race_message: str) -> None:
    """`row` becomes its user's only default."""
    model = type(row)
    db.session.execute(sa.update(model).where(model.user_id == row.user_id, model.id != row.id,
                                              model.is_default.is_(True))
                       .values(is_default=False).execution_options(synchronize_session="fetch"))
    row.is_default = True
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict(race_message) from None


def delete_keeping_a_default(row, race_message: str) -> None:
    """Delete `row`; when it was the default, the user's newest remaining row becomes the default."""
    model, user_id, was_default = type(row), row.user_id, row.is_default
    db.session.delete(row)
    db.session.flush()
    if was_default:
        newest = db.session.scalar(sa.select(model).where(model.user_id == user_id).order_by(model.id.desc()).limit(1))
        if newest is not None:
            make_default(newest, race_message)
