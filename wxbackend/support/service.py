"""人工客服 services: storing what followers write (from the WeChat jobs), the staff queue, replying through
WeChat's customer-service message API (客服消息) within its 48-hour window, closing.

Replies are sent inside the staff member's request, with the WeChat adapter's timeout: the person replying sees at
once whether WeChat took it, and a refused reply is never recorded as sent (the attempt is kept with WeChat's
errcode). A time-out is ambiguous (WeChat may have delivered it); it is shown as not sent. The conversation's row
is locked during the call, so two staff replying at once send one after the other, never both blind.

`/wechat` must answer fast and touch no database, so it learns whether a follower has a live conversation from a
Redis mark (`live_conversation`), set when a conversation takes a message and dropped when it closes. The jobs
re-check the database; a lost mark only means that the follower's next message reaches staff when it asks for a
person again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wxbackend.audit.service import record_audit
from wxbackend.certificates.models import Certificate
from wxbackend.certificates.service import user_certificates
from wxbackend.core import keyset
from wxbackend.core.db import db
from wxbackend.core.errors import Conflict, DomainError, NotFound
from wxbackend.core.redis import get_redis
from wxbackend.core.times import utcnow
from wxbackend.core.uow import after_commit, keep_after_rollback
from wxbackend.core.validation import InvalidFields, clean
from wxbackend.integrations.wechat import NOT_SUBSCRIBED, WeChatError, official_account, wechat_call
from wxbackend.orders.models import Order
from wxbackend.orders.service import user_orders
from wxbackend.staff.models import StaffMember
from wxbackend.support import transitions
from wxbackend.support.models import (
    LIVE_STATUSES,
    ConversationStatus,
    SupportConversation,
    SupportMessage,
    SupportReply,
)
from wxbackend.users.models import User
from wxbackend.users.service import get_user, user_for_wechat

REPLY_WINDOW = timedelta(hours=48)  # WeChat: customer-service messages only within 48 h of the user's last message
MAX_REPLY_BYTES = 2048  # WeChat's limit for a text customer-service message
MAX_MESSAGE_CHARS = 2000
MAX_NOTE_CHARS = 200
LIVE_MARK_SECONDS = 30 * 86400
OUT_OF_WINDOW, TOO_MANY_REPLIES, INVALID_OPENID = 45015, 45047, 40003
RECENT_ORDERS = 10
REFUSALS = {
    OUT_OF_WINDOW: "用户超过 48 小时未与公众号互动，微信拒绝发送客服消息（45015）；请等待用户再次留言后回复",
    TOO_MANY_REPLIES: "用户回复前已连续发送了过多客服消息，微信拒绝继续发送（45047）；请等待用户回复",
    NOT_SUBSCRIBED: "用户已取消关注公众号，微信拒绝发送客服消息（43004）",
    INVALID_OPENID: "用户的微信标识无效，微信拒绝发送客服消息（40003）",
}


class OutsideReplyWindow(DomainError):
    code = "outside_reply_window"
    message = "距用户最后一条消息已超过 48 小时，微信不允许再发送客服消息；请等待用户再次留言后回复"


class ReplyRefused(DomainError):
    code, status = "reply_refused", 502


# ---------------------------------------------------------------------------------------- from WeChat


def message_key(openid: str, create_time: int | str | None, content: str, msg_id: int | str | None = None) -> str:
    """What makes a follower's message unique: WeChat's MsgId, or (without one) a hash of openid, CreateTime and
    content. WeChat's retries and a job run twice carry the same key."""
    if msg_id:
        return f"msg:{msg_id}"
    digest = hashlib.sha256(f"{openid}|{create_time or ''}|{content}".encode()).hexdigest()
    return f"sha256:{digest}"


def received_time(create_time: int | str | None) -> datetime:
    """WeChat's CreateTime as a UTC moment; now when it is missing or in the future (a clock we do not trust)."""
    now = utcnow()
    try:
        at = datetime.fromtimestamp(int(create_time or 0), UTC)
    except (ValueError, OverflowError, OSError):
        return now
    return at if datetime.fromtimestamp(0, UTC) < at <= now else now


def live_key(openid: str) -> str:
    """The Redis mark of a follower's live conversation (/wechat reads it in its one round trip)."""
    return f"support:live:{openid}"


def live_conversation(openid: str) -> bool:
    """Whether the follower has a live conversation, as far as the Redis mark knows (no database: /wechat asks)."""
    return bool(get_redis().exists(live_key(openid)))


def _mark_live(openid: str) -> None:
    after_commit(lambda: get_redis().set(live_key(openid), "1", ex=LIVE_MARK_SECONDS))


def _unmark_live(openid: str) -> None:
    after_commit(lambda: get_redis().delete(live_key(openid)))


def _live_for(user_id: int) -> SupportConversation | None:
    return db.session.scalar(
        sa.select(SupportConversation)
        .where(SupportConversation.user_id == user_id, SupportConversation.status.in_(LIVE_STATUSES))
        .with_for_update().execution_options(populate_existing=True))


def _key_stored(key: str) -> bool:
    return db.session.scalar(sa.select(SupportMessage.id).where(SupportMessage.key == key)) is not None


def _store(user: User, openid: str, conversation: SupportConversation | None, key: str, content: str,
           at: datetime) -> tuple[SupportConversation, SupportMessage]:
    """The message added to `conversation`, or to a new open one when None, in one savepoint: a conversation is
    never opened without its message. IntegrityError when another job opened one or stored the message first."""
    with db.session.begin_nested():
        if conversation is None:
            conversation = SupportConversation(user_id=user.id, openid=openid, status=ConversationStatus.OPEN,
                                               status_since=at, opened_at=utcnow(), last_message_at=at)
            db.session.add(conversation)
            db.session.flush()
        message = SupportMessage(conversation_id=conversation.id, key=key, content=content, received_at=at)
        db.session.add(message)
    return conversation, message


@dataclass(frozen=True)
class Received:
    conversation_id: int
    message_id: int
    opened: bool  # this message opened the conversation


def receive_message(openid: str, content: str, key: str, received_at: datetime, *,
                    asks_for_staff: bool) -> Received | None:
    """Store a follower's text in their live conversation: one asking for a person (`asks_for_staff`) opens a
    conversation when there is none; an answered conversation is open again. None when nothing was stored: the
    message was stored before (same `key`), or it does not ask for a person and no conversation is live. Safe to
    run twice or at the same time (the conversation row is locked; `key` and one live conversation per user are
    unique in the database)."""
    content = (content or "").strip()[:MAX_MESSAGE_CHARS]
    if not content:
        return None
    if _key_stored(key):
        return None
    user = user_for_wechat(openid=openid)
    conversation = _live_for(user.id)
    if conversation is None and not asks_for_staff:
        return None
    opened = conversation is None
    try:
        conversation, message = _store(user, openid, conversation, key, content, received_at)
    except IntegrityError:  # a copy of this job, or another message of the same follower, got there first
        if _key_stored(key):
            return None
        conversation = _live_for(user.id)
        if conversation is None:
            raise
        opened = False
        conversation, message = _store(user, openid, conversation, key, content, received_at)
    if conversation.status == ConversationStatus.ANSWERED:
        transitions.move(conversation, ConversationStatus.OPEN, received_at)
    if received_at > conversation.last_message_at:
        conversation.last_message_at = received_at
    if conversation.openid != openid:
        conversation.openid = openid
    db.session.flush()
    _mark_live(openid)
    if asks_for_staff:
        record_audit(f"user:{user.id}", "wechat.handover", target=f"support:{conversation.id}",
                     detail={"conversation": conversation.id, "message": message.id, "opened": opened})
    return Received(conversation.id, message.id, opened)


# ---------------------------------------------------------------------------------------- the queue


def open_count() -> int:
    """How many conversations wait for a reply (the console home's tile)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(SupportConversation)
                             .where(SupportConversation.status == ConversationStatus.OPEN)) or 0


@dataclass(frozen=True)
class QueueRow:
    conversation: SupportConversation
    user_name: str  # masked
    latest: str  # the newest message, shortened
    message_count: int


def conversations(status: str, cursor: str | None = None, size: int = keyset.PAGE_SIZE) -> keyset.Page:
    """One page of conversations in `status`: open and answered ones oldest first (the longest waiting on top),
    closed ones newest first; keyset-paged on (status_since, id). Rows are `QueueRow`s."""
    try:
        wanted = ConversationStatus(status)
    except ValueError:
        wanted = ConversationStatus.OPEN
    query = sa.select(SupportConversation).where(SupportConversation.status == wanted)
    found = keyset.page(query, SupportConversation.status_since, SupportConversation.id, cursor,
                        lambda c: (c.status_since, c.id), descending=wanted == ConversationStatus.CLOSED, size=size)
    ids = [c.id for c in found.rows]
    counts = dict(db.session.execute(
        sa.select(SupportMessage.conversation_id, sa.func.count()).where(SupportMessage.conversation_id.in_(ids))
        .group_by(SupportMessage.conversation_id)).all()) if ids else {}
    latest = {}
    if ids:
        newest = (sa.select(SupportMessage.conversation_id, sa.func.max(SupportMessage.id).label("id"))
                  .where(SupportMessage.conversation_id.in_(ids)).group_by(SupportMessage.conversation_id).subquery())
        latest = dict(db.session.execute(sa.select(SupportMessage.conversation_id, SupportMessage.content)
                                         .join(newest, newest.c.id == SupportMessage.id)).all())
    users = {u.id: u for u in db.session.scalars(
        sa.select(User).where(User.id.in_({c.user_id for c in found.rows})))} if ids else {}
    rows = [QueueRow(c, users[c.user_id].masked_name if c.user_id in users else "**",
                     _shorten(latest.get(c.id, ""), 60), counts.get(c.id, 0)) for c in found.rows]
    return keyset.Page(rows, found.next_cursor)


def _shorten(text: str, limit: int) -> str:
    text = clean(text)
    return text if len(text) <= limit else text[:limit] + "…"


def conversation(conversation_id: int) -> SupportConversation:
    """One conversation; NotFound when there is none."""
    found = db.session.get(SupportConversation, conversation_id)
    if found is None:
        raise NotFound("没有找到该客服会话")
    return found


@dataclass(frozen=True)
class UserContext:
    """What staff see of the person writing: personal data masked."""

    name: str
    openid: str
    following: bool
    certificates: list[Certificate]
    orders: list[Order]
    order_count: int


def mask_openid(openid: str) -> str:
    return openid[:4] + "***" + openid[-4:] if len(openid) > 10 else "***"


def user_context(user_id: int) -> UserContext:
    """The user's bound certificates (organisation, expiry) and recent orders (status), read through their
    domains' services, for the conversation page."""
    user = get_user(user_id)
    if user is None:
        raise NotFound("没有找到该用户")
    orders = user_orders(user_id)
    return UserContext(user.masked_name, mask_openid(user.openid or user.mp_openid or ""), user.following,
                       user_certificates(user_id), orders[:RECENT_ORDERS], len(orders))


@dataclass(frozen=True)
class Entry:
    """One line of a conversation's thread: the follower's message or a staff reply."""

    at: datetime
    by_user: bool
    content: str
    staff_name: str = ""
    errcode: int | None = None
    sent: bool = True


def thread(found: SupportConversation) -> list[Entry]:
    """The conversation's messages and replies (sent or refused) in time order."""
    names = dict(db.session.execute(sa.select(StaffMember.id, StaffMember.display_name).where(
        StaffMember.id.in_({r.staff_id for r in found.replies}))).all()) if found.replies else {}
    entries = [Entry(m.received_at, True, m.content) for m in found.messages]
    entries += [Entry(r.sent_at or r.attempted_at, False, r.content, names.get(r.staff_id, ""), r.errcode,
                      r.sent_at is not None) for r in found.replies]
    return sorted(entries, key=lambda e: e.at)


def window_ends(found: SupportConversation) -> datetime:
    """Until when WeChat accepts a customer-service message to this follower (48 h after their last message)."""
    return found.last_message_at + REPLY_WINDOW


# ---------------------------------------------------------------------------------------- staff actions


def _lock(conversation_id: int) -> SupportConversation:
    found = db.session.scalar(sa.select(SupportConversation).where(SupportConversation.id == conversation_id)
                              .with_for_update().execution_options(populate_existing=True))
    if found is None:
        raise NotFound("没有找到该客服会话")
    return found


def _checked_reply(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidFields({"content": "请填写回复内容"})
    if len(text.encode()) > MAX_REPLY_BYTES:
        raise InvalidFields({"content": f"回复内容过长：微信客服消息最多 {MAX_REPLY_BYTES} 字节（约 680 个汉字）"})
    return text


def _refusal_message(failed: WeChatError) -> str:
    if failed.errcode is None:
        return "暂时无法连接微信，回复未发送，请稍后重试"
    return REFUSALS.get(failed.errcode, f"微信拒绝发送客服消息（错误码 {failed.errcode}），回复未发送")


def reply(staff_id: int, conversation_id: int, text: str | None, ip: str = "") -> SupportReply:
    """Send `text` to the follower as a WeChat customer-service message, record it and mark the conversation
    answered; audited. Refuses (nothing recorded as sent, the conversation unchanged): InvalidFields (empty, over
    2048 bytes), Conflict (closed), OutsideReplyWindow (48 h after the follower's last message; WeChat is not
    asked), ReplyRefused (WeChat refused, e.g. 45015, or could not be reached: the attempt is kept with its
    errcode). NotFound when there is no such conversation."""
    text = _checked_reply(text)
    found = _lock(conversation_id)
    target = f"support:{found.id}"
    if found.status == ConversationStatus.CLOSED:
        raise Conflict("该会话已关闭，不能再回复", code="conversation_closed")
    now = utcnow()
    if now > window_ends(found):
        record_audit(f"staff:{staff_id}", "support.reply", target=target, result="refused", ip=ip,
                     detail={"why": "outside_48h", "last_message_at": found.last_message_at.isoformat()})
        raise OutsideReplyWindow()
    try:
        with wechat_call():
            official_account().message.send_text(found.openid, text)
    except WeChatError as failed:
        errcode = failed.errcode if failed.errcode is not None else -1
        values = {"conversation_id": found.id, "staff_id": staff_id, "content": text, "attempted_at": now,
                  "errcode": errcode}
        keep_after_rollback(lambda: db.session.add(SupportReply(**values)))
        record_audit(f"staff:{staff_id}", "support.reply", target=target, result="refused", ip=ip,
                     detail={"why": "wechat", "errcode": errcode, "errmsg": failed.errmsg[:100]})
        raise ReplyRefused(_refusal_message(failed)) from failed
    sent = SupportReply(conversation_id=found.id, staff_id=staff_id, content=text, attempted_at=now, sent_at=now)
    db.session.add(sent)
    before = found.status
    if found.status == ConversationStatus.OPEN:
        transitions.move(found, ConversationStatus.ANSWERED, now)
    found.answered_at = now
    db.session.flush()
    record_audit(f"staff:{staff_id}", "support.reply", target=target, ip=ip,
                 detail={"before": {"status": before}, "after": {"status": found.status, "reply": sent.id,
                                                                 "chars": len(text)}})
    return sent


def close(staff_id: int, conversation_id: int, note: str | None = None, ip: str = "") -> SupportConversation:
    """Close a live conversation with an optional note (at most 200 characters); audited. Conflict when it is
    closed already, NotFound when there is none. The follower asking again opens a new one."""
    note = clean(note)
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidFields({"note": f"备注最多{MAX_NOTE_CHARS}个字"})
    found = _lock(conversation_id)
    now = utcnow()
    before = transitions.move(found, ConversationStatus.CLOSED, now)
    found.closed_at, found.closed_by, found.close_note = now, staff_id, note
    db.session.flush()
    _unmark_live(found.openid)
    record_audit(f"staff:{staff_id}", "support.close", target=f"support:{found.id}", ip=ip,
                 detail={"before": {"status": before}, "after": {"status": found.status, "note": bool(note)}})
    return found
