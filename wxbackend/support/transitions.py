"""The 人工客服 conversation status machine: open → answered → closed, or open → closed; an answered conversation
is open again when the follower writes again. A closed one is final (asking again opens a new conversation)."""

from __future__ import annotations

from datetime import datetime

from wxbackend.core.states import IllegalTransition, StateMachine
from wxbackend.support.models import STATUS_LABELS, SupportConversation
from wxbackend.support.models import ConversationStatus as S


class IllegalConversationTransition(IllegalTransition):
    code = "illegal_conversation_transition"


CONVERSATION_STATES = StateMachine({
    S.OPEN: {S.ANSWERED, S.CLOSED},
    S.ANSWERED: {S.OPEN, S.CLOSED},
    S.CLOSED: set(),
}, noun="客服会话", labels=STATUS_LABELS, error=IllegalConversationTransition)


def move(conversation: SupportConversation, to: S, at: datetime) -> str:
    """Move `conversation` to `to` as of `at` (its new `status_since`) and flush; the refusal (nothing changed)
    when the table has no such move. Returns the status it left."""
    CONVERSATION_STATES.check(conversation, to)
    conversation.status_since = at
    return CONVERSATION_STATES.move(conversation, to)
