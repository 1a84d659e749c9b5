"""Expiry reminders (issue 15 item 1; DESIGN §3 eligibility, §16 outbox).

`scan` (the daily cron job) finds the certificates and 应用 whose end falls on each stage's day — REMINDER_DAYS,
days before the end (0: the day itself, negative: after it), in Asia/Shanghai — and records one `Reminder` per
(object, end date, stage). The unique key makes a second scan, or two schedulers at once, create nothing twice:
the row is inserted `ON CONFLICT DO NOTHING`, and only the rows this scan inserted get their delivery work, one
outbox row per bound user (`reminders.deliver`), in the same transaction. Nothing is recorded for a certificate
that has a newer one in its lineage, one with an open order, or one nobody is bound to.

The scan is cheap per certificate and flat in memory: per stage one range of the (not_after, id) index, read in
keyset batches of plain columns (`WHERE not_after >= :day AND not_after < :next_day AND (not_after, id) > :last
ORDER BY not_after, id LIMIT :batch`), the exclusions as indexed NOT EXISTS probes.

`deliver` sends one reminder to one user, re-checking everything first: the binding is still active, the user has
not turned reminders off, the certificate was not renewed and has no open order meanwhile. The channel is the
first that works: a template message to a follower of the official account; for the mini-program, a subscribe
message when the user has an accept left for the kind (`take_subscribe_accept`: WeChat allows one message per
accept); an SMS to the mobile the user opted in with. A `ReminderDelivery` row records the outcome, so the job run
twice sends once. The message opens the renew page of that certificate or 应用 (`renewal_link`, the same link as
待办事项), which shows eligibility, price and new validity from the order domain's own quote.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from wxbackend.certificates.models import (
    IN_USE_STATUSES,
    Binding,
    BindingStatus,
    CertApp,
    CertAppStatus,
    Certificate,
)
from wxbackend.core.crypto import decrypt, encrypt, mask_mobile
from wxbackend.core.db import db
from wxbackend.core.errors import DomainError
from wxbackend.core.jobs import enqueue_after_commit
from wxbackend.core.times import SHANGHAI, local_day_start, utcnow
from wxbackend.core.validation import MOBILE
from wxbackend.integrations.sms import SmsRefused, sms_sender
from wxbackend.integrations.wechat import WeChatError
from wxbackend.notices.service import PERMANENT_REFUSALS, send_subscribe, send_template, template_ids
from wxbackend.orders.models import CLOSED_STATUSES, Order
from wxbackend.reminders.models import (
    DeliveryChannel,
    Reminder,
    ReminderDelivery,
    ReminderPreference,
    ReminderTarget,
    SubscribeAccept,
)
from wxbackend.users.models import User

log = logging.getLogger(__name__)

KIND = "expiry_reminder"  # the notice kind (notices.service.NOTICE_KINDS) and the subscribe-accept kind
MOBILE_PURPOSE = "reminder_mobile"
MAX_ACCEPTS = 50  # accepts kept per user and kind; WeChat's own counter is what finally decides


# ------------------------------------------------------------------------------------------------ the scan


def reminder_days() -> list[int]:
    """The stages, days before the end (negative: after it), from REMINDER_DAYS, each once, earliest first."""
    return sorted({int(str(day).strip()) for day in current_app.config["REMINDER_DAYS"] if str(day).strip()},
                  reverse=True)


def local_today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _renewed(certificate_id: sa.ColumnElement) -> sa.Exists:
    newer = aliased(Certificate)
    return sa.exists().where(newer.previous_id == certificate_id)


def _open_order(certificate_id: sa.ColumnElement) -> sa.Exists:
    return sa.exists().where(Order.certificate_id == certificate_id, Order.status.not_in(CLOSED_STATUSES))


def _bound(certificate_id: sa.ColumnElement) -> sa.Exists:
    return sa.exists().where(Binding.certificate_id == certificate_id, Binding.status == BindingStatus.ACTIVE)


def _still_current(certificate_id: sa.ColumnElement) -> list[sa.ColumnElement[bool]]:
    return [~_renewed(certificate_id), ~_open_order(certificate_id), _bound(certificate_id)]


@dataclass(frozen=True)
class _Source:
    target: ReminderTarget
    query: sa.Select  # object_id, certificate_id, cert_app_id, ends_at
    ends_at: sa.ColumnElement  # the indexed end column
    row_id: sa.ColumnElement


def _sources(start, end) -> list[_Source]:
    certificates = (
        sa.select(Certificate.id.label("object_id"), Certificate.id.label("certificate_id"),
                  sa.null().label("cert_app_id"), Certificate.not_after.label("ends_at"))
        .where(Certificate.not_after >= start, Certificate.not_after < end,
               Certificate.status.in_(IN_USE_STATUSES), *_still_current(Certificate.id)))
    apps = (
        sa.select(CertApp.id.label("object_id"), CertApp.certificate_id.label("certificate_id"),
                  CertApp.id.label("cert_app_id"), CertApp.expires_at.label("ends_at"))
        .join(Certificate, Certificate.id == CertApp.certificate_id)
        .where(CertApp.expires_at >= start, CertApp.expires_at < end, CertApp.status == CertAppStatus.ACTIVE,
               Certificate.status.in_(IN_USE_STATUSES), *_still_current(CertApp.certificate_id)))
    return [_Source(ReminderTarget.CERTIFICATE, certificates, Certificate.not_after, Certificate.id),
            _Source(ReminderTarget.APP, apps, CertApp.expires_at, CertApp.id)]


def _batches(source: _Source, batch_size: int) -> Iterator[list[sa.Row]]:
    """The source's rows in keyset batches on (end, id): each batch one index range, never OFFSET."""
    last = None
    while True:
        query = source.query
        if last is not None:
            query = query.where(sa.tuple_(source.ends_at, source.row_id)
                                > sa.tuple_(sa.literal(last[0], source.ends_at.type), sa.literal(last[1])))
        rows = db.session.execute(query.order_by(source.ends_at, source.row_id).limit(batch_size)).all()
        if rows:
            yield rows
        if len(rows) < batch_size:
            return
        last = (rows[-1].ends_at, rows[-1].object_id)


def _insert(values: list[dict]) -> list[sa.Row]:
    """Insert the reminders that are not there yet; the (id, certificate_id) of those this call inserted. A
    concurrent scan inserting the same key waits for the other's commit, then inserts nothing."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (insert(Reminder).values(values).on_conflict_do_nothing(index_elements=["key"])
                 .returning(Reminder.id, Reminder.certificate_id))
    return db.session.execute(statement).all()


def _queue_deliveries(inserted: list[sa.Row]) -> int:
    reminders_of = defaultdict(list)
    for reminder_id, certificate_id in inserted:
        reminders_of[certificate_id].append(reminder_id)
    bound = db.session.execute(
        sa.select(Binding.certificate_id, Binding.user_id)
        .where(Binding.certificate_id.in_(list(reminders_of)), Binding.status == BindingStatus.ACTIVE)
        .order_by(Binding.id)).all()
    queued = 0
    for certificate_id, user_id in bound:
        for reminder_id in reminders_of[certificate_id]:
            # the reminder row is this scan's own (just inserted): no other delivery of the pair can exist
            enqueue_after_commit("reminders.deliver", reminder_id, user_id)
            queued += 1
    return queued


def scan(today: date | None = None, batch_size: int = 1000) -> int:
    """Record today's reminders (`today` in Asia/Shanghai by default) and, in the same unit of work, the work of
    delivering each to every bound user. Returns how many reminder rows this call created (0 on a second run the
    same day). Flushes; the caller (the cron job) commits."""
    today = today or local_today()
    now = utcnow()
    created = 0
    for stage in reminder_days():
        ends_on = today + timedelta(days=stage)
        start, end = local_day_start(ends_on), local_day_start(ends_on + timedelta(days=1))
        for source in _sources(start, end):
            for rows in _batches(source, batch_size):
                inserted = _insert([{
                    "key": f"{source.target}:{row.object_id}:{ends_on.isoformat()}:{stage}",
                    "target": source.target, "certificate_id": row.certificate_id, "cert_app_id": row.cert_app_id,
                    "stage": stage, "ends_on": ends_on, "created_at": now} for row in rows])
                if inserted:
                    _queue_deliveries(inserted)
                created += len(inserted)
    if created:
        log.info("expiry reminders for %s: %d recorded", today.isoformat(), created)
    return created


# ------------------------------------------------------------------------------------------------ delivery


def renewal_link(reminder: Reminder) -> str:
    """The H5 page the reminder opens: the renew page of its certificate (or 应用), as 待办事项 links it."""
    path = f"/h5/certificates/{reminder.certificate_id}/renew"
    return path + (f"?app={reminder.cert_app_id}" if reminder.cert_app_id is not None else "")


def mini_program_page(reminder: Reminder) -> str:
    page = f"pages/renew/renew?certificate={reminder.certificate_id}"
    return page + (f"&app={reminder.cert_app_id}" if reminder.cert_app_id is not None else "")


def reminder_title(reminder: Reminder) -> str:
    thing = "应用" if reminder.target == ReminderTarget.APP else "证书"
    if reminder.stage > 0:
        return f"{thing}将于{reminder.stage}天后到期"
    if reminder.stage == 0:
        return f"{thing}今日到期"
    return f"{thing}已过期{-reminder.stage}天"


def reminder_data(reminder: Reminder) -> dict:
    """What the notice says: its title, the organisation (and 应用), the end date."""
    organisation = reminder.certificate.subject_o
    if reminder.cert_app is not None:
        organisation = f"{organisation}（{reminder.cert_app.name}）"
    return {"title": reminder_title(reminder), "organisation": organisation,
            "not_after": reminder.ends_on.strftime("%Y年%m月%d日")}


def why_not_now(reminder: Reminder, user_id: int) -> str:
    """Why the reminder should not reach this user any more ('' when it should)."""
    bound = db.session.scalar(sa.select(Binding.id).where(
        Binding.user_id == user_id, Binding.certificate_id == reminder.certificate_id,
        Binding.status == BindingStatus.ACTIVE))
    if bound is None:
        return "unbound"
    preference = db.session.get(ReminderPreference, user_id)
    if preference is not None and not preference.enabled:
        return "reminders_off"
    certificate = reminder.certificate
    if certificate.status not in IN_USE_STATUSES or db.session.scalar(sa.select(_renewed(certificate.id))):
        return "renewed"
    if db.session.scalar(sa.select(_open_order(certificate.id))):
        return "open_order"
    app = reminder.cert_app
    if app is not None and (app.status != CertAppStatus.ACTIVE
                            or app.expires_at.astimezone(SHANGHAI).date() != reminder.ends_on):
        return "app_renewed"
    return ""


def _wechat_refusal_is_final(refused: WeChatError, channel: str, reminder: Reminder, user_id: int) -> None:
    if refused.errcode not in PERMANENT_REFUSALS:
        raise refused
    log.warning("reminder %s to user %s: %s refused by WeChat (%s)", reminder.id, user_id, channel, refused.errcode)


def _send(reminder: Reminder, user: User) -> tuple[DeliveryChannel, str]:
    data = reminder_data(reminder)
    if current_app.config["NOTICES_ADAPTER"] == "log":
        log.info("reminder %s to user %s: %s", reminder.id, user.id, data["title"])
        return DeliveryChannel.LOG, ""
    note = "no_channel"
    known_unfollowed = user.following_changed_at is not None and not user.following
    if user.openid and not known_unfollowed:
        try:
            if send_template(user, KIND, data, renewal_link(reminder)):
                return DeliveryChannel.TEMPLATE, ""
        except WeChatError as refused:
            _wechat_refusal_is_final(refused, "template", reminder, user.id)
            note = f"template_refused_{refused.errcode}"
    if user.mp_openid and template_ids("WECHAT_MINI_NOTICE_TEMPLATES").get(KIND):
        if take_subscribe_accept(user.id, KIND):
            try:
                if send_subscribe(user, KIND, data, mini_program_page(reminder)):
                    return DeliveryChannel.SUBSCRIBE, ""
            except WeChatError as refused:
                _wechat_refusal_is_final(refused, "subscribe", reminder, user.id)
                note = f"subscribe_refused_{refused.errcode}"
        else:
            note = "no_subscribe_accept"
    preference = db.session.get(ReminderPreference, user.id)
    if preference is not None and preference.sms_opt_in and preference.mobile_enc:
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        try:
            sms_sender().send(mobile=decrypt(preference.mobile_enc, MOBILE_PURPOSE),
                              template=current_app.config["REMINDER_SMS_TEMPLATE"],
                              params={"title": data["title"], "organisation": data["organisation"],
                                      "not_after": data["not_after"], "link": base + renewal_link(reminder)},
                              idempotency_key=f"reminder-{reminder.id}-{user.id}")
            return DeliveryChannel.SMS, ""
        except SmsRefused:
            return DeliveryChannel.NONE, "sms_refused"
    return DeliveryChannel.NONE, note


def deliver(reminder_id: int, user_id: int) -> str:
    """Send reminder `reminder_id` to user `user_id` through the first channel that works, once: a second call finds
    the delivery row and sends nothing. Returns the channel (or 'none', 'already', 'missing'). Raises WeChatError or
    UpstreamError on a transient failure (the job retries; nothing is recorded)."""
    reminder = db.session.get(Reminder, reminder_id)
    user = db.session.get(User, user_id)
    if reminder is None or user is None:
        return "missing"
    done = db.session.scalar(sa.select(ReminderDelivery.channel).where(
        ReminderDelivery.reminder_id == reminder_id, ReminderDelivery.user_id == user_id))
    if done is not None:
        return "already"
    why = why_not_now(reminder, user_id)
    channel, note = (DeliveryChannel.NONE, why) if why else _send(reminder, user)
    db.session.add(ReminderDelivery(reminder_id=reminder_id, user_id=user_id, channel=channel, note=note[:100]))
    db.session.flush()
    return channel


# ------------------------------------------------------------------------------- the user's switch and accepts


@dataclass(frozen=True)
class Preferences:
    enabled: bool
    sms_opt_in: bool
    mobile_masked: str
    subscribe_accepts: int  # expiry-reminder subscribe messages the mini-program may still be sent


def remaining_accepts(user_id: int, kind: str = KIND) -> int:
    remaining = db.session.scalar(sa.select(SubscribeAccept.remaining).where(SubscribeAccept.user_id == user_id,
                                                                             SubscribeAccept.kind == kind))
    return remaining or 0


def preferences(user_id: int) -> Preferences:
    """The user's reminder settings (on, no SMS, when never changed)."""
    found = db.session.get(ReminderPreference, user_id)
    if found is None:
        return Preferences(True, False, "", remaining_accepts(user_id))
    return Preferences(found.enabled, found.sms_opt_in, found.mobile_masked, remaining_accepts(user_id))


def update_preferences(user_id: int, *, enabled: bool, sms_opt_in: bool | None = None,
                       mobile: str | None = None) -> Preferences:
    """Turn reminders on or off, and the SMS fallback (None: as it was); `mobile` (11 digits) replaces the stored
    one, empty or None keeps it. DomainError `invalid_mobile` for a malformed number, `mobile_required` to opt in
    without one."""
    mobile = (mobile or "").strip()
    if mobile and not MOBILE.fullmatch(mobile):
        raise DomainError("手机号码格式不正确，请输入11位手机号码", code="invalid_mobile")
    found = db.session.get(ReminderPreference, user_id)
    if found is None:
        found = ReminderPreference(user_id=user_id)
        db.session.add(found)
    if mobile:
        found.mobile_enc, found.mobile_masked = encrypt(mobile, MOBILE_PURPOSE), mask_mobile(mobile)
    if sms_opt_in is None:
        sms_opt_in = bool(found.sms_opt_in)
    if sms_opt_in and not found.mobile_enc:
        raise DomainError("开启短信提醒需填写手机号码", code="mobile_required")
    found.enabled, found.sms_opt_in, found.updated_at = enabled, sms_opt_in, utcnow()
    db.session.flush()
    return preferences(user_id)


def subscribe_templates() -> dict[str, str]:
    """The mini-program's subscribe templates to ask consent for (wx.requestSubscribeMessage), at binding and at
    payment: {template_id: kind}."""
    template = template_ids("WECHAT_MINI_NOTICE_TEMPLATES").get(KIND)
    return {template: KIND} if template else {}


def record_subscribe_results(user_id: int, results: dict) -> int:
    """What wx.requestSubscribeMessage answered ({template_id: "accept" | "reject" | "ban" | "filter"}): each
    accept of a reminder template is one more message the user may be sent. Unknown template ids are ignored.
    Returns the accepts now left."""
    accepted = sum(1 for template, answer in results.items()
                   if answer == "accept" and subscribe_templates().get(template) == KIND)
    if accepted:
        dialect = db.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now = utcnow()
        statement = insert(SubscribeAccept).values(user_id=user_id, kind=KIND, remaining=min(accepted, MAX_ACCEPTS),
                                                   updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["user_id", "kind"],
            set_={"remaining": sa.func.least(SubscribeAccept.remaining + accepted, MAX_ACCEPTS)
                  if dialect == "postgresql" else sa.func.min(SubscribeAccept.remaining + accepted, MAX_ACCEPTS),
                  "updated_at": now})
        db.session.execute(statement)
    return remaining_accepts(user_id)


def take_subscribe_accept(user_id: int, kind: str) -> bool:
    """Use one of the user's accepts of `kind` (atomically: two sends never spend one accept twice); False when none
    is left."""
    used = db.session.execute(sa.update(SubscribeAccept)
                              .where(SubscribeAccept.user_id == user_id, SubscribeAccept.kind == kind,
                                     SubscribeAccept.remaining > 0)
                              .values(remaining=SubscribeAccept.remaining - 1, updated_at=utcnow())
                              .execution_options(synchronize_session=False))
    return used.rowcount == 1
