"""The state-machine base (DESIGN §3): every status column changes only through a table of legal moves.

Each domain's `transitions.py` builds one `StateMachine` per status column from a dict {state: states it may move
to}. `move` checks, assigns and flushes; an illegal move raises the machine's own `Conflict` subclass, whose Chinese
message names both states by their labels, and changes nothing. `move_all` is the bulk form (one UPDATE) for sweeps:
only rows whose state may legally move are touched, the others are left alone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from wxbackend.core.db import db
from wxbackend.core.errors import Conflict

S = TypeVar("S", bound=enum.StrEnum)


class IllegalTransition(Conflict):
    """A status change the table does not allow; nothing was changed."""

    code = "illegal_transition"


class StateMachine(Generic[S]):
    """The legal moves of one status column (always named `status`). `noun` names the thing in messages
    (受理单, 发票…); `labels` gives the Chinese label of each state (a state without one is shown as its value);
    `error` is the Conflict subclass raised on an illegal move."""

    def __init__(self, moves: Mapping[S, Iterable[S]], *, noun: str, labels: Mapping[S, str] | None = None,
                 error: type[Conflict] = IllegalTransition):
        self.moves: dict[S, frozenset[S]] = {state: frozenset(targets) for state, targets in moves.items()}
        unknown = set().union(*self.moves.values()) - set(self.moves)
        if unknown:
            raise ValueError(f"moves to states with no row of their own: {sorted(unknown)}")
        self.noun = noun
        self.labels = dict(labels or {})
        self.error = error

    def label(self, state: object) -> str:
        return self.labels.get(state, str(state))

    def targets(self, state: object) -> frozenset[S]:
        """Where `state` may go (nothing for a state the table does not know)."""
        return self.moves.get(state, frozenset())

    def sources(self, to: S) -> list[S]:
        """The states that may move to `to`."""
        return [state for state, targets in self.moves.items() if to in targets]

    def can_move(self, obj: Any, to: S) -> bool:
        return to in self.targets(obj.status)

    def message(self, current: object, to: S) -> str:
        return f"{self.noun}当前为“{self.label(current)}”，不能变为“{self.label(to)}”"

    def refusal(self, obj: Any, to: S) -> Conflict:
        """The error raised when `obj` may not move to `to`."""
        return self.error(self.message(obj.status, to))

    def check(self, obj: Any, to: S) -> None:
        """Raise the refusal unless `obj` may move to `to`; changes nothing either way."""
        if not self.can_move(obj, to):
            raise self.refusal(obj, to)

    def move(self, obj: Any, to: S) -> str:
        """Move `obj` to `to` and flush; returns the state it left. The refusal (nothing changed) when the table
        has no such move."""
        self.check(obj, to)
        previous = obj.status
        obj.status = to
        db.session.flush()
        return previous

    def move_all(self, model: type, to: S, *where: Any) -> int:
        """One UPDATE moving every row of `model` that matches `where` and whose state may move to `to`; rows in
        any other state are left as they are. Returns how many rows moved."""
        sources = self.sources(to)
        if not sources:
            return 0
        result = db.session.execute(sa.update(model).where(model.status.in_(sources), *where).values(status=to))
        return result.rowcount
