"""人工客服 (DESIGN §15): a follower's conversation with staff. It opens when the follower asks for a person
("人工"), gathers what they write while it is live (open or answered), and keeps staff's replies, sent as WeChat
customer-service messages (客服消息), and the attempts WeChat refused.

At most one live conversation per user (a partial unique index); each message from WeChat is stored once (its
`key`: the MsgId, or a hash of openid, CreateTime and content), however often WeChat or the job delivers it."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxbackend.core.db import UTCDateTime, db
from wxbackend.core.times import utcnow


class ConversationStatus(enum.StrEnum):
    OPEN = "open"  # the follower waits for us
    ANSWERED = "answered"  # we replied; the follower may write again (back to open)
    CLOSED = "closed"


STATUS_LABELS = {ConversationStatus.OPEN: "待回复", ConversationStatus.ANSWERED: "已回复",
                 ConversationStatus.CLOSED: "已关闭"}
LIVE_STATUSES = (ConversationStatus.OPEN, ConversationStatus.ANSWERED)


class SupportConversation(db.Model):
    """One follower's request for a person. `status_since` is when it entered its status (for an open one: the
    oldest message not answered yet), the queue's order; `last_message_at` starts WeChat's 48-hour window."""

    __tablename__ = "support_conversations"
    __table_args__ = (
        sa.Index("uq_support_conversations_live_per_user", "user_id", unique=True,
                 postgresql_where=sa.text("status IN ('open', 'answered')"),
                 sqlite_where=sa.text("status IN ('open', 'answered')")),
        sa.Index("ix_support_conversations_queue", "status", "status_since", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    openid: Mapped[str] = mapped_column(sa.String(64))  # the official account's: where replies go
    status: Mapped[str] = mapped_column(sa.String(16))
    status_since: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_members.id"))
    close_note: Mapped[str] = mapped_column(sa.String(200), default="")

    messages: Mapped[list[SupportMessage]] = relationship(back_populates="conversation",
                                                          order_by="SupportMessage.received_at, SupportMessage.id")
    replies: Mapped[list[SupportReply]] = relationship(back_populates="conversation", order_by="SupportReply.id")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[ConversationStatus(self.status)]


class SupportMessage(db.Model):
    """A text the follower wrote, as WeChat delivered it (`received_at`: its CreateTime)."""

    __tablename__ = "support_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(sa.ForeignKey("support_conversations.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(80), unique=True)  # "msg:<MsgId>" or "sha256:<openid|time|text>"
    content: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversation: Mapped[SupportConversation] = relationship(back_populates="messages")


class SupportReply(db.Model):
    """A reply a staff member sent (`sent_at`), or tried to send and WeChat refused (`errcode`, no `sent_at`)."""

    __tablename__ = "support_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(sa.ForeignKey("support_conversations.id"), index=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_members.id"))
    content: Mapped[str] = mapped_column(sa.Text)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    errcode: Mapped[int | None] = mapped_column(sa.Integer)  # WeChat's refusal; -1 when WeChat could not be reached

    conversation: Mapped[SupportConversation] = relationship(back_populates="replies")
